"""What judgeqa asks about beyond :mod:`bench.clinqa.concepts`: acute conditions (for
"has it resolved?"), the control targets of three chronic conditions, drug names the
shared records use that clinqa's drug concepts miss, and which drugs could treat a
condition (so a "what is she taking for X?" question is not asked when an active drug
of that kind has no recorded reason).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bench.clinqa.concepts import CONDITIONS, DRUGS, LABS, Concept

__all__ = ["ACUTE", "CONTROL", "DRUGS_J", "TREATS", "Target"]


def _codes(*codes: str) -> frozenset[str]:
    return frozenset(f"sct:{c}" for c in codes)


def _acute(
    key: str, name: str, codes: tuple[str, ...], icd10: tuple[str, ...], **kw: Any
) -> Concept:
    return Concept(key, name, _codes(*codes), icd10=icd10, kind="condition", **kw)


#: acute, self-limiting conditions: "has it resolved / cleared up / got better?"
ACUTE: dict[str, Concept] = {
    c.key: c
    for c in (
        _acute("sinusitis", "acute sinusitis", ("444814009", "75498004", "36971009"), ("J01",),
               keywords=("sinusitis",), exclude=("chronic",),
               lay=("sinus infection", "sinusitis")),
        _acute("pharyngitis", "pharyngitis", ("195662009",), ("J02.8", "J02.9"),
               keywords=("pharyngitis",), exclude=("chronic", "streptococcal"),
               lay=("sore throat", "throat infection")),
        _acute("strep", "strep throat", ("43878008",), ("J02.0",),
               keywords=("streptococcal sore throat", "strep throat"),
               lay=("strep throat", "strep")),
        _acute("bronchitis", "acute bronchitis", ("10509002",), ("J20",),
               keywords=("acute bronchitis",), exclude=("chronic",),
               lay=("bronchitis", "chest infection")),
        _acute("otitis", "otitis media", ("65363002",), ("H65", "H66"), keywords=("otitis media",),
               exclude=("chronic",), lay=("ear infection",)),
        _acute("cystitis", "cystitis", ("38822007",), ("N30.0",), keywords=("cystitis",),
               exclude=("chronic", "interstitial"), lay=("bladder infection", "UTI")),
        _acute("ankle_sprain", "sprain of ankle", ("44465007",), ("S93.4",),
               keywords=("sprain of ankle", "ankle sprain"), lay=("sprained ankle", "ankle sprain")),
        _acute("wrist_sprain", "sprain of wrist", ("70704007",), ("S63.5",),
               keywords=("sprain of wrist", "wrist sprain"), lay=("sprained wrist", "wrist sprain")),
        _acute("concussion", "concussion", ("62106007", "110030002"), ("S06.0",),
               keywords=("concussion",), lay=("concussion",)),
        _acute("forearm_fracture", "fracture of forearm", ("65966004",), ("S52",),
               keywords=("fracture of forearm",), lay=("broken arm", "forearm fracture")),
        _acute("clavicle_fracture", "fracture of clavicle", ("58150001",), ("S42.0",),
               keywords=("fracture of clavicle",), lay=("broken collarbone",
                                                        "collarbone fracture")),
        _acute("rib_fracture", "fracture of rib", ("33737001",), ("S22.3",),
               keywords=("fracture of rib",), lay=("broken rib", "rib fracture")),
        _acute("wrist_fracture", "fracture of wrist", ("16114001",), ("S62.1",),
               keywords=("fracture subluxation of wrist", "fracture of wrist"),
               lay=("broken wrist", "wrist fracture")),
        _acute("whiplash", "whiplash injury", ("39848009",), ("S13.4",), keywords=("whiplash",),
               lay=("whiplash", "neck injury")),
        _acute("rotator_cuff", "rotator cuff injury", ("307731004",), ("S46.0",),
               keywords=("rotator cuff",), lay=("rotator cuff injury", "shoulder injury")),
        _acute("laceration", "laceration", ("283385000", "284549007", "284551006"), (),
               keywords=("laceration",), lay=("cut", "laceration")),
        _acute("burn", "first degree burn", ("403190006",), (), keywords=("burn",),
               lay=("burn",)),
        _acute("allergic_reaction", "acute allergic reaction", ("241929008",), ("T78.4",),
               keywords=("acute allergic reaction",), lay=("allergic reaction",)),
        _acute("covid", "COVID-19", ("840539006",), ("U07.1",), keywords=("covid",),
               exclude=("suspected", "vaccin", "exposure", "screening"), lay=("COVID",)),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """A chronic condition's control target: the measure and the stance bands.

    ``good``: below it (for each measure) the condition is controlled (stance true);
    ``bad``: at or above it (for any measure) it is not (false); in between: no stance.
    """

    condition: str  # key in clinqa CONDITIONS
    measure: str  # "a1c", "bp", "ldl"
    good: tuple[float, ...]
    bad: tuple[float, ...]
    unit: str


CONTROL: dict[str, Target] = {
    "diabetes": Target("diabetes", "a1c", (7.0,), (8.0,), "%"),
    "hypertension": Target("hypertension", "bp", (130.0, 80.0), (140.0, 90.0), "mm[Hg]"),
    "hyperlipidemia": Target("hyperlipidemia", "ldl", (100.0,), (160.0,), "mg/dL"),
}

#: drug names in the shared records that clinqa's keywords miss (a misspelt statin,
#: Lasix): without them "is he off the statin?" would be answered from half the orders
_EXTRA_WORDS: dict[str, tuple[str, ...]] = {
    "statin": ("simvistatin",),
    "furosemide": ("lasix",),
    "metoprolol": ("toprol",),
    "contraceptive": ("norelgestromin", "yaz", "levora", "nuvaring", "camila", "jolivette",
                      "natazia", "trinessa"),
}  # fmt: skip

DRUGS_J: dict[str, Concept] = {
    k: replace(c, keywords=c.keywords + _EXTRA_WORDS.get(k, ())) for k, c in DRUGS.items()
}

#: drug words that could treat a condition: an active drug of these with no recorded
#: reason makes "what is she taking for her X?" ambiguous (not asked)
TREATS: dict[str, tuple[str, ...]] = {
    "diabetes": ("metformin", "insulin", "humulin", "novolin", "glipizide", "glyburide",
                 "glimepiride", "sitagliptin", "liraglutide", "semaglutide", "empagliflozin",
                 "canagliflozin", "dapagliflozin", "pioglitazone", "lantus"),
    "hypertension": ("lisinopril", "enalapril", "losartan", "olmesartan", "valsartan",
                     "amlodipine", "hydrochlorothiazide", "chlorthalidone", "metoprolol",
                     "atenolol", "carvedilol", "verapamil", "diltiazem", "furosemide", "lasix",
                     "spironolactone", "nifedipine", "propranolol", "clonidine"),
    "hyperlipidemia": ("simvastatin", "simvistatin", "atorvastatin", "rosuvastatin",
                       "pravastatin", "lovastatin", "ezetimibe", "fenofibrate"),
    "heart_failure": ("furosemide", "lasix", "metoprolol", "toprol", "carvedilol", "digoxin",
                      "spironolactone", "lisinopril", "sacubitril", "bumetanide"),
    "copd": ("fluticasone", "salmeterol", "albuterol", "tiotropium", "ipratropium",
             "budesonide", "formoterol"),
    "asthma": ("fluticasone", "salmeterol", "albuterol", "budesonide", "montelukast",
               "formoterol"),
}  # fmt: skip

#: re-exported for the generator
CONDITIONS_J = CONDITIONS
LABS_J = LABS
