"""Consent first: an interview starts only for a patient with an active ``Consent`` whose
scope and category are the deployment's (``[intake]``), or once the patient says yes in
the interview's first step, which is then written as such a ``Consent``.

:func:`find_consent` is the only read made before consent: one ``Consent`` search of
the patient's compartment (scope, category and period checked in code, so every server
answers it the same way). :func:`write_consent` records the patient's own consent
through the source (no draft: it is the patient's act, not the assistant's), as a
conditional create keyed by the interview's thread, so a retried write creates one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from tools.config import IntakeConfig
from tools.drafts import WritableSource
from tools.source import RecordSource, Resource

__all__ = [
    "CONSENT_QUESTION",
    "INTAKE_TAG",
    "consent_matches",
    "consent_resource",
    "find_consent",
    "write_consent",
]

#: ``meta.tag`` system of what an interview writes directly (its Consent).
INTAKE_TAG = "urn:fhir-assistant:intake"
CONSENT_QUESTION = (
    "Before your visit, an AI assistant can ask you a few questions (at most 20) about your "
    "health and medicines, and prepare a summary for your clinician, who reviews it. Your "
    "answers are saved in your record. Do you agree? (yes / no)"
)


def _has(cc_list: Any, coding: dict[str, str]) -> bool:
    for cc in cc_list if isinstance(cc_list, list) else [cc_list]:
        for c in (cc or {}).get("coding") or []:
            if c.get("system") == coding["system"] and c.get("code") == coding["code"]:
                return True
    return False


def consent_matches(
    consent: Resource, patient_id: str, cfg: IntakeConfig, now: dt.datetime
) -> bool:
    """An active Consent of this patient with the configured scope and category, whose
    provision (if it has a period) covers ``now`` and does not deny."""
    if consent.get("resourceType") != "Consent" or consent.get("status") != "active":
        return False
    if (consent.get("patient") or {}).get("reference") != f"Patient/{patient_id}":
        return False
    if not _has(consent.get("scope"), cfg.consent_scope.coding()):
        return False
    if not _has(consent.get("category") or [], cfg.consent_category.coding()):
        return False
    provision = consent.get("provision") or {}
    if provision.get("type") == "deny":
        return False
    period = provision.get("period") or {}
    today = now.date().isoformat()
    if period.get("start") and str(period["start"])[:10] > today:
        return False
    return not (period.get("end") and str(period["end"])[:10] < today)


async def find_consent(
    source: RecordSource, patient_id: str, cfg: IntakeConfig, now: dt.datetime | None = None
) -> Resource | None:
    """The patient's consent to the interview, if the record holds one (newest first)."""
    now = now or dt.datetime.now(dt.UTC)
    found = await source.search("Consent", {"patient": patient_id, "status": "active"})
    ok = [c for c in found if consent_matches(c, patient_id, cfg, now)]
    ok.sort(key=lambda c: str(c.get("dateTime") or ""), reverse=True)
    return ok[0] if ok else None


def consent_resource(
    patient_id: str, cfg: IntakeConfig, when: str, *, thread_id: str, words: str
) -> Resource:
    """The Consent the patient gave in the interview (performer and source: the patient)."""
    return {
        "resourceType": "Consent",
        "meta": {"tag": [{"system": INTAKE_TAG, "code": f"{thread_id}.consent"}]},
        "status": "active",
        "scope": {"coding": [cfg.consent_scope.coding()]},
        "category": [{"coding": [cfg.consent_category.coding()]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": when,
        "performer": [{"reference": f"Patient/{patient_id}"}],
        "policyRule": {"coding": [cfg.policy_rule.coding()]},
        "provision": {
            "type": "permit",
            "period": {"start": when},
        },
        "extension": [
            {
                "url": "urn:fhir-assistant:intake:consent-words",
                "valueString": words[:500],
            }
        ],
    }


async def write_consent(source: RecordSource, consent: Resource, patient_id: str) -> str:
    """Write the Consent (one conditional create); its ``Consent/id``."""
    writer = cast(WritableSource, source)
    tag = consent["meta"]["tag"][0]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-00000000c0c0",
                "resource": consent,
                "request": {
                    "method": "POST",
                    "url": "Consent",
                    "ifNoneExist": f"_tag={tag['system']}|{tag['code']}",
                },
            }
        ],
    }
    response = await writer.transaction(bundle, patient_id=patient_id)
    entry = (response.get("entry") or [{}])[0]
    where = str((entry.get("response") or {}).get("location") or "")
    parts = where.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:])
