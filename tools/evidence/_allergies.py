"""Section ``allergies``: allergies and intolerances folded by code, active first, then
high criticality first; one point per AllergyIntolerance (dated by ``recordedDate``)."""

from __future__ import annotations

from collections import defaultdict

from tools._record import RecordView, Resource, cc_text

from ._common import Draft, code_tag, coding_objs, day, group_key, source
from ._conditions import clinical_status
from ._model import EvidenceItem, Point

__all__ = ["build", "render"]

_CRITICALITY = {"high": 0, "unable-to-assess": 1, "low": 2}


def build(view: RecordView) -> list[Draft]:
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for r in view.of_type("AllergyIntolerance"):
        groups[group_key(r.get("code"))].append(r)
    drafts = []
    for members in groups.values():
        members.sort(key=lambda r: (r.get("recordedDate") or "", r.get("id", "")))
        r = members[-1]
        status = clinical_status(r) or "unknown"
        reactions, severities = [], []
        for rx in r.get("reaction") or []:
            manif = cc_text(rx.get("manifestation"))
            sev = rx.get("severity")
            if isinstance(sev, str) and sev:
                severities.append(sev)
            if manif:
                reactions.append(manif + (f" ({sev})" if sev else ""))
        verification = next(
            (
                str(c["code"])
                for c in (r.get("verificationStatus") or {}).get("coding") or []
                if isinstance(c, dict) and c.get("code")
            ),
            None,
        )
        item = EvidenceItem(
            handle="",
            kind="allergy",
            section="allergies",
            patient_id=view.patient_id,
            name=cc_text(r.get("code"), "unnamed allergy"),
            codings=coding_objs(r.get("code")),
            status=status,
            verification_status=verification,
            category=", ".join(map(str, r.get("category") or [])) or None,
            points=tuple(
                Point(
                    source=source(m, "code"),
                    date=m.get("recordedDate"),
                    status=clinical_status(m) or "unknown",
                )
                for m in members
            ),
            reactions=tuple(reactions),
            reaction_severities=tuple(dict.fromkeys(severities)),
            criticality=str(r["criticality"]) if r.get("criticality") else None,
            reference=source(r, "code").reference,
            path="code",
            date=day(r.get("recordedDate")),
            subtype=str(r["type"]) if r.get("type") else None,
        )
        sort = (
            0 if status == "active" else 1,
            _CRITICALITY.get(str(r.get("criticality")), 3),
            item.name.lower(),
        )
        drafts.append(Draft(item.model_copy(update={"text": render(item)}), sort))
    return drafts


def render(item: EvidenceItem) -> str:
    """``Lisinopril [RxNorm 29046]: medication, allergy, criticality high, active,
    recorded 2019-03-04; reactions: Cough (mild)``."""
    bits = [item.category or "", item.subtype or ""]
    if item.criticality:
        bits.append(f"criticality {item.criticality}")
    bits.append(item.status or "unknown")
    last = item.points[-1] if item.points else None
    if last and last.date:
        bits.append(f"recorded {day(last.date)}")
    text = f"{item.name}{code_tag(item.codings)}: " + ", ".join(b for b in bits if b)
    if item.reactions:
        text += "; reactions: " + ", ".join(item.reactions)
    if len(item.points) > 1:
        text += f"; recorded ×{len(item.points)}"
    return text
