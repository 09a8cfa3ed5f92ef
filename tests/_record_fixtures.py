"""Test helper: a patient's record straight from a raw Synthea bundle (no store).

``urn:uuid:`` references are rewritten to ``Type/id`` (Synthea ids equal the uuid of
their ``fullUrl``), and only the patient's own resources are returned, like
``RecordSource.everything``. Independent of the record store on purpose.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tools.fhir_version import patient_ids_of

SHARED = Path(__file__).resolve().parents[2] / "shared" / "synthea"


def bundle_files() -> list[Path]:
    """Every shared patient bundle (not the hospital/practitioner ones)."""
    if not SHARED.is_dir():
        return []
    return sorted(
        p for p in SHARED.glob("*/*.json") if not p.name.startswith(("hospital", "practitioner"))
    )


def find_bundle(name: str) -> Path:
    """The shared bundle whose file name starts with ``name`` (e.g. ``Fletcher_Hyatt``)."""
    for p in bundle_files():
        if p.name.startswith(name):
            return p
    raise FileNotFoundError(name)


def _rewrite(node: Any, urls: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "reference" and isinstance(v, str) and v in urls:
                out[k] = urls[v]
            else:
                out[k] = _rewrite(v, urls)
        return out
    if isinstance(node, list):
        return [_rewrite(x, urls) for x in node]
    return node


@cache
def _load(path: str) -> tuple[str, str]:
    bundle = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = bundle.get("entry") or []
    urls = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in entries
        if e.get("fullUrl") and e.get("resource", {}).get("id")
    }
    resources = [_rewrite(e["resource"], urls) for e in entries if e.get("resource")]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    pid = patient["id"]
    mine = [r for r in resources if pid in patient_ids_of(r)]
    return pid, json.dumps(mine)


def load_record(path: Path | str) -> tuple[str, list[dict[str, Any]]]:
    """(patient id, the patient's resources) of a Synthea bundle file (a fresh copy)."""
    pid, text = _load(str(path))
    return pid, json.loads(text)


class MemorySource:
    """A minimal in-memory RecordSource over one or more records (for CLI tests)."""

    label = "memory"

    def __init__(self, records: dict[str, list[dict[str, Any]]]) -> None:
        self._records = records

    async def everything(
        self, patient_id: str, *, since: str | None = None
    ) -> list[dict[str, Any]]:
        from tools.errors import PatientNotFound, UnsupportedSearch

        if since is not None:
            raise UnsupportedSearch("the in-memory test source cannot filter by update time")
        if patient_id not in self._records:
            raise PatientNotFound(patient_id, self.label)
        return json.loads(json.dumps(self._records[patient_id]))

    async def read(self, reference: str) -> dict[str, Any]:
        from tools.errors import ResourceNotFound

        for record in self._records.values():
            for r in record:
                if f"{r['resourceType']}/{r['id']}" == reference:
                    return r
        raise ResourceNotFound(reference, self.label)

    async def search(self, resource_type: str, params: Any = None) -> list[dict[str, Any]]:
        return [
            r for rec in self._records.values() for r in rec if r["resourceType"] == resource_type
        ]

    async def patients(self) -> list[Any]:
        return []

    async def aclose(self) -> None:
        return None


# --------------------------------------------------------------------------- tiny records

PID = "p1"


def patient(pid: str = PID, **extra: Any) -> dict[str, Any]:
    """A Patient resource."""
    return {
        "resourceType": "Patient",
        "id": pid,
        "gender": "female",
        "birthDate": "1950-06-15",
        **extra,
    }


def obs(
    oid: str,
    code: str,
    value: float | None,
    unit: str = "mg/dL",
    date: str | None = "2020-01-01T10:00:00+00:00",
    *,
    category: str = "laboratory",
    status: str = "final",
    display: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An Observation with a valueQuantity (or none when ``value`` is None)."""
    r: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": category,
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": code, "display": display or code}]
        },
        "subject": {"reference": f"Patient/{PID}"},
    }
    if date is not None:
        r["effectiveDateTime"] = date
    if value is not None:
        r["valueQuantity"] = {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        }
    r.update(extra)
    return r


def bp(
    oid: str, systolic: float, diastolic: float, date: str, *, with_panel_code: bool = True
) -> dict[str, Any]:
    """A blood-pressure Observation with systolic/diastolic components only."""

    def comp(code: str, v: float) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {
                "value": v,
                "unit": "mm[Hg]",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }

    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": "85354-9" if with_panel_code else "x-local"}
            ]
        },
        "subject": {"reference": f"Patient/{PID}"},
        "effectiveDateTime": date,
        "component": [comp("8480-6", systolic), comp("8462-4", diastolic)],
    }


def condition(
    cid: str,
    code: str,
    display: str,
    onset: str,
    status: str = "active",
    *,
    abatement: str | None = None,
    verification: str = "confirmed",
) -> dict[str, Any]:
    """A Condition."""
    r: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"code": status}]},
        "verificationStatus": {"coding": [{"code": verification}]},
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": f"Patient/{PID}"},
        "onsetDateTime": onset,
    }
    if abatement:
        r["abatementDateTime"] = abatement
    return r


def med(
    mid: str, code: str, display: str, authored: str, status: str = "active", **extra: Any
) -> dict[str, Any]:
    """A MedicationRequest."""
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": code,
                    "display": display,
                }
            ]
        },
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": authored,
        **extra,
    }


# ---------------------------------------------------------------- shared by the record-tool tests

AS_OF = dt.date(2026, 1, 1)  # a fixed "today" for ages, overdue items and time since tests
FIXTURES = Path(__file__).resolve().parents[1] / "fhir_fixtures" / "patients"
shared = pytest.mark.shared_data
needs_data = pytest.mark.skipif(not bundle_files(), reason="../shared/synthea is absent")
# Social-determinant and administrative Conditions that Synthea writes (listed here by
# hand, independently of tools.codes): not clinical problems.
SOCIAL = {
    "Full-time employment (finding)", "Part-time employment (finding)", "Not in labor force (finding)",
    "Received higher education (finding)", "Has a criminal record (finding)", "Refugee (person)",
    "Limited social contact (finding)", "Social isolation (finding)", "Stress (finding)",
    "Victim of intimate partner abuse (finding)", "Reports of violence in the environment (finding)",
    "Risk activity involvement (finding)", "Medication review due (situation)",
}  # fmt: skip
