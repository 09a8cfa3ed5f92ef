"""Common English words, to tell ordinary words from possible clinical terms.

:func:`is_common_word` asks the ``wordfreq`` package (Robyn Speer et al.; word
frequencies from Wikipedia, subtitles, news, books, web text and social media, frozen in
2021) for a word's Zipf frequency: log10 of its occurrences per billion words. A word
with Zipf >= :data:`COMMON_ZIPF` (3.2, i.e. about 1.6 per million words) counts as common.

Why 3.2 (figures from wordfreq 3.1): the ordinary words an assistant repeats from a
question sit above it ("still" 5.92, "contains" 4.68, "recorded" 4.66, "undergone" 3.58,
"trending" 3.62), while the clinical terms a verifier must check sit below it
("sarcoidosis" 2.25, "Lipitor" 2.13, "atorvastatin" 1.93, "polypectomy" 1.18, "sepsis"
3.01, "gout" 3.06, "anemia" 3.17). 3.0 would make "sepsis" common; 3.5 would make
"undergone" a clinical term. A few words sit just under it ("worsening" 3.15): the
verifier handles direction words itself. Very common disease and drug names are above
it ("diabetes" 4.17, "aspirin" 3.34, "cancer" 4.93): the terminology knows them by name,
so they never depend on this test, which only decides whether an *unknown* word deserves
a check or a spelling correction.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["COMMON_ZIPF", "is_common_word", "zipf"]

COMMON_ZIPF = 3.2


@lru_cache(maxsize=1)
def _zipf_frequency():  # type: ignore[no-untyped-def]
    from wordfreq import zipf_frequency

    return zipf_frequency


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    """The Zipf frequency of an English word (0.0 when unknown)."""
    return float(_zipf_frequency()(word.lower(), "en"))


def is_common_word(word: str) -> bool:
    """Whether a word is ordinary English (Zipf frequency >= 3.2).

    >>> is_common_word("contains"), is_common_word("undergone"), is_common_word("still")
    (True, True, True)
    >>> is_common_word("sarcoidosis"), is_common_word("Lipitor"), is_common_word("polypectomy")
    (False, False, False)
    """
    return zipf(word) >= COMMON_ZIPF
