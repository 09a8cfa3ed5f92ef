"""Grading: answers against the ground truth; orders against the server's state.

``find_patient`` and ``lab_window`` compare the answer with the truth computed from the
raw bundles. ``conditional_order`` never reads the answer: :func:`order_state` lists the
ServiceRequests with the task's LOINC code on the server (every patient) before and after
the answerer ran, and :func:`grade_order` judges what was created in between.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from bench.medagent.answer import TaskAnswer
from bench.medagent.generate import KINDS, Task
from tools.fhir_version import patient_ids_of
from tools.source import RecordSource

__all__ = ["grade_answer", "grade_order", "markdown", "order_state", "summarize"]


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


def _same_number(a: Any, b: Any) -> bool:
    """Equal up to the rounding of a displayed value: 94.7 for a stored 94.70028542 (four
    significant digits, as the record tools show values) is right; 0.1 % or 0.005."""
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return False
    return math.isclose(x, y, rel_tol=1e-3, abs_tol=5e-3)


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
            "unit": (answer.unit or "").strip() == str(exp["unit"]).strip(),
            "date": answer.date == exp["date"],
        }
        wrong = [k for k, ok in checks.items() if not ok]
        return {
            "correct": not wrong,
            "reason": "" if not wrong else f"wrong {', '.join(wrong)} (expected {exp})",
        }
    return {"correct": False, "reason": f"kind {task.kind} is graded on the server state"}


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Success rate per task kind and overall."""
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_kind[row["kind"]].append(bool(row["correct"]))
    per_kind = {
        k: {"n": len(v), "correct": sum(v), "success_rate": sum(v) / len(v)}
        for k in KINDS
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
