"""What a sentence citing a seen item rests on (``Seen.references``)."""

from __future__ import annotations

from agent.session import Seen
from tools.evidence import EvidenceItem, Point, SourceRef


def _visits(n: int) -> EvidenceItem:
    points = tuple(
        Point(source=SourceRef(reference=f"Encounter/e{i}"), date=f"201{i}-05-01") for i in range(n)
    )
    return EvidenceItem(
        handle="E5", kind="encounter", section="encounters", name="Check-up",
        points=points, reference=f"Encounter/e{n - 1}",
    )  # fmt: skip


def test_a_window_a_tool_looked_at_is_what_a_sentence_about_it_rests_on() -> None:
    """ "1 encounter in 2015" rests on that encounter, not on the 3 of its kind (citation
    precision 0.33 on a cpu-demo answer); a few entries with no focus are all cited; a
    long series with none, its latest; a stated day, that entry."""
    windowed = Seen(item=_visits(3), focus=("Encounter/e1",))
    assert windowed.references(said="She had 1 check-up in 2011.") == ["Encounter/e1"]
    assert Seen(item=_visits(3)).references() == ["Encounter/e0", "Encounter/e1", "Encounter/e2"]
    assert Seen(item=_visits(6)).references() == ["Encounter/e5"]
    long_window = Seen(item=_visits(6), focus=tuple(f"Encounter/e{i}" for i in range(6)))
    assert len(long_window.references()) == 6
    assert Seen(item=_visits(3)).references(said="Seen on 2012-05-01.") == ["Encounter/e2"]
    # a sentence counting the entries rests on all of them (at most 20)
    counted = Seen(item=_visits(6)).references(said="She had 6 check-up encounters.")
    assert len(counted) == 6
    assert Seen(item=_visits(6)).references(said="She had 5 check-up encounters.") == [
        "Encounter/e5"
    ]
