"""The one interface every terminology implements (local data, or local + server)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol, runtime_checkable

from tools.terminology._model import Code, Concept, Mention

__all__ = ["Terminology"]


@runtime_checkable
class Terminology(Protocol):
    """What the verifier, the prefetch step and the intake interview ask of a terminology.

    The calls are synchronous and never do I/O; an implementation that consults a
    remote terminology server does so in :meth:`prepare`, which the caller awaits once
    before a batch of synchronous calls (everything it learns is cached).
    """

    def mentions(self, text: str) -> list[Mention]:
        """The longest non-overlapping concept mentions in free text, left to right."""
        ...

    def concepts_of(
        self,
        system: str | None,
        code: str | None,
        display: str | None = None,
        *,
        kinds: Collection[str] | None = None,
    ) -> tuple[Concept, ...]:
        """The concepts a coding denotes: by its code first, else by its display text
        (``kinds``: only concepts of these kinds, e.g. what a Procedure may name)."""
        ...

    def concept(self, concept_id: str) -> Concept | None:
        """A concept by id (``None`` if unknown)."""
        ...

    def implies(self, recorded: Concept, mentioned: Concept) -> bool | None:
        """Whether a recorded concept supports a mention of another.

        ``True`` when ``recorded`` is ``mentioned`` or a descendant of it (is-a,
        transitive), or a drug in the mentioned drug class; ``False`` when both are
        known and unrelated; ``None`` when it cannot be decided (unknown concepts, a
        terminology server that could not be asked). A child implies its parent, never
        the reverse.
        """
        ...

    def ancestors(self, concept: Concept | str) -> frozenset[str]:
        """Every is-a ancestor id of a concept (for a drug, its classes too)."""
        ...

    def descendants(self, concept: Concept | str) -> frozenset[str]:
        """Every is-a descendant id of a concept."""
        ...

    def analyte(self, code_or_concept: str | Code | Concept) -> frozenset[str]:
        """The LOINC codes of the analyte a LOINC code or lab concept belongs to."""
        ...

    async def prepare(self, codings: Iterable[Code], mentioned: Iterable[Concept] = ()) -> None:
        """Look up what the synchronous calls will need (no-op for local data)."""
        ...
