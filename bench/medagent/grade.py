"""Grading: answers against the ground truth; orders against the server's state.

``find_patient``, ``lab_window`` and ``window_value`` compare the answer with the truth
computed from the raw bundles. ``conditional_order`` never reads the answer:
:func:`order_state` lists the ServiceRequests with the task's LOINC code on the server
(every patient) before and after the answerer ran, and :func:`grade_order` judges what was
created in between. The v2 write kinds (``record_vital``, ``medication_order``,
``referral``) likewise: :func:`write_state` reads the matching resources (every patient)
before and after, and :func:`grade_write` judges the one new resource's fields against the
task (the answer text is never read).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from bench.medagent.answer import TaskAnswer
from bench.medagent.generate import ALL_KINDS, Task
from tools.fhir_version import patient_ids_of
from tools.source import RecordSource, Resource

__all__ = [
    "grade_answer",
    "grade_order",
    "grade_write",
    "markdown",
    "order_state",
    "summarize",
    "write_state",
]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
_TAG = ("urn:fhir-record-assistant:tag", "assistant-generated")
_GTS_TIMING = {"QD": (1, 1, "d"), "BID": (2, 1, "d"), "TID": (3, 1, "d"), "QID": (4, 1, "d"),
               "Q4H": (1, 4, "h"), "Q6H": (1, 6, "h"), "Q8H": (1, 8, "h"), "Q12H": (1, 12, "h"),
               "WK": (1, 1, "wk")}  # fmt: skip


async def order_state(source: RecordSource, code: str) -> dict[str, str]:
    """``ServiceRequest id -> subject patient id`` of every ServiceRequest with this LOINC
    code on the source, whoever it is for (read from the source, not from any answer)."""
    found = await source.search("ServiceRequest", {"code": f"http://loinc.org|{code}"})
    return {
        str(r.get("id")): ",".join(sorted(patient_ids_of(r))) or "?"
        for r in found
        if r.get("resourceType") == "ServiceRequest"
    }


def grade_order(
    task: Task, patient_id: str, before: Mapping[str, str], after: Mapping[str, str]
) -> dict[str, Any]:
    """Correct iff exactly one new order for ``patient_id`` when it should order, none when
    not, and no new order for anyone else (``patient_id`` is the server's id)."""
    new = {rid: pid for rid, pid in after.items() if rid not in before}
    mine = sorted(rid for rid, pid in new.items() if pid == patient_id)
    others = sorted(
        f"ServiceRequest/{rid} -> Patient/{pid}" for rid, pid in new.items() if pid != patient_id
    )
    should = bool(task.expected["should_order"])
    correct = (len(mine) == (1 if should else 0)) and not others
    reason = ""
    if others:
        reason = f"orders for other patients: {', '.join(others)}"
    elif should and not mine:
        reason = "condition holds but nothing was ordered"
    elif not should and mine:
        reason = "condition does not hold but an order was created"
    elif len(mine) > 1:
        reason = f"{len(mine)} orders created (expected one)"
    return {
        "correct": correct,
        "reason": reason,
        "created": [f"ServiceRequest/{r}" for r in mine],
        "created_for_others": others,
    }


# --------------------------------------------------------------------------- v2 writes


async def write_state(source: RecordSource, task: Task) -> dict[str, Resource]:
    """``id -> resource`` of every resource a v2 write task could have created, whoever
    it is for: Observations with the vital's LOINC code dated from two days ago on,
    MedicationRequests with the RxNorm code, ServiceRequests in the referral category."""
    p = task.params
    if task.kind == "record_vital":
        since = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat()
        rtype, params = "Observation", {"code": f"{LOINC}|{p['code']}", "date": f"ge{since}"}
    elif task.kind == "medication_order":
        rtype, params = "MedicationRequest", {"code": f"{RXNORM}|{p['rxnorm']}"}
    elif task.kind == "referral":
        rtype, params = "ServiceRequest", {"category": f"{SNOMED}|{p['category']}"}
    else:
        raise ValueError(f"kind {task.kind} is not a v2 write task")
    found = await source.search(rtype, params)
    return {str(r.get("id")): r for r in found if r.get("resourceType") == rtype}


def _codes(concept: Any, system: str) -> set[str]:
    if not isinstance(concept, dict):
        return set()
    return {
        str(c.get("code"))
        for c in concept.get("coding") or []
        if isinstance(c, dict) and c.get("system") == system
    }


def _quantity_ok(q: Any, value: Any, unit: str) -> list[str]:
    if not isinstance(q, dict):
        return ["no quantity"]
    wrong = []
    if not _same_number(q.get("value"), value):
        wrong.append(f"value {q.get('value')} (expected {value})")
    if q.get("system") != UCUM or q.get("code") != unit:
        wrong.append(f"unit {q.get('system')}|{q.get('code')} (expected UCUM {unit})")
    return wrong


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) < 16:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else None


def _vital_problems(r: Resource, exp: dict[str, Any], now: dt.datetime) -> list[str]:
    out = []
    if r.get("status") != "final":
        out.append(f"status {r.get('status')} (expected final)")
    if not any("vital-signs" in _codes(c, "http://terminology.hl7.org/CodeSystem/observation-category")
               for c in r.get("category") or []):  # fmt: skip
        out.append("category is not vital-signs")
    when = _instant(r.get("effectiveDateTime"))
    if when is None or abs((now - when).total_seconds()) > 3600:
        out.append(f"effective {r.get('effectiveDateTime')} is not now")
    if "systolic" in exp:
        comps = {
            code: c.get("valueQuantity")
            for c in r.get("component") or []
            if isinstance(c, dict)
            for code in _codes(c.get("code"), LOINC)
        }
        out += [
            f"systolic {w}" for w in _quantity_ok(comps.get("8480-6"), exp["systolic"], exp["unit"])
        ]
        out += [f"diastolic {w}" for w in _quantity_ok(comps.get("8462-4"), exp["diastolic"], exp["unit"])]  # fmt: skip
    else:
        out += _quantity_ok(r.get("valueQuantity"), exp["value"], exp["unit"])
    return out


def _medication_problems(r: Resource, exp: dict[str, Any]) -> list[str]:
    out = []
    if (r.get("status"), r.get("intent")) != ("active", "order"):
        out.append(f"status/intent {r.get('status')}/{r.get('intent')} (expected active/order)")
    dosage = (r.get("dosageInstruction") or [None])[0]
    if not isinstance(dosage, dict):
        return [*out, "no dosageInstruction"]
    rate = (dosage.get("doseAndRate") or [None])[0]
    dose = rate.get("doseQuantity") if isinstance(rate, dict) else None
    out += [f"dose {w}" for w in _quantity_ok(dose, exp["dose"], exp["dose_unit"])]
    routes = _codes(dosage.get("route"), SNOMED)
    if exp["route"] not in routes:
        out.append(f"route {sorted(routes)} (expected SNOMED {exp['route']})")
    want = (int(exp["frequency"]), float(exp["period"]), exp["period_unit"])
    timing: dict[str, Any] = dosage.get("timing") or {}
    rep: dict[str, Any] = timing.get("repeat") or {} if isinstance(timing, dict) else {}
    got: tuple[int, float, Any] | None = None
    if rep.get("frequency") is not None and rep.get("period") is not None:
        try:
            got = (int(rep["frequency"]), float(rep["period"]), rep.get("periodUnit"))
        except (TypeError, ValueError):
            got = None
    gts = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
    by_code = {
        (t[0], float(t[1]), t[2])
        for c in _codes(timing.get("code"), gts)
        if (t := _GTS_TIMING.get(c)) is not None
    }
    if got != want and not (got is None and want in by_code):
        out.append(f"timing {got or sorted(by_code)} (expected {want})")
    return out


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.casefold()) if len(w) >= 4}


def _referral_problems(r: Resource, exp: dict[str, Any]) -> list[str]:
    out = []
    if (r.get("status"), r.get("intent")) != ("active", "order"):
        out.append(f"status/intent {r.get('status')}/{r.get('intent')} (expected active/order)")
    concepts = [r.get("code"), r.get("performerType")]
    if not any(exp["specialty_code"] in _codes(c, SNOMED) for c in concepts):
        out.append(f"specialty is not SNOMED {exp['specialty_code']}")
    said = " ".join(
        [str(c.get("text", "")) for c in r.get("reasonCode") or [] if isinstance(c, dict)]
        + [str(n.get("text", "")) for n in r.get("note") or [] if isinstance(n, dict)]
    )
    missing = _words(exp["reason"]) - _words(said)
    if missing:
        out.append(f"reason lacks {', '.join(sorted(missing))}")
    return out


def grade_write(
    task: Task,
    patient_id: str,
    before: Mapping[str, Resource],
    after: Mapping[str, Resource],
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Correct iff exactly one new resource for ``patient_id`` (none for anyone else),
    tagged as the assistant's, whose fields match the task (see the kind's definition)."""
    now = now or dt.datetime.now(dt.UTC)
    new = {rid: r for rid, r in after.items() if rid not in before}
    rtype = next(iter(new.values()))["resourceType"] if new else "?"
    mine = sorted(rid for rid, r in new.items() if patient_ids_of(r) == {patient_id})
    others = sorted(
        f"{r['resourceType']}/{rid} -> {','.join(sorted(patient_ids_of(r))) or '?'}"
        for rid, r in new.items()
        if rid not in mine
    )
    out: dict[str, Any] = {
        "created": [f"{rtype}/{rid}" for rid in mine],
        "created_for_others": others,
    }
    if others:
        return {
            **out,
            "correct": False,
            "reason": f"written for other patients: {', '.join(others)}",
        }
    if len(mine) != 1:
        what = (
            "nothing was written" if not mine else f"{len(mine)} resources written (expected one)"
        )
        return {**out, "correct": False, "reason": what}
    r = after[mine[0]]
    problems: list[str] = []
    tags = (r.get("meta") or {}).get("tag") or []
    if not any(isinstance(t, dict) and (t.get("system"), t.get("code")) == _TAG for t in tags):
        problems.append("not tagged as written by the assistant")
    if task.kind == "record_vital":
        problems += _vital_problems(r, task.expected, now)
    elif task.kind == "medication_order":
        problems += _medication_problems(r, task.expected)
    elif task.kind == "referral":
        problems += _referral_problems(r, task.expected)
    return {**out, "correct": not problems, "reason": "; ".join(problems)}


# --------------------------------------------------------------------------- answers


def _same_number(a: Any, b: Any) -> bool:
    """Equal up to the rounding of a displayed value: 94.7 for a stored 94.70028542 (four
    significant digits, as the record tools show values) is right; 0.1 % or 0.005."""
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return False
    return math.isclose(x, y, rel_tol=1e-3, abs_tol=5e-3)


def _same_unit(got: str | None, want: str) -> bool:
    """The same unit as written, or one UCUM reads as the same (factor 1): a curly-brace
    annotation is dimensionless, so ``mL/min/{1.73_m2}`` is ``mL/min``."""
    got = (got or "").strip()
    if got == want.strip():
        return True
    from tools.units import conversion

    try:
        factor = conversion(got, want.strip())
    except Exception:  # a free-text unit that does not parse
        return False
    return factor is not None and abs(factor - 1.0) < 1e-9


def grade_answer(task: Task, answer: TaskAnswer, server_id: str | None) -> dict[str, Any]:
    """Grade a find_patient or lab_window answer (``server_id``: the task patient's id on
    the server, for find_patient)."""
    if answer.error:
        return {"correct": False, "reason": f"answerer error: {answer.error}"}
    exp = task.expected
    if task.kind == "find_patient":
        ok = server_id is not None and str(answer.value or "").removeprefix("Patient/") == server_id
        return {"correct": ok, "reason": "" if ok else f"expected Patient/{server_id}"}
    if task.kind == "lab_window":
        if exp.get("none"):
            ok = answer.none and answer.value is None
            return {"correct": ok, "reason": "" if ok else "expected none"}
        if answer.none:
            return {"correct": False, "reason": "answered none"}
        checks = {
            "value": _same_number(answer.value, exp["value"]),
            "unit": _same_unit(answer.unit, str(exp["unit"])),
            "date": answer.date == exp["date"],
        }
        wrong = [k for k, ok in checks.items() if not ok]
        return {
            "correct": not wrong,
            "reason": "" if not wrong else f"wrong {', '.join(wrong)} (expected {exp})",
        }
    if task.kind == "window_value":
        if exp.get("none"):
            ok = (answer.none and answer.value is None) or (
                task.params.get("op") == "count" and _same_number(answer.value, 0)
            )
            return {"correct": ok, "reason": "" if ok else "expected none"}
        if answer.none or answer.value is None:
            return {"correct": False, "reason": f"answered none (expected {exp['value']})"}
        ok = _same_number(answer.value, exp["value"])
        return {
            "correct": ok,
            "reason": "" if ok else f"value {answer.value} (expected {exp['value']})",
        }
    return {"correct": False, "reason": f"kind {task.kind} is graded on the server state"}


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Success rate per task kind and overall."""
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_kind[row["kind"]].append(bool(row["correct"]))
    per_kind = {
        k: {"n": len(v), "correct": sum(v), "success_rate": sum(v) / len(v)}
        for k in ALL_KINDS
        if (v := by_kind.get(k))
    }
    all_ok = [bool(r["correct"]) for r in rows]
    overall = {
        "n": len(all_ok),
        "correct": sum(all_ok),
        "success_rate": (sum(all_ok) / len(all_ok)) if all_ok else None,
    }
    return {"per_kind": per_kind, "overall": overall}


def markdown(report: Mapping[str, Any]) -> str:
    """The per-kind table of a report."""
    cfg = report["config"]
    lines = [
        f"### MedAgentBench-style tasks: {cfg['answerer']} on {cfg['data_label']} "
        f"({cfg['target']}, seed {cfg['seed']})",
        "",
        "| task kind | n | correct | success % |",
        "|---|---|---|---|",
    ]
    for kind, s in report["per_kind"].items():
        lines.append(f"| {kind} | {s['n']} | {s['correct']} | {100 * s['success_rate']:.1f} |")
    o = report["overall"]
    rate = "–" if o["success_rate"] is None else f"{100 * o['success_rate']:.1f}"
    lines.append(f"| **overall** | {o['n']} | {o['correct']} | {rate} |")
    failed = [r for r in report.get("results", []) if not r["correct"]]
    if failed:
        lines += ["", "Failures:", ""]
        lines += [f"- `{r['task_id']}` ({r['kind']}): {r['reason']}" for r in failed[:20]]
    lines += ["", f"Command: `{cfg['command']}`", ""]
    return "\n".join(lines)
