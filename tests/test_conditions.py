"""A request's condition read and checked by code (``agent.conditions``): the forms it
reads, in several wordings, against the latest result (or none); anything else is left
to the model (``None``)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.conditions import Latest, check_condition

TODAY = dt.date(2025, 6, 1)
RECENT = Latest(dt.date(2025, 3, 1), 3.1, "mmol/L")  # 92 days before TODAY
OLD = Latest(dt.date(2021, 3, 11), 9.4, "%")  # over four years before
NONE = None


@pytest.mark.parametrize(
    ("text", "latest", "holds"),
    [
        # none, or too old (the MedAgentBench form, and clinicians' own)
        (
            "If there is none, or it is dated more than 730 days before 2025-06-01, order a "
            "new HbA1c lab test (LOINC 4548-4); otherwise do not order anything.",
            NONE,
            True,
        ),
        ("If there is none, or it is dated more than 730 days before 2025-06-01, order one.",
         OLD, True),
        ("If there is none, or it is dated more than 730 days before 2025-06-01, order one.",
         RECENT, False),
        ("Please order a TSH if none on file.", NONE, True),
        ("Please order a TSH if none on file.", OLD, False),
        ("If she hasn't had one in the last 5 years, refer her for a colonoscopy.", OLD, False),
        ("If she hasn't had one in the last 3 years, refer her for a colonoscopy.", OLD, True),
        ("If he’s never had one done, order a lipid panel.", NONE, True),
        ("Order a lipid panel unless she had one in the past year.", RECENT, False),
        ("Order a lipid panel unless she had one in the past year.", OLD, True),
        ("If the last one was more than 2 years ago, order a new one.", OLD, True),
        ("If it's over 2 years old order one", RECENT, False),
        ("If it is older than 3 months, recheck it.", RECENT, True),
        ("If the latest result is dated before 2022-01-01, repeat it.", OLD, True),
        # a value against a limit
        ("If her potassium is below 3.5 mmol/L, start KCl 20 mEq by mouth daily.", RECENT, True),
        ("If her potassium is below 3.0, start KCl 20 mEq by mouth daily.", RECENT, False),
        ("If the A1c is at least 9, refer to endocrinology.", OLD, True),
        # parts joined by "and"
        ("If the latest A1c is over 9 and it is older than 3 months, recheck it.", OLD, True),
        ("If the latest A1c is over 9 and it is older than 3 months, recheck it.",
         Latest(dt.date(2025, 5, 1), 9.4, "%"), False),
    ],
)  # fmt: skip
def test_conditions_code_reads(text: str, latest: Latest | None, holds: bool) -> None:
    verdict = check_condition(text, latest, TODAY)
    assert verdict is not None, text
    assert verdict.holds is holds
    assert ("so the condition holds" in verdict.reason) is holds


@pytest.mark.parametrize(
    ("text", "latest"),
    [
        ("If it looks bad, order a CBC.", RECENT),  # a judgement
        ("If her diabetes is poorly controlled, order an A1c.", OLD),
        ("If her potassium is below 3.5, start KCl.", NONE),  # no value to compare
        ("If her potassium is below 3.5 mEq/L, start KCl.", RECENT),  # another unit
        ("If it is over 9 or it is old and she is fasting, recheck.", OLD),  # and + or
        ("Order an A1c.", OLD),  # no condition at all
        ("If it is low, start a supplement.", RECENT),  # needs a reference range
    ],
)
def test_conditions_code_does_not_read_are_left_to_the_model(
    text: str, latest: Latest | None
) -> None:
    assert check_condition(text, latest, TODAY) is None


@given(
    days=st.integers(min_value=1, max_value=4000),
    back=st.one_of(st.none(), st.integers(min_value=0, max_value=8000)),
    unit=st.sampled_from(["days", "weeks", "months", "years"]),
    wording=st.sampled_from(
        [
            "If there is none, or it is dated more than {n} {u} before {d}, order one.",
            "If none on file or the latest one is more than {n} {u} before {d}, order one.",
            "Order one if there's no result or if it's more than {n} {u} before {d}.",
        ]
    ),
)
def test_none_or_older_agrees_with_date_arithmetic(
    days: int, back: int | None, unit: str, wording: str
) -> None:
    """Whatever the numbers, the verdict is the date arithmetic's."""
    latest = None if back is None else Latest(TODAY - dt.timedelta(days=back), 1.0, "%")
    verdict = check_condition(wording.format(n=days, u=unit, d=TODAY.isoformat()), latest, TODAY)
    assert verdict is not None
    per = {"days": 1, "weeks": 7, "months": 30.44, "years": 365.25}[unit]
    assert verdict.holds is (back is None or back > days * per)
