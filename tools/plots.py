"""Trend plots: a PNG with the reference band, every point traceable to its Observation.

Optional dependency: matplotlib (Agg backend, imported lazily; a clear
:class:`~tools.errors.OptionalDependencyMissing` when absent). Each point is
numbered on the plot (``1``, ``2``, …) and a JSON side-car next to the PNG
(``plot.png`` → ``plot.json``) maps each number to its date, value, unit and
``Observation/…`` reference and element path.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools._record import fmt_num
from tools.errors import OptionalDependencyMissing
from tools.trends import Trend

__all__ = ["plot_trends"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        raise OptionalDependencyMissing("Trend plots", "matplotlib", "plots") from None
    return plt


def plot_trends(trends: Sequence[Trend], path: str | Path, *, title: str | None = None) -> Path:
    """Draw one or more trends (e.g. systolic and diastolic) into a PNG at ``path``.

    Writes the JSON side-car (``path`` with suffix ``.json``) and returns the PNG path.
    Series with no dated points are skipped; raises ``ValueError`` when none has any.
    """
    drawable = [t for t in trends if t.points]
    if not drawable:
        raise ValueError(
            "nothing to plot: no dated values for " + ", ".join(t.display for t in trends)
        )
    plt = _pyplot()
    out = Path(path)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    legend: list[dict[str, Any]] = []
    number = 0
    for t in drawable:
        xs = [dt.date.fromisoformat(str(p.date)) for p in t.points]
        ys = [p.value for p in t.points]
        (line,) = ax.plot(
            xs, ys, marker="o", linewidth=1.2, markersize=4, label=f"{t.display} ({t.unit})"
        )
        if t.ref_low is not None or t.ref_high is not None:
            lo = t.ref_low if t.ref_low is not None else min(min(ys), t.ref_high or 0) - 1
            hi = t.ref_high if t.ref_high is not None else max(max(ys), t.ref_low or 0) + 1
            src = "record" if t.ref_source == "Observation" else "default"
            ax.axhspan(
                lo,
                hi,
                color=line.get_color(),
                alpha=0.08,
                label=f"{t.display} ref {t.ref_text} ({src})",
            )
        for p, x, y in zip(t.points, xs, ys, strict=True):
            number += 1
            if len(t.points) <= 40 or p is t.points[-1] or p is t.points[0]:
                ax.annotate(
                    str(number),
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 5),
                    fontsize=6,
                    ha="center",
                )
            legend.append(
                {
                    "n": number,
                    "series": t.display,
                    "code": t.code,
                    "date": p.date,
                    "value": p.value,
                    "unit": p.unit,
                    "ref": p.ref,
                    "path": p.path,
                    "flag": p.flag,
                }
            )
    ax.set_title(
        title
        or " / ".join(
            f"{t.display} (latest {fmt_num(t.points[-1].value)} {t.unit})" for t in drawable
        ),
        fontsize=10,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    plt.close(fig)
    sidecar = out.with_suffix(".json")
    sidecar.write_text(
        json.dumps(
            {"png": out.name, "series": [t.as_dict() for t in drawable], "points": legend}, indent=1
        ),
        encoding="utf-8",
    )
    return out
