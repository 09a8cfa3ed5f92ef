"""Section ``procedures``: procedures folded by code and reason; routine screenings,
assessments and paperwork (:func:`tools.codes.is_routine_procedure`) carry the flag
``routine``."""

from __future__ import annotations

from tools._record import RecordView, cc_text, reasons_of, resource_date
from tools.codes import is_routine_procedure

from ._common import Draft, group_key, period
from ._events import fold

__all__ = ["build"]


def build(view: RecordView) -> list[Draft]:
    drafts = fold(
        view, "procedures", "procedure", view.of_type("Procedure"),
        key_fn=lambda r: (*group_key(r.get("code")), ",".join(reasons_of(view, r))),
        name_fn=lambda r: cc_text(r.get("code"), "procedure"),
        code_field="code",
        start_fn=lambda r: r.get("performedDateTime") or period(r, "performedPeriod", "start") or resource_date(r),
        end_fn=lambda r: period(r, "performedPeriod", "end"),
        reasons_fn=lambda r: reasons_of(view, r),
    )  # fmt: skip
    out = []
    for d in drafts:
        code = d.item.code
        name = (code.display if code and code.display else None) or d.item.name
        if is_routine_procedure(code.code if code else None, name):
            d = Draft(d.item.model_copy(update={"flags": (*d.item.flags, "routine")}), d.sort)
        out.append(d)
    return out
