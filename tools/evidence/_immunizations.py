"""Section ``immunizations``: immunizations folded by vaccine code."""

from __future__ import annotations

from tools._record import RecordView, cc_text, resource_date

from ._common import Draft, group_key
from ._events import fold

__all__ = ["build"]


def build(view: RecordView) -> list[Draft]:
    return fold(
        view, "immunizations", "immunization", view.of_type("Immunization"),
        key_fn=lambda r: group_key(r.get("vaccineCode")),
        name_fn=lambda r: cc_text(r.get("vaccineCode"), "vaccine"),
        code_field="vaccineCode",
        start_fn=lambda r: r.get("occurrenceDateTime") or resource_date(r),
    )  # fmt: skip
