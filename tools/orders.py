"""The lab order the assistant writes: one ``ServiceRequest`` shape for every writer.

::

    resource = lab_order("pid", "4548-4", "HbA1c", "last HbA1c is over a year old")
    created = await source.create(resource, patient_id="pid")   # a RecordWriter

Status ``active``, intent ``order``, category laboratory (SNOMED 108252007 and the
observation-category code), the LOINC code, the patient as subject, ``authoredOn`` now
(UTC, seconds), the reason as a note, and :data:`ASSISTANT_TAG` in ``meta.tag`` so a
clinician (and the benchmark's grader) can tell an assistant-created order from others.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["ASSISTANT_TAG", "LOINC_SYSTEM", "is_assistant_order", "lab_order"]

LOINC_SYSTEM = "http://loinc.org"

#: ``meta.tag`` of every resource the assistant creates.
ASSISTANT_TAG: dict[str, str] = {
    "system": "urn:fhir-record-assistant:tag",
    "code": "assistant-generated",
    "display": "Created by the FHIR record assistant (review before acting)",
}


def lab_order(
    patient_id: str, code: str, display: str, reason: str, *, tag: dict[str, str] | None = None
) -> dict[str, Any]:
    """A ServiceRequest ordering the LOINC lab test ``code`` for ``patient_id`` (no id)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {
        "resourceType": "ServiceRequest",
        "meta": {"tag": [dict(tag or ASSISTANT_TAG)]},
        "status": "active",
        "intent": "order",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "108252007",
                        "display": "Laboratory procedure",
                    },
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    },
                ],
                "text": "laboratory",
            }
        ],
        "code": {
            "coding": [{"system": LOINC_SYSTEM, "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": now,
        "note": [{"text": f"Reason: {reason}"}],
    }


def is_assistant_order(resource: dict[str, Any]) -> bool:
    """Whether a resource carries the assistant's tag (any display)."""
    tags = (resource.get("meta") or {}).get("tag") or []
    return any(
        isinstance(t, dict)
        and t.get("system") == ASSISTANT_TAG["system"]
        and t.get("code") == ASSISTANT_TAG["code"]
        for t in tags
    )
