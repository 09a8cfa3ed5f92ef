"""Section ``encounters``: encounters folded by class, type and reasons, with their
periods and discharge dispositions."""

from __future__ import annotations

from tools._record import RecordView, Resource, cc_text, reasons_of, resource_date

from ._common import Draft, group_key, period
from ._events import fold

__all__ = ["ENCOUNTER_CLASSES", "build", "encounter_class"]

#: HL7 v3 ActEncounterCode (the FHIR R4 Encounter.class value set) as a reader says it.
ENCOUNTER_CLASSES = {
    "AMB": "ambulatory",
    "EMER": "emergency",
    "IMP": "inpatient",
    "ACUTE": "inpatient acute",
    "NONAC": "inpatient non-acute",
    "OBSENC": "observation",
    "PRENC": "pre-admission",
    "SS": "short stay",
    "VR": "virtual",
    "HH": "home health",
    "FLD": "field",
}


def encounter_class(r: Resource) -> str:
    """The encounter's class code (``AMB``, ``IMP``, ``EMER`` …)."""
    cls = r.get("class")
    if isinstance(cls, dict):
        return str(cls.get("code") or cls.get("display") or "")
    return ""


def build(view: RecordView) -> list[Draft]:
    def dispositions(members: list[Resource]) -> list[str]:
        disp = [
            cc_text((m.get("hospitalization") or {}).get("dischargeDisposition")) for m in members
        ]
        kept = [d for d in dict.fromkeys(disp) if d]
        return ["discharge: " + ", ".join(kept)] if kept else []

    return fold(
        view, "encounters", "encounter", view.of_type("Encounter"),
        key_fn=lambda r: (encounter_class(r), *group_key(r.get("type")), ",".join(reasons_of(view, r))),
        name_fn=lambda r: cc_text(r.get("type"), "encounter"),
        code_field="type",
        start_fn=lambda r: period(r, "period", "start") or resource_date(r),
        end_fn=lambda r: period(r, "period", "end"),
        reasons_fn=lambda r: reasons_of(view, r),
        subtype_fn=encounter_class,
        details_fn=dispositions,
    )  # fmt: skip
