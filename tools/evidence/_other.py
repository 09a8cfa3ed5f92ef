"""Section ``other``: clinical resources no other section covers (family history,
devices, …), one item each."""

from __future__ import annotations

from tools._record import RecordView, cc_text, reasons_of, resource_date

from ._common import Draft, coding_objs, day, sort_key_date, source
from ._medications import MED_TYPES
from ._model import EvidenceItem, Point

__all__ = ["build", "render"]

_DONE = {
    "AllergyIntolerance", "CarePlan", "CareTeam", "Condition", "DiagnosticReport", "DocumentReference",
    "Encounter", "Goal", "ImagingStudy", "Immunization", "Media", "Observation", "Procedure", "Medication",
    "Specimen", *MED_TYPES,
}  # fmt: skip


def build(view: RecordView) -> list[Draft]:
    drafts = []
    for r in view.kept:
        rtype = str(r.get("resourceType"))
        if rtype in _DONE:
            continue
        cc = r.get("code") or r.get("type") or r.get("relationship")
        what = cc_text(cc, rtype)
        # a referral's or an order's reasons ("Referral to nephrology", for CKD stage 3)
        conditions: tuple[str, ...] = tuple(reasons_of(view, r))
        if rtype == "FamilyMemberHistory":
            conds = [cc_text(c.get("code")) for c in r.get("condition") or []]
            conditions = tuple(c for c in conds if c)
            what = cc_text(r.get("relationship"), "relative")
        d = resource_date(r)
        status = r.get("status") if isinstance(r.get("status"), str) else None
        item = EvidenceItem(
            handle="",
            kind="family_history" if rtype == "FamilyMemberHistory" else "other",
            section="other",
            patient_id=view.patient_id,
            name=what,
            codings=coding_objs(cc),
            status=status,
            category=rtype,
            points=(Point(source=source(r, "code"), date=d, status=status),),
            reasons=conditions,
            reference=source(r, "code").reference,
            path="code",
            date=day(d),
        )
        text = render(item)
        drafts.append(Draft(item.model_copy(update={"text": text}), (-sort_key_date(d), text)))
    return drafts


def render(item: EvidenceItem) -> str:
    """``FamilyMemberHistory 2019-03-04: family history: mother: Diabetes (completed)``."""
    what = item.name
    if item.kind == "family_history":
        listed = ", ".join(item.reasons) or "no conditions listed"
        what = f"family history: {item.name}: {listed}"
    status = f" ({item.status})" if item.status else ""
    why = (
        f", for {'; '.join(item.reasons)}" if item.reasons and item.kind != "family_history" else ""
    )
    return f"{item.category} {day(item.date) or 'undated'}: {what}{status}{why}"
