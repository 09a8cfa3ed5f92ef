"""The agent as a MedAgentBench-style answerer (task text only; orders graded on state).

* ``find_patient``: :func:`agent.find_patient.find_patient` (the model extracts name and
  birth date, code checks them against the request and searches the source).
* ``lab_window``: ``agent.run.ask(task.text)``; the verified answer text is parsed for a
  value, unit and date (or "none" / "not in the record").
* ``conditional_order``: ``agent.run.ask(task.text)`` with writes allowed
  (``AgentSettings(allow_writes=True)``), so the model may call ``order_lab``; the grade
  reads the source's ServiceRequests, never this answer.
* ``record_vital``, ``medication_order``, ``referral`` (v2): the same, with the write
  tools ``record_vital``, ``order_medication`` and ``refer_patient``; graded on the
  source's Observations, MedicationRequests and ServiceRequests.
* ``window_value`` (v2): like ``lab_window``: the answer text is parsed for a number
  (:func:`parse_window_answer`; a count when the task asks "how many").

Writes are enabled here only because the runner's source is a fresh store or an empty
test server (``bench.medagent.run``); never point this at a production source.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Sequence

from agent.config import DeploymentConfig
from agent.context import AgentSettings
from agent.find_patient import find_patient
from agent.models import ChatModel
from agent.run import ask
from bench.ehrqa.score import parse_dates, parse_number, says_not_in_record
from bench.medagent.answer import TaskAnswer
from bench.medagent.generate import DEFAULT_REFERENCE_DATE, Task
from tools.source import RecordSource

__all__ = [
    "AgentTaskAnswerer",
    "from_config",
    "names_of",
    "parse_lab_answer",
    "parse_window_answer",
]

_NONE = re.compile(r"\b(none|no (?:such )?(?:result|value|measurement)s?)\b", re.I)
_LOINC = re.compile(r"\b\d{1,6}-\d\b")


def names_of(task: Task) -> list[str]:
    """The test's names, whose digits are no answer: its display, and the names the task
    text gives in parentheses ("eGFR (Glomerular filtration rate/1.73 sq M.predicted, LOINC
    33914-3)")."""
    return [str(task.params.get("display") or "")] + [
        part.strip() for group in re.findall(r"\(([^()]*)\)", task.text)
        for part in group.split(",")
    ]  # fmt: skip


def parse_lab_answer(text: str, names: Sequence[str] = ()) -> TaskAnswer:
    """Value, unit and day from a lab answer's text, or ``none``. ``names``: the test's
    names, whose digits are no value ("Glomerular filtration rate/1.73 sq M.predicted")."""
    if not text.strip() or says_not_in_record(text) or _NONE.search(text):
        return TaskAnswer(text=text, none=bool(text.strip()))
    values = text
    for name in names:
        if name.strip():
            values = re.sub(re.escape(name.strip()), " ", values, flags=re.I)
    got = parse_number(values, skip_codes=_LOINC.findall(text))
    days = parse_dates(text)
    if got is None:
        return TaskAnswer(text=text)
    return TaskAnswer(text=text, value=got[0], unit=got[1], date=days[-1] if days else None)


_SPAN = re.compile(
    r"\b\d+(?:\.\d+)?\s+(?:calendar\s+)?(?:years?|months?|weeks?|days?|results?|values?|"
    r"measurements?|readings?|tests?)\b",
    re.I,
)
_COUNT = re.compile(
    r"\b(\d+)\s+(?:[\w()./%-]+\s+){0,4}?(?:results?|measurements?|values?|tests?|readings?)\b",
    re.I,
)
_NO_COUNT = re.compile(r"\b(?:no|zero|none)\b", re.I)


def parse_window_answer(text: str, *, count: bool, names: Sequence[str] = ()) -> TaskAnswer:
    """A window_value answer's number: a count ("3 HbA1c results"; "no results" is 0), or
    a mean/min/max value once the window's own numbers ("past 2 years", "6 results", the
    dates, LOINC codes) are set aside."""
    if count:
        m = _COUNT.search(text)
        if m:
            return TaskAnswer(text=text, value=int(m.group(1)))
        if text.strip() and _NO_COUNT.search(text):
            return TaskAnswer(text=text, value=0, none=True)
        return TaskAnswer(text=text)
    return parse_lab_answer(_SPAN.sub(" ", text), names)


class AgentTaskAnswerer:
    """Runs each task through the agent with the deployment's model."""

    def __init__(
        self,
        source: RecordSource,
        model: ChatModel,
        *,
        name: str,
        ref_date: str = DEFAULT_REFERENCE_DATE,
        multimodal: bool = False,
        settings: AgentSettings | None = None,
    ) -> None:
        self.source = source
        self.model = model
        self.name = name
        self.as_of = dt.date.fromisoformat(ref_date)
        self.multimodal = multimodal
        self.settings = (settings or AgentSettings()).model_copy(update={"allow_writes": True})

    async def answer(self, task: Task, patient_id: str | None) -> TaskAnswer:
        started = time.perf_counter()
        if patient_id is None:  # find_patient: no session patient yet
            found = await find_patient(task.text, source=self.source, model=self.model)
            return TaskAnswer(
                text=found.problem or f"Patient/{found.patient_id}",
                value=found.patient_id,
                latency_s=time.perf_counter() - started,
            )
        answer = await ask(
            task.text,
            patient_id=patient_id,
            source=self.source,
            model=self.model,
            settings=self.settings,
            as_of=self.as_of,
            multimodal=self.multimodal,
        )
        names = names_of(task)
        if task.kind == "lab_window":
            out = parse_lab_answer(answer.text, names)
        elif task.kind == "window_value":
            count = "how many" in task.text.lower()
            out = parse_window_answer(answer.text, count=count, names=names)
        else:
            out = TaskAnswer()
        out.text = answer.text
        out.latency_s = time.perf_counter() - started
        return out

    async def aclose(self) -> None:
        await self.model.aclose()


def from_config(cfg: DeploymentConfig, name: str, source: RecordSource) -> AgentTaskAnswerer:
    """An answerer for a loaded deployment (``configs/*.toml``): its model, on ``source``."""
    from agent.models import accepts_images, build_chat_model

    return AgentTaskAnswerer(
        source,
        build_chat_model(cfg.model),
        name=name,
        multimodal=accepts_images(cfg.model),
        settings=cfg.agent,
    )
