"""A token trie over every name of every concept, built once; longest-match scanning.

Each name is inserted as its sequence of normalized tokens (:mod:`._text`); a
multi-word name is also inserted joined into one token ("x ray" -> "xray", "covid 19"
-> "covid19") when the joined word has at least 5 letters. Names marked
case-sensitive in the data (``=MS``, ``=PE``: abbreviations that are also English
words) match only when the text spells them the same way or in capitals.

A word that matches nothing, has at least 7 letters and is not common English
(:func:`._english.is_common_word`) is compared with the trie's vocabulary: a unique
nearest word with the same first letter within an edit distance of 1 (2 for words of 10
letters or more; transpositions count as one edit) stands in for it ("cholestrol" ->
"cholesterol", "metformine" -> "metformin"). Short words are corrected only inside a
name already begun, to the one next word of that name within one edit ("flu shoot").
A determiner or possessive inside a name already begun is read across ("complications in
her pregnancy" matches "complications in pregnancy").
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tools.terminology._english import is_common_word
from tools.terminology._text import Token, norm, norm_phrase, tokenize

__all__ = ["Hit", "Trie"]

_END = ""  # key of a node's terminal entries (no token is empty)
_GAP_OK = re.compile(r"\+?[\s\-/,]{0,3}")  # "30+ - obesity", "Influenza, seasonal"
_MIN_FUZZY = 7
#: words a name is read across when the text puts them inside it ("complications in her
#: pregnancy" is "complications in pregnancy")
_DETERMINERS = frozenset({"her", "his", "their", "my", "your", "our", "its", "the", "a", "an"})


def _typed_lower(abbreviation: str) -> bool:
    """An abbreviation also matched in lower case: three or more letters (digits may
    follow) whose lower-case form is not a common English word ("LDL", "TSH", "COPD";
    not "ADD", "FIT", "PAD", "AIDS", "BUN"; two letters, "ED" or "MS", never)."""
    from ._english import is_common_word

    return bool(re.fullmatch(r"[A-Za-z]{3,}[0-9]*", abbreviation)) and not is_common_word(
        abbreviation
    )


@dataclass(frozen=True, slots=True)
class Hit:
    """A matched span: token range, character range and the concept ids it names."""

    first: int
    last: int  # inclusive token index
    start: int
    end: int
    ids: tuple[str, ...]
    fuzzy: bool


def _osa(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment edit distance, or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
            best = min(best, v)
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


class Trie:
    """Names -> concept ids, scanned longest-match-first over a text's tokens."""

    def __init__(self) -> None:
        self._root: dict[str, Any] = {}
        # raw lower-case words of the names (alphabetic, >= _MIN_FUZZY letters) by
        # (first letter, length): the candidates of spelling correction
        self._vocab: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        self._words: set[str] = set()  # every normalized token of every name

    # ------------------------------------------------------------------ building
    def add(self, name: str, concept_id: str) -> None:
        """Insert one name of a concept (``=NAME``: case-sensitive)."""
        case = name.startswith("=")
        surface = name[1:] if case else name
        if case and _typed_lower(surface):
            case = False  # "ldl", "tsh", "copd" as people type them
        tokens = norm_phrase(surface)
        if not tokens:
            return
        entry = (concept_id, surface if case else None)
        self._insert(tokens, entry)
        joined = "".join(tokens)
        if len(tokens) > 1 and len(joined) >= 5:
            self._insert((joined,), entry)
        for m in re.finditer(r"[A-Za-z]+", surface):
            raw = m.group().lower()
            if len(raw) >= _MIN_FUZZY - 1:
                self._vocab[(raw[0], len(raw))][raw] = norm(raw)

    def _insert(self, tokens: Iterable[str], entry: tuple[str, str | None]) -> None:
        node: dict[str, Any] = self._root
        for t in tokens:
            self._words.add(t)
            node = node.setdefault(t, {})
        entries = node.setdefault(_END, [])
        if entry not in entries:
            entries.append(entry)

    # ------------------------------------------------------------------ matching
    def knows(self, word: str) -> bool:
        """Whether a word (any form) occurs in some name."""
        return norm(word) in self._words

    def hits(self, text: str) -> tuple[list[Token], list[Hit]]:
        """The tokens of ``text`` and its longest non-overlapping name matches."""
        tokens = tokenize(text)
        n = len(tokens)
        root = self._root
        hits: list[Hit] = []
        i = 0
        while i < n:
            tok = tokens[i]
            key = tok.norm
            fuzzy = False
            node = root.get(key)
            if node is None:
                fixed = self._correct(tok.raw)
                if fixed is None or (node := root.get(fixed)) is None:
                    i += 1
                    continue
                fuzzy = True
            best: Hit | None = None
            j = i
            used_fuzzy = fuzzy
            while True:
                ends = node.get(_END)
                if ends:
                    ids = self._accept(ends, tokens, i, j, text)
                    if ids:
                        best = Hit(i, j, tok.start, tokens[j].end, ids, used_fuzzy)
                j += 1
                if j >= n or not _GAP_OK.fullmatch(text, tokens[j - 1].end, tokens[j].start):
                    break
                nxt = node.get(tokens[j].norm)
                if (
                    nxt is None
                    and tokens[j].norm in _DETERMINERS
                    and j + 1 < n
                    and _GAP_OK.fullmatch(text, tokens[j].end, tokens[j + 1].start)
                    and (after := node.get(tokens[j + 1].norm)) is not None
                ):  # "complications in her pregnancy": a name read across a determiner
                    j += 1
                    nxt = after
                if nxt is None:
                    fixed = self._correct(tokens[j].raw) or self._continue(node, tokens[j].raw)
                    nxt = node.get(fixed) if fixed else None
                    if nxt is None:
                        break
                    used_fuzzy = True
                node = nxt
            if best is None:
                i += 1
            else:
                hits.append(best)
                i = best.last + 1
        return tokens, hits

    @staticmethod
    def _accept(
        entries: list[tuple[str, str | None]], tokens: list[Token], i: int, j: int, text: str
    ) -> tuple[str, ...]:
        ids: list[str] = []
        end = tokens[j].end
        if tokens[j].raw.isdigit() and re.match(r"[.,]\d", text[end : end + 2]):
            return ()  # "BMI 30.1" is a value, not "BMI 30+": a name never ends inside a number
        for concept_id, surface in entries:
            if surface is not None:
                span = text[tokens[i].start : tokens[j].end]
                if span != surface and span != surface.upper():
                    continue
            if concept_id not in ids:
                ids.append(concept_id)
        return tuple(ids)

    def _correct(self, raw: str) -> str | None:
        if len(raw) < _MIN_FUZZY or not raw.isalpha():
            return None
        return self._correct_lower(raw.lower())

    @lru_cache(maxsize=16384)  # noqa: B019 - one trie per terminology, kept for its lifetime
    def _correct_lower(self, word: str) -> str | None:
        if norm(word) in self._words or is_common_word(word):
            return None
        limit = 1 if len(word) < 10 else 2
        best: list[tuple[int, str]] = []
        for length in range(len(word) - limit, len(word) + limit + 1):
            for cand, cand_norm in self._vocab.get((word[0], length), {}).items():
                d = _osa(word, cand, limit)
                if d <= limit:
                    best.append((d, cand_norm))
        if not best:
            return None
        best.sort()
        top = best[0][0]
        winners = sorted({c for d, c in best if d == top})
        if len(winners) == 1:
            return winners[0]
        # a tie is harmless when every candidate, as a word of its own, names the same
        # concepts ("diabetis": "diabetes" and "diabetic" both name diabetes mellitus)
        named = {self._single(c) for c in winners}
        return winners[0] if len(named) == 1 and named != {()} else None

    @staticmethod
    def _continue(node: dict[str, Any], raw: str) -> str | None:
        """Inside a name already begun, the one next word within one edit of ``raw``
        (same first letter, at least 4 letters): "flu shoot" -> "flu shot". The name's
        first words narrow the choice to a handful, so a short common word may be
        corrected here, never on its own."""
        word = raw.lower()
        if len(word) < 4 or not word.isalpha():
            return None
        near = [
            k
            for k in node
            if k != _END and k[:1] == word[:1] and abs(len(k) - len(word)) <= 1
            and _osa(word, k, 1) <= 1
        ]  # fmt: skip
        return near[0] if len(near) == 1 else None

    def _single(self, word: str) -> tuple[str, ...]:
        node = self._root.get(word)
        ends = node.get(_END) if node else None
        return tuple(sorted(cid for cid, _ in ends)) if ends else ()
