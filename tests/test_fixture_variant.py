"""The fixture variant (``fhir_fixtures/variants``): the same records, coded differently.

Checks the committed variant files against the fixture patients they come from, with
conversion constants written here independently of ``fhir_fixtures/variant.py``: the
variant is reproducible, every diagnosis is ICD-10-CM (or deliberately left in SNOMED
CT), labs carry local codes with LOINC only as a translation, no display keeps a SNOMED
semantic tag, converted values round-trip, and everything else is untouched.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fhir_fixtures import variant
from tools.fhir_version import validate

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures"
PATIENTS = FIXTURES / "patients"
VARIANTS = FIXTURES / "variants"
SHARED = ROOT.parent / "shared" / "synthea"

SNOMED, LOINC, UCUM = variant.SNOMED, variant.LOINC, variant.UCUM
ICD10CM, LAB_SYSTEM, FORMULARY = variant.ICD10CM, variant.LAB_SYSTEM, variant.FORMULARY
#: An ICD-10-CM code: letter, digit, alphanumeric, then up to four more after the dot.
ICD_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")
#: The hierarchy tags SNOMED CT puts at the end of fully specified names.
SEMANTIC_TAG = re.compile(
    r"\((?:disorder|finding|procedure|situation|person|body structure|observable entity|"
    r"qualifier value|regime/therapy|physical object|substance|record artifact|dose form|"
    r"morphologic abnormality|event|environment|product|organism|specimen|"
    r"assessment scale|occupation|clinical drug|medicinal product)\)\s*$"
)

Bundle = dict[str, Any]
Resource = dict[str, Any]

# Independent constants (mg/dL → mmol/L is × 10 / molar mass in g/mol).
TO_SOURCE: dict[str, dict[tuple[str, ...], Callable[[float], float]]] = {
    # variant UCUM code: {LOINC codes: function from the variant value to the original unit}
    "mmol/L": {
        ("2339-0", "2345-7"): lambda v: v * 180.156 / 10,
        ("2093-3", "18262-6", "2085-9"): lambda v: v * 386.65 / 10,
        ("2571-8",): lambda v: v * 885.7 / 10,
    },
    "umol/L": {("38483-4", "2160-0"): lambda v: v / 88.4},
    "mmol/mol": {("4548-4",): lambda v: v / 10.929 + 2.15},
    "[degF]": {("8310-5", "8331-1"): lambda v: (v - 32) * 5 / 9},
    "[lb_av]": {("29463-7",): lambda v: v * 0.45359237},
    "[in_i]": {("8302-2",): lambda v: v * 2.54},
}
#: Half a printed digit, in the original unit: what rounding may move a value by.
HALF_DIGIT = {
    ("mmol/L", "2339-0"): 0.05 * 180.156 / 10,
    ("mmol/L", "2345-7"): 0.05 * 180.156 / 10,
    ("mmol/L", "2093-3"): 0.005 * 386.65 / 10,
    ("mmol/L", "18262-6"): 0.005 * 386.65 / 10,
    ("mmol/L", "2085-9"): 0.005 * 386.65 / 10,
    ("mmol/L", "2571-8"): 0.005 * 885.7 / 10,
    ("umol/L", "38483-4"): 0.5 / 88.4,
    ("umol/L", "2160-0"): 0.5 / 88.4,
    ("mmol/mol", "4548-4"): 0.5 / 10.929,
    ("[degF]", "8310-5"): 0.05 * 5 / 9,
    ("[degF]", "8331-1"): 0.05 * 5 / 9,
    ("[lb_av]", "29463-7"): 0.05 * 0.45359237,
    ("[in_i]", "8302-2"): 0.05 * 2.54,
}


# --------------------------------------------------------------------------- loading


def _load(folder: Path) -> dict[str, Bundle]:
    files = sorted(folder.glob("*.json"))
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in files}


@pytest.fixture(scope="module")
def originals() -> dict[str, Bundle]:
    found = _load(PATIENTS)
    assert found, f"no fixtures in {PATIENTS}"
    return found


@pytest.fixture(scope="module")
def variants() -> dict[str, Bundle]:
    found = _load(VARIANTS)
    assert found, f"no variants in {VARIANTS}; run: python -m fhir_fixtures.variant"
    return found


def resources(bundle: Bundle) -> list[Resource]:
    return [e["resource"] for e in bundle["entry"]]


def pairs(
    originals: dict[str, Bundle], variants: dict[str, Bundle]
) -> Iterator[tuple[Resource, Resource]]:
    for name, bundle in originals.items():
        yield from zip(resources(bundle), resources(variants[name]), strict=True)


def codings(cc: Any) -> list[dict[str, Any]]:
    return [c for c in (cc or {}).get("coding") or [] if isinstance(c, dict)]


def strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, value) of every display/text string, attachments excluded."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("attachment", "presentedForm", "content"):
                continue
            if k in ("display", "text") and isinstance(v, str):
                yield k, v
            else:
                yield from strings(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item, key)


def is_lab(r: Resource) -> bool:
    return any(
        c.get("code") == "laboratory" for cat in r.get("category") or [] for c in codings(cat)
    )


# --------------------------------------------------------------------------- reproducible


def test_regenerating_gives_the_committed_bytes() -> None:
    files = variant.build([PATIENTS])
    assert {str(p) for p in files} == {p.name for p in VARIANTS.glob("*.json")}
    for rel, data in files.items():
        assert (VARIANTS / rel).read_bytes() == data, f"{rel} is out of date"


def test_variant_bundle_is_pure_and_deterministic(originals: dict[str, Bundle]) -> None:
    name, bundle = next(iter(sorted(originals.items())))
    before = copy.deepcopy(bundle)
    first = variant.dump_bundle(variant.variant_bundle(bundle))
    second = variant.dump_bundle(variant.variant_bundle(copy.deepcopy(bundle)))
    assert first == second
    assert bundle == before, f"variant_bundle modified its input ({name})"


def test_check_mode_finds_stale_and_changed_files(tmp_path: Path, capsys: Any) -> None:
    assert variant.main(["--check"]) == 0
    assert variant.main(["--out", str(tmp_path), str(PATIENTS)]) == 0
    assert variant.main(["--check", "--out", str(tmp_path), str(PATIENTS)]) == 0
    victim = sorted(tmp_path.glob("*.json"))[0]
    victim.write_bytes(victim.read_bytes().replace(b"coded-differently", b"coded-otherwise"))
    (tmp_path / "extra.json").write_text("{}")
    capsys.readouterr()
    assert variant.main(["--check", "--out", str(tmp_path), str(PATIENTS)]) == 1
    err = capsys.readouterr().err
    assert victim.name in err
    assert "extra.json (not generated)" in err


def test_cli_refuses_to_write_other_data_into_the_repository(tmp_path: Path) -> None:
    bundle = tmp_path / "in" / "b.json"
    bundle.parent.mkdir()
    bundle.write_bytes((PATIENTS / sorted(p.name for p in PATIENTS.glob("*.json"))[0]).read_bytes())
    with pytest.raises(SystemExit) as exc:
        variant.main(["--out", str(VARIANTS / "x"), str(bundle.parent)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        variant.main([str(bundle.parent)])  # no --out for other data
    assert not (VARIANTS / "x").exists()
    assert variant.main(["--out", str(tmp_path / "out"), str(bundle.parent)]) == 0
    assert (tmp_path / "out" / "b.json").is_file()


# --------------------------------------------------------------------------- same record


def _skeleton(node: Any, key: str = "") -> Any:
    """The resource without what the variant may change: codings, displays, texts,
    quantities' value/unit/code."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in ("coding", "display", "text"):
                continue
            if k in ("value", "unit", "code", "system") and key in (
                "valueQuantity", "low", "high"
            ):  # fmt: skip
                continue
            out[k] = _skeleton(v, k)
        return out
    if isinstance(node, list):
        return [_skeleton(x, key) for x in node]
    return node


def test_same_resources_ids_references_dates_and_statuses(
    originals: dict[str, Bundle], variants: dict[str, Bundle]
) -> None:
    assert set(originals) == set(variants)
    n = 0
    for name, bundle in originals.items():
        other = variants[name]
        assert len(bundle["entry"]) == len(other["entry"]), name
        for a, b in zip(bundle["entry"], other["entry"], strict=True):
            assert a["fullUrl"] == b["fullUrl"]
            assert a["request"] == b["request"]
            assert _skeleton(a["resource"]) == _skeleton(b["resource"]), (
                name,
                a["resource"]["resourceType"],
                a["resource"]["id"],
            )
            n += 1
        tags = other["meta"]["tag"]
        assert {
            "system": "urn:fhir-record-assistant:fixtures",
            "code": "coded-differently",
        }.items() <= tags[0].items()
    assert n > 4000


def test_every_variant_resource_is_valid_fhir_r4(variants: dict[str, Bundle]) -> None:
    count = 0
    for name, bundle in variants.items():
        for resource in resources(bundle):
            validate(resource, f"variants/{name}")
            count += 1
    assert count > 4000


# --------------------------------------------------------------------------- coded differently


def test_every_condition_is_icd10cm_or_deliberately_unmapped(
    originals: dict[str, Bundle], variants: dict[str, Bundle]
) -> None:
    icd = unmapped = 0
    for before, after in pairs(originals, variants):
        if after["resourceType"] != "Condition":
            continue
        (coding,) = codings(after["code"])
        if coding["system"] == ICD10CM:
            assert ICD_CODE.match(coding["code"]), coding
            assert coding["display"]
            assert not SEMANTIC_TAG.search(coding["display"])
            snomed = codings(before["code"])[0]["code"]
            assert variant.CONDITION_MAP[snomed].code == coding["code"]
            icd += 1
        else:
            assert coding["system"] == SNOMED, coding
            assert coding["code"] in variant.UNMAPPED, coding
            unmapped += 1
    # the unmapped ones are mostly repeated social findings (employment, education)
    assert icd > 300, icd
    assert icd > unmapped, (icd, unmapped)


def _condition_codes(folder: Path) -> set[str]:
    codes = set()
    for path in folder.rglob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        for entry in data.get("entry") or [] if isinstance(data, dict) else []:
            r = entry.get("resource") or {}
            if r.get("resourceType") == "Condition":
                codes |= {c["code"] for c in codings(r.get("code")) if c.get("system") == SNOMED}
    return codes


def test_the_map_covers_every_condition_code_of_the_fixtures_and_shared_data() -> None:
    assert not set(variant.CONDITION_MAP) & set(variant.UNMAPPED)
    for entry in variant.CONDITION_MAP.values():
        assert ICD_CODE.match(entry.code)
        assert entry.display.strip() == entry.display
    codes = _condition_codes(PATIENTS)
    if SHARED.is_dir():
        codes |= _condition_codes(SHARED)
    missing = sorted(codes - set(variant.CONDITION_MAP) - set(variant.UNMAPPED))
    assert not missing, f"Condition codes with no decision: {missing}"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/synthea not present")
def test_diagnosis_codes_elsewhere_follow_the_map() -> None:
    """Coded reasons and claim lines carry ICD-10-CM too (the fixtures' reasons are text
    only), and a reference's display to a Condition shows the recoded display."""
    recoded = displays = 0
    for path in sorted(SHARED.rglob("*.json"))[:8]:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            continue
        other = variant.variant_bundle(bundle)
        for before, after in zip(resources(bundle), resources(other), strict=True):
            concepts = [
                (a, b)
                for a, b in zip(
                    before.get("reasonCode") or [], after.get("reasonCode") or [], strict=True
                )
            ]
            concepts += [
                (a.get("productOrService"), b.get("productOrService"))
                for a, b in zip(before.get("item") or [], after.get("item") or [], strict=True)
            ]
            for cc_before, cc_after in concepts:
                snomed = [c["code"] for c in codings(cc_before) if c.get("system") == SNOMED]
                if snomed and snomed[0] in variant.CONDITION_MAP:
                    (coding,) = codings(cc_after)
                    assert coding["system"] == ICD10CM
                    assert coding["code"] == variant.CONDITION_MAP[snomed[0]].code
                    recoded += 1
        conditions = {
            e["fullUrl"]: codings(e["resource"]["code"])[0]["display"]
            for e in other["entry"]
            if e["resource"]["resourceType"] == "Condition"
        }
        for r in resources(other):
            for ref in r.get("reasonReference") or []:
                if ref.get("reference") in conditions and "display" in ref:
                    assert ref["display"] == conditions[ref["reference"]]
                    displays += 1
    assert recoded > 20
    assert displays > 5


def test_no_display_or_text_keeps_a_snomed_semantic_tag(variants: dict[str, Bundle]) -> None:
    tagged = [
        (name, value)
        for name, bundle in variants.items()
        for _, value in strings(bundle)
        if SEMANTIC_TAG.search(value)
    ]
    assert not tagged, tagged[:5]


def test_labs_have_local_primary_codes_and_loinc_only_as_a_translation(
    originals: dict[str, Bundle], variants: dict[str, Bundle]
) -> None:
    kept: dict[str, bool] = {}
    n = 0
    for before, after in pairs(originals, variants):
        if after["resourceType"] != "Observation" or not is_lab(after):
            continue
        loinc = codings(before["code"])[0]["code"]
        if loinc not in variant.LAB_CODES:
            assert after["code"] == before["code"]  # questionnaire items, scores: unchanged
            continue
        first, *rest = codings(after["code"])
        assert first["system"] == LAB_SYSTEM
        assert first.get("userSelected") is True
        assert first["display"] == first["display"].upper(), first
        assert first["display"] != codings(before["code"])[0].get("display")
        assert all(c["system"] == LOINC and c["code"] == loinc for c in rest)
        assert len(rest) <= 1
        kept[loinc] = bool(rest)
        n += 1
    assert n > 1000
    share = sum(kept.values()) / len(kept)
    assert 0.35 <= share <= 0.65, f"LOINC kept for {share:.0%} of the analytes"


def test_medications_come_from_the_formulary_with_rxnorm_for_about_half(
    originals: dict[str, Bundle], variants: dict[str, Bundle]
) -> None:
    kept: dict[str, bool] = {}
    for before, after in pairs(originals, variants):
        cc = after.get("medicationCodeableConcept")
        if not cc:
            continue
        rx = codings(before["medicationCodeableConcept"])[0]
        first, *rest = codings(cc)
        assert first["system"] == FORMULARY
        assert re.fullmatch(r"MED-\d{6}", first["code"])
        assert first["display"] != rx["display"]
        assert " MG " not in first["display"]
        assert rest in ([], [rx])
        kept[rx["code"]] = bool(rest)
    assert len(kept) >= 10
    assert 0.2 <= sum(kept.values()) / len(kept) <= 0.8


def test_converted_values_round_trip_to_the_original(
    originals: dict[str, Bundle], variants: dict[str, Bundle]
) -> None:
    converted: dict[str, int] = {}
    for before, after in pairs(originals, variants):
        if before["resourceType"] != "Observation":
            continue
        loinc = codings(before["code"])[0]["code"]
        holders = [
            (before.get("valueQuantity"), after.get("valueQuantity")),
            *(
                (rb.get(k), ra.get(k))
                for rb, ra in zip(
                    before.get("referenceRange") or [],
                    after.get("referenceRange") or [],
                    strict=True,
                )
                for k in ("low", "high")
            ),
        ]
        for q0, q1 in holders:
            if not q0:
                continue
            assert q1["system"] == UCUM, q1
            assert q1["unit"], q1
            if q1["code"] == q0["code"]:
                assert q1["value"] == q0["value"]
                continue
            (back,) = [f for codes, f in TO_SOURCE[q1["code"]].items() if loinc in codes]
            tolerance = HALF_DIGIT[(q1["code"], loinc)] * (1 + 1e-9)
            assert abs(back(q1["value"]) - q0["value"]) <= tolerance, (loinc, q0, q1)
            converted[q1["code"]] = converted.get(q1["code"], 0) + 1
    # every convention occurs in the fixtures
    assert set(converted) == set(TO_SOURCE), converted
    assert converted["mmol/L"] > 100
    assert converted["umol/L"] > 50


def test_units_per_patient_follow_one_convention(variants: dict[str, Bundle]) -> None:
    """A record uses one unit per analyte (HbA1c, weight): conventions are per patient."""
    for name, bundle in variants.items():
        units: dict[str, set[str]] = {}
        for r in resources(bundle):
            if r["resourceType"] == "Observation" and r.get("valueQuantity"):
                for c in codings(r["code"]):
                    if c.get("code") in ("4548-4", "29463-7", "8302-2", "8310-5", "8331-1"):
                        units.setdefault(c["code"], set()).add(r["valueQuantity"]["code"])
        assert all(len(u) == 1 for u in units.values()), (name, units)


# --------------------------------------------------------------------------- documented


def test_fixture_readme_documents_the_variant() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    section = variant.readme_section([(f["name"], f["patientId"]) for f in manifest["files"]])
    assert section in readme, "README.md is out of date: run python -m fhir_fixtures.generate"
    for needle in ("ICD-10-CM", "NLM SNOMED CT to ICD-10-CM map", "tabular list", "variants/"):
        assert needle in section
    for snomed in variant.UNMAPPED:
        assert f"`{snomed}`" in section


# --------------------------------------------------------------------------- the benchmark on it


def test_the_no_model_baseline_answers_every_question_on_the_variant(tmp_path: Path) -> None:
    from bench.ehrqa.run import RunConfig, run_eval

    report = run_eval(RunConfig(VARIANTS, 120, seed=1, out=tmp_path / "r.json", progress=False))
    assert report is not None
    assert len(report["per_category"]) == 12
    assert report["overall"]["accuracy"] == 1.0
    questions = json.loads((tmp_path / "r.questions.json").read_text())
    systems = {q["params"].get("system") for q in questions}
    assert {variant.ICD10CM, variant.LAB_SYSTEM} <= systems  # asked in the record's own codes


@pytest.mark.slow
def test_shared_synthea_variant_holds_every_benchmark_category(tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present")
    from bench.ehrqa.run import RunConfig, run_eval

    out = tmp_path / "variant"
    assert variant.main(["--out", str(out), str(SHARED)]) == 0
    report = run_eval(RunConfig(out, 200, seed=1, out=tmp_path / "r.json", progress=False))
    assert report is not None
    assert len(report["per_category"]) == 12
    assert report["overall"]["accuracy"] == 1.0
