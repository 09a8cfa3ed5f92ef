"""What a MedAgentBench-style answerer returns, and the protocol every answerer implements."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from bench.medagent.generate import Task

__all__ = ["MedAgentAnswerer", "TaskAnswer"]


@dataclass
class TaskAnswer:
    """One task's answer.

    Attributes:
        text: the answer as a user would see it.
        value: find_patient: the patient's server id; lab_window: the number.
        unit / date: lab_window: the value's unit and day (``YYYY-MM-DD``).
        none: lab_window: the answerer found no result in the window.
        ordered: conditional_order: the references the answerer says it created (the
            grade does not trust them: it reads the server's state).
        error: set when the answerer failed (the task is then wrong).
        latency_s: wall time.
    """

    text: str = ""
    value: Any = None
    unit: str | None = None
    date: str | None = None
    none: bool = False
    ordered: list[str] | None = None
    error: str | None = None
    latency_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class MedAgentAnswerer(Protocol):
    """Carries out tasks against one record source (a test server or store).

    ``patient_id`` is the session's patient on that source (``None`` for find_patient,
    where finding the patient is the task). An agent answerer reads only ``task.text``
    (plus the session patient); the baseline also reads ``task.kind`` and ``task.params``.
    """

    name: str

    async def answer(self, task: Task, patient_id: str | None) -> TaskAnswer: ...
