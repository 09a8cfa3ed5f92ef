"""Relative dates as people say them, resolved against the reference date ("today").

A :class:`Window` has the phrases people use ("in the past 6 months", "over the last six
months") and one or more inclusive spans. An expression with two readings ("last
spring" on June 1st: the spring that just ended, or the one a year before) carries both,
and a question is only asked when its answer is the same under every reading.

Resolution (reference date R):

- "in the past N months / years", "in the last N years", "in the past decade": from the
  same calendar day N months/years before R (day clamped to the month's end) to R;
- "this year": 1 January of R's year to R; "last year": the whole previous calendar year;
- "last fall" / "last winter" / "last spring" / "last summer": the most recent season
  that ended on or before R, meteorological (fall = Sep–Nov, winter = Dec–Feb, spring =
  Mar–May, summer = Jun–Aug) and astronomical (Sep 22–Dec 20 …) readings; when that
  season ended less than three months before R, the same season a year earlier is a
  third reading;
- "since YEAR": 1 January of YEAR to R.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

__all__ = ["Window", "relative_windows", "since_year"]


@dataclass(frozen=True)
class Window:
    key: str
    phrases: tuple[str, ...]
    spans: tuple[tuple[str, str], ...]

    @property
    def start(self) -> str:
        return self.spans[0][0]

    @property
    def end(self) -> str:
        return self.spans[0][1]


def _minus_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    m += 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _span(a: dt.date, b: dt.date) -> tuple[str, str]:
    return a.isoformat(), b.isoformat()


_SEASONS = {  # name: (meteorological (start m, d), (end m, d)), astronomical start/end
    "spring": (((3, 1), (5, 31)), ((3, 20), (6, 20))),
    "summer": (((6, 1), (8, 31)), ((6, 21), (9, 21))),
    "fall": (((9, 1), (11, 30)), ((9, 22), (12, 20))),
    "winter": (((12, 1), (2, 28)), ((12, 21), (3, 19))),
}


def _season(name: str, end_year: int, astro: bool) -> tuple[dt.date, dt.date]:
    (sm, sd), (em, ed) = _SEASONS[name][1 if astro else 0]
    start_year = end_year - 1 if sm > em else end_year
    if (em, ed) == (2, 28) and calendar.isleap(end_year):
        ed = 29
    return dt.date(start_year, sm, sd), dt.date(end_year, em, ed)


def _last_season(name: str, ref: dt.date) -> tuple[tuple[str, str], ...]:
    spans: list[tuple[str, str]] = []
    year = ref.year
    while _season(name, year, False)[1] > ref:
        year -= 1
    meteo = _season(name, year, False)
    spans.append(_span(*meteo))
    astro = _season(name, year, True)
    if astro[1] <= ref:
        spans.append(_span(*astro))
    if (ref - meteo[1]).days < 92:  # just ended: "last spring" may mean the one before
        spans.append(_span(*_season(name, year - 1, False)))
    return tuple(dict.fromkeys(spans))


def relative_windows(ref_date: str) -> list[Window]:
    """The relative windows used by the question set, resolved against ``ref_date``."""
    r = dt.date.fromisoformat(ref_date)
    out = [
        Window("past_6_months", ("in the past 6 months", "over the last six months",
                                 "in the last 6 months"),
               (_span(_minus_months(r, 6), r),)),
        Window("past_year", ("in the past year", "in the last 12 months", "over the past year"),
               (_span(_minus_months(r, 12), r),)),
        Window("past_2_years", ("in the last two years", "over the past 2 years"),
               (_span(_minus_months(r, 24), r),)),
        Window("past_5_years", ("in the last 5 years", "over the past five years",
                                "in the past 5 years"),
               (_span(_minus_months(r, 60), r),)),
        Window("past_decade", ("in the past decade", "in the last 10 years",
                               "over the last ten years"),
               (_span(_minus_months(r, 120), r),)),
        Window("this_year", ("this year", "so far this year"),
               (_span(dt.date(r.year, 1, 1), r),)),
        Window("last_year", ("last year", "during last year"),
               (_span(dt.date(r.year - 1, 1, 1), dt.date(r.year - 1, 12, 31)),)),
    ]  # fmt: skip
    for season, phrases in (
        ("fall", ("last fall", "last autumn")),
        ("winter", ("last winter", "over the winter")),
        ("spring", ("last spring",)),
    ):
        out.append(Window(f"last_{season}", phrases, _last_season(season, r)))
    return out


def since_year(year: int, ref_date: str) -> Window:
    """ "since YEAR": 1 January of ``year`` to the reference date."""
    return Window(
        f"since_{year}",
        (f"since {year}",),
        ((f"{year:04d}-01-01", ref_date),),
    )
