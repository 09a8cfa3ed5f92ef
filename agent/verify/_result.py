"""The verifier's verdicts: findings per sentence, and the verdict of each sentence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Finding", "FindingKind", "SentenceCheck", "Verdict", "Verification"]

FindingKind = Literal[
    "unknown_handle",  # cites a handle never seen (removed; not a failure by itself)
    "no_citation",  # no valid citation at all
    "number",  # a number that is no value of its cited items (nor follows from them)
    "unit",  # a unit incompatible with the cited value's
    "date",  # a date of none of its cited items
    "code",  # a code written in prose that no cited item has
    "entity",  # a clinical term no cited item supports
    "negation",  # a "not in the record" claim without the search that supports it
    "contradiction",  # the cited items say the opposite (status, presence)
    "direction",  # "rose" for a falling series, "improving" for a worsening one
]
Verdict = Literal["verified", "unverified", "failed"]


@dataclass
class Finding:
    """One problem with one sentence."""

    kind: FindingKind
    detail: str
    supported_by: tuple[str, ...] = ()  # entity: handles of seen items that do record it


@dataclass
class SentenceCheck:
    """The verdict on one sentence.

    ``unchecked``: terms the verifier could not check (not supported, not contradicted:
    unknown words, hypothetical statements, "improving" for a measure of unknown
    polarity); a sentence with unchecked terms and no finding is ``unverified``.
    """

    text: str
    cites: list[str]
    valid_cites: list[str]
    findings: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    recited_from: list[str] | None = None  # the model's own citations, when code corrected them
    uncited: list[str] = field(default_factory=list)  # cited, but supporting nothing it says

    @property
    def ok(self) -> bool:
        """Shown to the user: at least one valid citation and no finding (other than an
        unknown handle, which is removed)."""
        return bool(self.valid_cites) and not any(f.kind != "unknown_handle" for f in self.findings)

    @property
    def verdict(self) -> Literal["verified", "unverified"] | Literal["failed"]:
        if not self.ok:
            return "failed"
        return "unverified" if self.unchecked else "verified"

    @property
    def reasons(self) -> list[str]:
        return [f.detail for f in self.findings]


@dataclass
class Verification:
    """All sentences' verdicts."""

    checks: list[SentenceCheck]

    @property
    def passed(self) -> list[SentenceCheck]:
        """Verified and unverified sentences (shown; the latter marked)."""
        return [c for c in self.checks if c.ok]

    @property
    def failed(self) -> list[SentenceCheck]:
        return [c for c in self.checks if not c.ok]

    @property
    def verified(self) -> list[SentenceCheck]:
        return [c for c in self.checks if c.verdict == "verified"]
