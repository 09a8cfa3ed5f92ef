"""What a question is about, read by code: the clinical concepts it names (by the
terminology: lay terms, abbreviations, brands, misspellings), the record sections it
asks for, whether it wants what is current, and its time window — absolute ("in 2019",
"between 2008-01-01 and 2009-12-31") or relative to the record's date ("in the past 6
months", "last year", "last spring", "since her last visit").

No wording of any benchmark is encoded here: sections and windows come from general
English patterns, concepts from :mod:`tools.terminology`. A follow-up that names
nothing ("and before that?", "is it still active?") carries the previous turn's focus.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools._record import parse_date
from tools.evidence import EvidenceItem, EvidenceSet, item_concepts, items_of
from tools.terminology import LOINC, Concept, Mention, Terminology

from .acts import Act, acts_of
from .conditions import COMPARISONS

__all__ = ["Focus", "Window", "anchors_of", "names_a_section", "understand", "window_of"]


@dataclass(frozen=True)
class Window:
    """An inclusive date window the question asks about."""

    start: dt.date | None
    end: dt.date | None
    label: str
    #: whether a follow-up keeps it ("and in 2019?" — "what else?": still 2019); not the
    #: span up to a problem's diagnosis, which "how was it diagnosed?" alone asks of
    kept: bool = True

    def args(self) -> dict[str, str]:
        out = {}
        if self.start:
            out["date_from"] = self.start.isoformat()
        if self.end:
            out["date_to"] = self.end.isoformat()
        return out


@dataclass
class Focus:
    """What a question is about (see the module docstring)."""

    concepts: list[tuple[str, Concept]] = field(default_factory=list)  # (words, concept)
    sections: list[str] = field(default_factory=list)
    current: bool = False  # asks what is active / current now
    window: Window | None = None
    follow_up: bool = False
    asks: str | None = None  # the statistic asked for: count, mean, change, range
    #: a question of several parts ("Do I have sinusitis, and what was my last eGFR?"): the
    #: statistic each concept's own part asks for, by concept id (None: that part asks none)
    part_asks: dict[str, str | None] = field(default_factory=dict)
    #: the writes the request asks for ("please record it", "order one if none"):
    #: :mod:`agent.acts`; a follow-up does not carry them
    acts: list[Act] = field(default_factory=list)
    #: asks for a judgement ("abnormal?", "is it high?", "controlled?"), whichever
    #: statistic it also asks for ("was her last A1c high?")
    judge: bool = False
    #: asks for prose, not a fact or a list ("describe", "explain", "summarize", "why"):
    #: the model writes it, from what the tools found
    narrative: bool = False
    #: the concepts whose medications are asked for ("what is she taking for her
    #: blood pressure?", "hypertension meds?"), by id; a follow-up keeps them ("since when?")
    given_for: list[str] = field(default_factory=list)
    #: how many of the latest results are asked for ("her last 3 A1cs", "the past few
    #: readings"): the series' results, most recent first (not kept by a follow-up)
    recent: int | None = None
    #: asked in the past tense, of nothing current ("what was the strep throat treated
    #: with?"): entries of any status, not only those active now
    past: bool = False
    #: the day the turn's answer was about (:func:`agent.nodes._answered_day`: "when did
    #: she deliver?"), which a follow-up's "then" means; kept with the thread's turns
    day: dt.date | None = None
    #: asks which of a named kind ("what insulin was he on?", "which chemo drugs?", "what
    #: kind of cancer did he have?"): the entries the search finds are the answer, of
    #: any status (a follow-up does not keep it)
    which: bool = False
    #: the death dates the question ("his last A1c before he died", "active meds at time
    #: of death"): the death is said beside the answer, not asked of
    by_death: bool = False
    #: a threshold the question states of the one result it names, as ``lab_trend`` reads
    #: it (">100", ">=7 %", "<140/90"): "ldl > 100?", "any potassium over 5?"; ``asks``
    #: says whether the latest is asked of ("threshold"), every result ("beyond") or how
    #: many ("count_beyond")
    threshold: str | None = None
    #: of a question stating a threshold of each of several results ("ldl > 100 and a1c >
    #: 7?"), each one's, by concept id (``part_asks`` says what is asked of each)
    part_thresholds: dict[str, str] = field(default_factory=dict)
    #: the cancers a question asked whether they spread ("did the lung cancer spread?"),
    #: whose place in ``concepts`` a secondary malignant neoplasm took: what a follow-up
    #: that names nothing is about ("when was it diagnosed?")
    spread_of: list[tuple[str, Concept]] = field(default_factory=list)
    #: asks for the medications no longer taken ("what meds has he stopped?", "past
    #: medications?", "meds she no longer takes"): the orders that ended, not the current
    #: ones (a follow-up does not keep it)
    stopped: bool = False
    #: asks the reason of the most recent ("why was she last seen?", "what was his last
    #: ER visit for?"): ``asks`` is "latest", said with its reason (a follow-up does not
    #: keep it)
    why: bool = False
    #: asks how a problem was found ("how was the lung cancer diagnosed?"): what was done
    #: for it or for a suspicion of it, up to its diagnosis (a follow-up does not keep it)
    workup: bool = False
    #: asks how a problem was treated ("how was the fracture treated?", "lung cancer
    #: treatment?"): what treats it, not the exams, imaging and tests done for it
    treated: bool = False
    #: the problems said first as the topic of a question that asks of what was given or
    #: done for them ("stroke - any clot retrieval?", "lung ca - chemo?"), by id: their
    #: entries are said as they stand, with no yes or no of their own (a follow-up does
    #: not keep it)
    topic: list[str] = field(default_factory=list)

    @property
    def about(self) -> list[tuple[str, Concept]]:
        """What a follow-up that names nothing is about: the cancers asked whether they
        spread, else the concepts asked of."""
        return self.spread_of or self.concepts

    def of_kinds(self, *kinds: str) -> list[tuple[str, Concept]]:
        return [(t, c) for t, c in self.concepts if c.kind in kinds]

    def to_state(self) -> dict[str, Any]:
        """A JSON-ready form (kept with a thread's turns, for follow-ups)."""
        w = self.window if self.window is not None and self.window.kept else None
        return {
            "concepts": [[t, c.id] for t, c in self.concepts],
            "sections": list(self.sections),
            "current": self.current,
            "asks": self.asks,
            "narrative": self.narrative,
            "follow_up": self.follow_up,
            **({"which": True} if self.which else {}),
            **({"past": True} if self.past else {}),
            **({"why": True} if self.why else {}),
            **({"threshold": self.threshold} if self.threshold else {}),
            **({"spread_of": [[t, c.id] for t, c in self.spread_of]} if self.spread_of else {}),
            "given_for": list(self.given_for),
            "acts": [[a.tool, a.conditional] for a in self.acts],
            **({"day": self.day.isoformat()} if self.day else {}),
            "window": [w.start.isoformat() if w and w.start else None,
                       w.end.isoformat() if w and w.end else None, w.label if w else None],
        }  # fmt: skip

    @classmethod
    def from_state(cls, data: dict[str, Any] | None, terminology: Terminology) -> Focus | None:
        if not data:
            return None

        def concepts_of(key: str) -> list[tuple[str, Concept]]:
            return [(t, c) for t, cid in data.get(key) or [] if (c := terminology.concept(cid))]

        concepts = concepts_of("concepts")
        start, end, label = (data.get("window") or [None, None, None]) + [None] * 0
        window = (
            Window(
                dt.date.fromisoformat(start) if start else None,
                dt.date.fromisoformat(end) if end else None,
                label,
            )
            if label
            else None
        )
        return cls(
            concepts,
            list(data.get("sections") or []),
            bool(data.get("current")),
            window,
            asks=data.get("asks"),
            given_for=list(data.get("given_for") or []),
            day=parse_date(data.get("day")),
            threshold=data.get("threshold"),
            spread_of=concepts_of("spread_of"),
            past=bool(data.get("past")),
        )


#: The patient's own doctor, as people say it ("who is her PCP?")
_PCP = (
    r"\bPCPs?\b|\bprimary care (?:provider|physician|doctor|clinician)s?\b|\bGPs?\b|"
    r"\bgeneral practitioners?\b|\bfamily (?:doctor|physician)s?\b|\bregular doctors?\b|"
    # "who is her doctor?", "who's my doctor?": the doctor the record names for her
    r"\bwho(?:'s|\s+is|\s+are)\s+(?:her|his|their|my|your|the patient's)\s+"
    r"(?:doctor|physician|provider|clinician)s?\b"
)
#: how to reach the patient or the people to call for them: "emergency contact?", "next
#: of kin?", "her phone number?", "his address?", "where does she live?"
_KIN = (
    r"\bemergency contacts?\b|\bnext of kin\b|\bNOK\b|\bcontact (?:person|people)\b|"
    r"\bwho (?:should|do|can|would) (?:we|I|you) (?:call|contact|notify)\b"
)
_PHONE = (
    r"\b(?:phone|telephone|cell|mobile|contact)\s+(?:numbers?|#|no\.?)(?!\w)|\bcontact info\w*\b|"
    r"\b(?:her|his|my|their|your|the patient's)\s+(?:phone|cell|mobile|telephone|e-?mail)\b"
    r"(?!\s+(?:visits?|calls?|appointments?|consults?|encounters?)\b)|\bhow (?:do|can) (?:we|I) reach\b"
)
_ADDRESS = (
    r"\b(?:her|his|my|their|your|the patient's|home|mailing|current)\s+address(?:es)?\b|"
    r"\bwhere (?:does|do|did) (?:she|he|they|I|you|the patient) live\b"
)
_INSURANCE = (
    r"\binsurances?\b|\binsurers?\b|\binsured\b|\bpay[eo]rs?\b|\bhealth plans?\b|"
    r"\binsurance plans?\b|\bwho pays\b|\bmedicare\b|\bmedicaid\b|\bhealth coverage\b"
)
#: a cause asked of ("what was the cause?", "why?", "of what?", "from what?")
_CAUSE_ASKED = re.compile(
    r"\bcause[sd]?\b|^\W*(?:and\s+)?why\b|\b(?:of|from)\s+what\b|\bwhat\s+(?:of|from)\b", re.I
)

#: "how long?", "for how long?" and nothing else: a length or a duration of what the turn
#: before named
_HOW_LONG = re.compile(r"\W*(?:and\s+)?(?:for\s+)?how\s+long(?:\s+for)?\W*", re.I)

#: what was done for a problem, asked as such ("what is being done for his arthritis?",
#: "what did they do for her ankle sprain?", "how was the fracture treated?"): its
#: treatment, medicines and procedures
_HOW_TREATED = (
    r"\bhow\s+(?:(?:was|were|is|are|has|have)\s+(?:[\w'-]+\s+){0,4}?(?:being\s+|been\s+)?)?"
    r"(?:treated|managed)\b"  # ("colon ca - when diagnosed and how treated?")
)
_DONE_FOR = (
    r"|\b(?:was|were|is|are|being|been)\s+done\s+(?:for|about)\b|\bdoing\s+(?:for|about)\b"
    r"|\b(?:did|do|does|will)\s+(?:they|we|you|the\s+doctors?|anyone)\s+do\s+(?:for|about)\b"
    r"|" + _HOW_TREATED
)
#: "when did she pass?", "has he passed on?": died (said last, not "did she pass her test?")
_PASSED = r"pass(?:ed)?(?=(?:\s+(?:away|on))?\W*$)"
_SECTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "allergies",
        re.compile(
            r"\ballerg\w*|\bintoleran\w*|\breactions? to\b|\bside[- ]effects?\b|\bNKD?A\b"
            r"|\badverse (?:reactions?|effects?|events?|drug reactions?)\b",
            re.I,
        ),
    ),
    (
        "medications",
        re.compile(
            r"\bmedications?\b|\bmeds\b|\bmedicines?\b|\brxs?\b|(?<!adverse )\bdrugs?\b(?! reactions?\b)|\bprescri\w*|\bpills?\b|\btaking\b|\bon any\b"
            # "the pain regimen", "migraine - what does he take?"
            r"|\bregimens?\b|\bwhat\s+(?:does|do|did)\s+(?:she|he|they|I|you|we|the patient)\s+(?:take|use)\b"
            r"|(?<!behind )(?<!date )(?<!caught up )\b(?:on|taking|takes|given|prescribed) (?:any|some)thing\b"
            r"|\b(?:any|some)thing for\b"
            # "what is she on?", "what was he started on in 2016?"
            r"|\bwhat(?:'s|\s+(?:is|was|are|were))\s+(?:she|he|they|I|you|we|the patient)\s+"
            r"(?:(?:currently|now|still)\s+)?on\b(?!\s+(?:the\s+)?(?:problem\s+)?list\b)"
            r"|\b(?:started|put|placed|switched)\s+on\b"
            r"|\b(?:get|gets|got|receive|received)\s+for\b"  # "what did she get for her strep?"
            # "what did they give her for the stroke?", "what was started for the afib?"
            r"|\b(?:give|gives|gave|given)\s+(?:(?:her|him|them|me|you|us)\s+)?for\b"
            r"|\b(?:started|initiated|begun)\s+for\b"
            # "dermatitis - what was used?", "what was used for her rash?"
            r"|\bwhat\s+(?:was|were|is|are|has\s+been)\s+(?:being\s+)?used\b"
            r"|^\W*what\s+(?:was|were|did)\s+(?:she|he|they|I|you|we|the patient)\s+(?:given|get)"
            r"(?:\s+(?:then|(?:on\s+)?that (?:day|date)|at that time))?\W*$"
            r"|\b(?:take|takes|took)\s+(?:\w+\s+)?for\b|\b(?:he|she|they|I|you|we)\s+on\s+for\b"
            r"|\b(?:treated|managed|controlled)\s+with\b"
            # "is her neuropathy treated?", "treatment for his gout?" (not "treated at the ER")
            r"|\btreated\b(?!\s+(?:at|in|by)\b)|\btreatments?\b(?!\s+plans?\b)" + _DONE_FOR,
            # "what is being done for his arthritis?", "what are we doing about her pain?"
            re.I,
        ),
    ),
    (
        "conditions",
        re.compile(
            r"\bconditions?\b|\bdiagnos[ie]s\b|\bproblems?\b|\bproblem list\b|\bdiseases?\b|\bdx\b|\billness\w*"
            r"|\bpmh\b|\b(?:past )?medical history\b|\bpast history\b"
            r"|\b(?:his|her|their|my|the patient'?s) history\b(?!\s+of\b)",
            re.I,
        ),
    ),
    (
        "immunizations",
        re.compile(
            r"\bimmuni[sz]\w*|\bvaccin\w*|\bvax\w*|\bshots?\b|\bjabs?\b|\bboosters?\b", re.I
        ),
    ),
    (
        "encounters",
        re.compile(
            r"\bencounters?\b|\bvisits?\b|\bappointments?\b|\bappts?\b|\badmi(?:ssions?|tted)\b|\bseen\b|\b(?:came|come|comes|coming) in\b|\blast in\b|\bcheck-?ups?\b|\bER\b|\bhospital\w*"
            r"|\bbr(?:ought|ings?) (?:him|her|them|me|you|us) in\b"
            r"|\b(?:has|have|had) (?:she|he|they|I|you|we|the patient) been in"
            r"(?=\?|\s+(?:since|to see|for|lately|recently)\b)"
            r"|\b(?:see|saw|sees|seeing|visited)\s+(?:a|the|her|his|their|my|your|our)?\s*(?:doctor|physician|provider|clinician|GP|PCP|nurse|specialist)s?\b",
            re.I,
        ),
    ),
    (  # "what did they do for her ankle sprain?": the procedures done for it, too
        "procedures",
        re.compile(
            r"\bprocedures?\b|\bsurger\w*|\bsurgical\b|\bPSHx?\b|\boperations?\b|\boperated\b"
            + _DONE_FOR,
            re.I,
        ),
    ),
    (  # "family history?", "does diabetes run in her family?"
        "family",
        re.compile(
            r"\bfamily (?:medical )?histor\w*|\bFHx\b|\bruns? in (?:the|her|his|my|their) family\b",
            re.I,
        ),
    ),
    ("devices", re.compile(r"\bdevices?\b|\bimplants?\b|\bimplanted\b", re.I)),
    (  # "what did the last note say?", "any discharge summary?"
        "notes",
        re.compile(
            r"\bnotes?\b(?!\s+(?:that|of)\b)|\bdischarge summar\w*|\bprogress notes?\b"
            r"|\bclinical notes?\b|\bdocumentation\b",
            re.I,
        ),
    ),
    (  # "who is on her care team?", "what's the plan of care?", "her goals?"
        "care_plans",
        re.compile(
            r"\bcare ?plans?\b|\bplans? of care\b|\btreatment plans?\b|\bcare ?teams?\b"
            r"|\b(?:care|treatment|health|her|his|their|my) goals?\b",
            re.I,
        ),
    ),
    (
        "labs",
        re.compile(r"\blabs?\b|\blab work\b|\bblood ?work\b|\btest results?\b|\bresults?\b", re.I),
    ),
    ("vitals", re.compile(r"\bvitals?\b|\bvital signs?\b", re.I)),
    (  # "anything overdue?", "what is she due for?": the care due, by the record's dates
        "due",
        re.compile(
            r"\boverdue\b|\bcare gaps?\b|\bbehind on\b|\bup[- ]to[- ]date\b|\butd\b|\bcaught up\b"
            r"|\bpreventive care\b|\bpreventative care\b|\bhealth maintenance\b"
            r"|\bdue\b(?:\s+(?:for|on)\s+"
            r"(?:any|some)(?:thing\b|\s+(?:shots?|vaccines?|vaccinations?|immuni[sz]ations?|"
            r"screenings?|tests?|labs?)\b)|\s*\??\s*$)"
            r"|\b(?:what|which|anything)(?:'s)?(?:\s+\w+){0,3}?\s+due\b(?!\s+(?:to|date)\b)"
            r"|\b(?:do|does)\s+(?:I|she|he|they|we|you|the patient)\s+need\s+(?:any|a|an)\b",
            re.I,
        ),
    ),
    (
        "patient",
        re.compile(
            r"\bdemographics?\b|\bborn\b|\bbirth\w*|\bDOB\b|\bd\.o\.b\b|\bhow old\b|\bage\b|\bdie[ds]?\b|\bdeath\b|"
            r"\bdeceased\b|\bpass(?:ed|es)? away\b|\balive\b|\bliving\b|\bdead\b|\bsex\b|\bgender\b|"
            rf"\b{_PASSED}|"
            r"\brace\b|\bethnicity\b|\blanguages?\b|\bspeaks?\b|\binterpreter\b|\bmarital\b|"
            r"\bmarried\b|\bspouse\b|\bhusband\b|\bwife\b|\bdivorced\b|\bwidow(?:ed|er)?\b|"
            r"\bmale\b|\bfemale\b|" + "|".join((_PCP, _KIN, _PHONE, _ADDRESS, _INSURANCE)),
            re.I,
        ),
    ),
)


def names_a_section(words: str) -> bool:
    """The words are a record section's own name ("problems", "allergies"), not a kind of
    thing within it ("cardiac problems")."""
    return any(pattern.fullmatch(words.strip()) for _n, pattern in _SECTIONS)


#: words that say "now" by themselves (not "on", "taking": "what was he on?" is of then)
_NOW_WORDS = r"current(?:ly)?|active|now|still|presently|at present|these days"
_CURRENT = re.compile(
    rf"\b(?:{_NOW_WORDS}|ongoing|taking|on|listed|problem list|rn)\b"
    # "what are his medical problems?", "what are her diagnoses?": the list as it stands
    r"|^\W*what(?:'re|\s+are)\s+(?:all\s+)?(?:her|his|their|my|your|the patient's)\s+(?:\w+\s+)?"
    r"(?:problems|conditions|diagnoses|issues|illnesses|medications|meds|medicines)\W*$"
    # "list his diagnoses", "show me her meds": the list as it stands
    r"|^\W*(?:please\s+)?(?:list|show(?:\s+me)?|give\s+me|pull\s+up)\s+"
    r"(?:her|his|their|my|your|the patient's)\s+(?:\w+\s+)?"
    r"(?:problems|conditions|diagnoses|issues|illnesses|medications|meds|medicines)(?:,?\s+please)?\W*$"
    # "meds list", "meds?", "her medication list": the list as it stands
    r"|^\W*(?:(?:her|his|their|my|the patient's)\s+)?(?:meds?|medications?|medicines?|rxs?)"
    r"(?:\s+list)?\W*$"
    # "what pills does she take?", "which inhaler do I use?": the present tense
    r"|\b(?:does|do)\s+(?:she|he|they|I|you|we|the patient)\s+(?:take|use)\b"
    # "any chronic problems?": the problems that last, on the list now
    r"|\bchronic\s+(?:problems?|conditions?|diseases?|illness(?:es)?|issues?|diagnos[ie]s)\b",
    re.I,
)
#: "started on", "put on": when an order began, not what holds now ("what meds was she
#: started on this year?")
_PUT_ON = re.compile(r"\b(?:started|put|placed|begun|initiated|switched)\s+on\b", re.I)
#: what comes before a named thing asked "which" of: "what insulin …", "which of her
#: statins …", "what kind of cancer …", "and what type of lung cancer …"
_WHICH = re.compile(
    r"\s*(?:and|so|ok(?:ay)?)?,?\s*(?:what|which)\s+(?:(?:kinds?|types?|sorts?)\s+of\s+)?"
    r"(?:(?:her|his|their|my|your|the(?: patient's)?)\s+)?",
    re.I,
)
#: which stage, type or grade of a thing named ("ckd stage?", "what stage is her ckd?",
#: "diabetes type?"): the entries that say it are the answer, not a "yes"
_STAGE = re.compile(
    r"\b(?:what|which)\s+(?:stage|type|grade|class|severity|degree)\b"
    r"|\b(?:stage|type|grade|severity)\s*\??\s*$",
    re.I,
)
#: the dose of a drug asked of, not whether it changed ("warfarin dose?")
_DOSE_OF = re.compile(r"\bdos(?:e|es|age|ages|ing)\b|\bhow much\b(?!\s+(?:weight|did|has))", re.I)
#: the medications no longer taken, asked for as such ("what meds has he stopped?", "any
#: discontinued medications?", "past meds?", "meds she no longer takes", "what did she use
#: to take?")
_STOPPED = re.compile(
    r"\b(?:stop(?:ped|s)?|discontinu\w*|d/?c'?d|c[oa]me off|taken off|no longer|any ?more|"
    r"used to)\b"
    r"|\b(?:past|previous|prior|former|old|earlier|inactive|historical|ended|expired)\s+"
    r"(?:meds|medications?|medicines?|prescriptions?|drugs?|rxs?|orders?)\b",
    re.I,
)
#: "what was the strep throat treated with?", "what did they give him for the pain?"
_PAST_TENSE = re.compile(r"\b(?:was|were|did|got|received|given|had|used)\b", re.I)
_WAS_ON = re.compile(
    r"\b(?:was|were)\s+(?:she|he|they|I|you|we|the patient)\s+(?:ever\s+)?(?:on|taking)\b"
    r"|\b(?:she|he|they|I|you|we)\s+(?:was|were)\s+(?:ever\s+)?(?:on|taking)\b",
    re.I,
)
#: the death as the time a question is of ("meds at the time of death?", "at the end")
_DEATH_NOW = (
    r"at the end|(?:at|by) (?:the )?(?:time of )?(?:(?:her|his|their) )?death"
    r"|when (?:she|he|they) died|(?:before|when) (?:she|he|they) passed"
)
#: what says "now" of a "was … on" question: a now word, or the death ("at the end")
_NOW = re.compile(rf"\b(?:{_NOW_WORDS}|{_DEATH_NOW})\b", re.I)
#: a result asked of as ever out of its range ("was her potassium ever high?")
_EVER_OUT = re.compile(
    r"\bever\b[^?]*\b(?:high|low|elevated|abnormal|out of range|raised|too high|too low)\b"
    r"|\b(?:high|low|elevated|abnormal)\b[^?]*\bever\b",
    re.I,
)
#: a dose said to be changed ("increased", "titrated up", "went down")
_ADJUSTED = (
    r"(?:chang|increas|decreas|adjust|titrat|rais|lower|reduc|doubl|halv|bump|tapered|"
    r"went (?:up|down)|gone (?:up|down)|go (?:up|down))\w*"
)
#: The statistic a question asks for (the first that matches).
_ASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (  # not "what does my A1c mean?" (its meaning)
        "mean",
        re.compile(
            r"\b(?:average|avg)\b|^(?!.*\b(?:does|do|did)\b[^?]*\bmean\b)[^?]*\bmean\b", re.I
        ),
    ),
    (
        "count",
        re.compile(
            r"\bhow many\b|\bhow often\b|\bnumber of\b|\bhow frequently\b|\bcount of\b|"
            r"\bcount (?:the|all|her|his|their|my|your)\b|"
            r"(?<!\w)(?:#|no\.) ?of\b",
            re.I,
        ),
    ),
    (
        "previous",
        re.compile(
            r"\b(?:than|from|vs\.?|versus|compar(?:e|es|ed|ing) (?:to|with)) (?:the |his |her |their |my )?"
            r"(?:one before|previous(?: one| result| value| reading)?|prior(?: one| result)?|"
            r"last time|time before|reading before|before(?=\s*\??\s*$))\b"
            # "and before that?", "the one before it?", "the previous reading?"
            r"|^\W*(?:and\s+|what about\s+)?(?:the\s+(?:one|value|result|reading)\s+)?before\s+"
            r"(?:that|it|this)\W*$|\bthe (?:one|value|result|reading) before (?:that|it|this)\b"
            r"|\bprevious (?:one|value|result|reading)\b"
            # "last a1c and the one before", "latest and prior ldl"
            r"|\band (?:the )?(?:one|value|result|reading) before\b|\band (?:the )?(?:prior|previous)\b",
            re.I,
        ),
    ),
    (  # "why is she on warfarin?", "what was the visit for?": the reason the record
        # links to an order, a procedure or a visit (not "why did he die?": the death)
        "reason",
        re.compile(
            r"^\W*(?:and\s+|so\s+|but\s+)?why\b(?![^?]*\b(?:die[ds]?|death|pass(?:ed)? away)\b)"
            r"|\bwhat\s+(?:is|was|are|were)\s+(?:it|that|this|they|those|these|"
            r"(?:the|her|his|their|my|your)\s+\w+(?:\s+\w+)?)\s+"
            r"(?:(?:prescribed|ordered|given|done|taken)\s+)?for\s*\??\s*$"
            r"|\bwhat\s+for\b|\breasons?\s+(?:for|why)\b|\bindications?\b"
            # "what was I prescribed metformin for?", "what's that pill for?"
            r"|^\W*what(?:'s|\s+(?:is|was|are|were))\b[^?]*"
            r"(?<!\bdue)(?<!\brisk)(?<!\btested)(?<!\bscreened)(?<!\bchecked)(?<!\blooking)"
            r"(?<!\bwaiting)\s+for\s*\??\s*$"
            # "for what condition is she on it?", "what condition was it meant to treat?"
            r"|\bfor\s+what\s+(?:condition|problem|reason|diagnosis|illness)\b"
            # "inhaler for what?", "the b12 - for what?"
            r"|\bfor\s+what\s*\??\s*$"
            r"|\bwhat\s+(?:condition|problem|diagnosis|illness)\b[^?]*"
            r"\b(?:treat\w*|for|prescribed|given|meant|taking|on)\b",
            re.I,
        ),
    ),
    (  # "has the warfarin dose changed?", "did they increase her lisinopril dose?": the
        # strengths and forms ordered, not a series' change
        "dose",
        re.compile(
            rf"\bdos(?:e|es|age|ages|ing)\b[^?]*?\b{_ADJUSTED}"
            rf"|\b{_ADJUSTED}\s+(?:\w+\s+){{0,3}}?dos(?:e|es|age|ages|ing)\b"
            r"|\bsame dose\b",
            re.I,
        ),
    ),
    (
        "change",
        re.compile(
            r"\b(?:go(?:ne)? up or down|gone? down or up|up or down|"
            r"increased? or decreased?|decreased? or increased?|risen or fallen|"
            r"trend(?:ing|ed|s)?|better or worse|improv\w* or worse\w*|"
            r"first and (?:the )?(?:last|latest)|first vs\.? (?:last|latest))\b"
            r"|\bby how much\b|\bhow much did\b|\bdifference\b|\bchange in\b"
            # "weight change since 2019?", "a1c change?"
            r"|\bchange\s+(?:since|over|from|during)\b|\bchange\s*\??\s*$"
            # "has her A1c gotten better?": its course ("has her asthma improved?" too)
            r"|\b(?:better|worse|improv\w*|worsen\w*|deteriorat\w*|progress(?:ed|ing|ion)|declin\w*|dropp(?:ed|ing)|rising)\b"
            r"|\b(?:gone|went|going|go|gotten|got|come|came|creep\w*|trend\w*|climb\w*|drift\w*|"
            r"tick\w*|inch\w*)\s+(?:up|down|higher|lower)\b"
            r"|\b(?:has|have|had|did|was|were|is|are)\b[^?]*\b(?:increas|decreas)(?:ed|ing)\b"
            r"|\bhow\s+(?:has|have|did|does|do|is|are)\s+(?:\w+\s+){0,3}"
            r"(?:chang|mov|develop|evolv|progress)\w*"
            # "weight - any loss?", "bp meds - any changes over the years?"
            # (not "any loss of consciousness?": a thing of its own)
            r"|\bany\s+(?:changes?|loss|gain|drop|rise|increase|decrease)\b(?!\s+(?:of|in)\b)"
            r"|\b(?:has|have|had)\b[^?]*\bchanged\b",
            re.I,
        ),
    ),
    (
        "range",
        re.compile(
            r"\b(?:lowest|highest|minimum|maximum|min|max|peak)\b"
            # "troponin - how high did it go?", "how low has her sodium been?"
            r"|\bhow (?:high|low) (?:did|has|had|does|do|have) (?:[\w'-]+\s+){0,3}?"
            r"(?:go|gone|get|gotten|got|reach|reached|been|run|ran)\b",
            re.I,
        ),
    ),
    (  # "has he passed?", "is she deceased?", "did he die?": whether, a yes or no
        "dead",
        re.compile(
            r"^\W*(?:(?:so|and|but)\s+)?(?:is|has|have|did|was)\s+(?:she|he|they|I|the patient)\s+"
            r"(?:already\s+|since\s+)?(?:died|die|dead|deceased|expired|"
            r"pass(?:ed)?(?:\s+(?:away|on))?)\W*$",
            re.I,
        ),
    ),
    (
        "death",
        re.compile(
            rf"\b(?:die[ds]?|death|deceased|pass(?:ed|es)? away|{_PASSED})\b",
            re.I,
        ),
    ),
    ("alive", re.compile(r"\b(?:alive|living|still with us)\b", re.I)),
    (  # "how long was his last hospital stay?", "length of stay?" (not "how long has she
        # had it?": since when)
        "length",
        re.compile(
            r"\bhow long (?:was|were|did)\b(?!.*\b(?:on|taking|have|had)\b)"
            r"|\blength of (?:the |her |his |their |my )?(?:last |latest |most recent )?stays?\b"
            r"|\b(?-i:LOS)\b",
            re.I,
        ),
    ),
    (  # "since when?", "when was it first recorded?", "her earliest HbA1c"
        "first",
        re.compile(
            r"\b(?:first|earliest|initial(?:ly)?)\b(?!\s+(?:and|vs\.?|versus|to|or)\b)"
            r"|\bsince when\b|\bonset\b|\bhow long (?:has|have|had|on)\b|\bdiagnosed\b"
            r"|\bwhen did (?:she|he|they|i|you|the patient) (?:first )?(?:get|develop|start|begin)\b"
            r"|\bwhen did (?:that|it|this|those|these|they) (?:first )?(?:start|begin)\b"
            # "when did the allergy shots start?", "when did her migraines begin?"
            r"|\bwhen did (?:the|her|his|their|my|your)\b[^?;]*?\b(?:start|begin)\b"
            r"|\bwhen (?:was|were) (?:it|that|this|they) (?:first )?started\b"
            r"|\bwhen (?:was|were) (?:\w+\s+){1,5}?(?:found|discovered|detected|picked up)\b"
            # "ckd - when did it progress to stage 2?": when that stage was first recorded
            r"|\bwhen did (?:it|that|this|she|he|they|the \w+|her \w+|his \w+) "
            r"(?:progress|advance|turn into|become|reach|go to)\w*\b",
            re.I,
        ),
    ),
    (  # "is she off metformin?", "has her sinusitis resolved?": whether it has ended,
        # which its entries' statuses answer (not "when was it stopped?": a date)
        "ended",
        re.compile(
            r"^(?!.*\b(?:when|what|which|how|why|who|where|should|could|would|can|may|might|"
            r"need|ought|safe|ok|okay|fine|right|time|plan\w*|want\w*|consider\w*|recommend\w*)\b).*(?:\b(?:off|stop|stopped|discontinued|quit|no longer|resolved|cured|"
            r"gone|ended|cleared(?: up)?|went away|healed|over it)\b|\bd/?c'?d\b)",
            re.I,
        ),
    ),
    (
        "latest",
        re.compile(
            r"\b(?:last(?!\s+(?:\w+\s+)?(?:days?|weeks?|wks?|months?|mos|years?|yrs?|decades?|spring|"
            r"summer|fall|autumn|winter)\b)|latest|most recent(?:ly)?|newest)\b",
            re.I,
        ),
    ),  # not "over the last ten years" (a window)
    (
        "ever",  # a yes or no ("has she ever had surgery?"), not "what surgeries has she had?"
        re.compile(
            r"^(?!\W*(?:what|which|list|name|show)\b)[^?;]*?(?:"
            r"\bever\b|\bhistory of\b|\b(?:has|have|had) (?:she|he|they|i|the patient) "
            r"(?:ever )?(?:had|been)\b|\bpreviously\b"
            # "did she have preeclampsia?", "did he break his arm?": of then, not now
            r"|^\W*(?:(?:so|and|but)\s+)?did\s+(?:she|he|they|i|you|we|the patient)\b"
            r"|\bin the past\b(?!\s+(?:\w+\s+)?(?:days?|weeks?|wks?|months?|mos|years?|yrs?|decades?)\b)"
            # "was she given tPA?", "was he ever treated for it?": of then, as "did she"
            r"|^\W*(?:(?:so|and|but)\s+)?(?:was|were)\s+(?:she|he|they|i|you|we|the patient)\s+"
            r"(?:ever\s+)?(?:given|prescribed|treated|vaccinated|immuni[sz]ed|tested|screened|"
            r"admitted|hospitali[sz]ed|operated)\b"
            # "any uti history?", "asthma history?" (the name blanked out; not "his history?",
            # "medical history?": a section)
            r"|^\W*(?:any\W+)?history\W*$)",
            re.I,
        ),
    ),
    ("sex", re.compile(r"\b(?:sex|gender|male or female|female or male)\b", re.I)),
    ("kin", re.compile(_KIN, re.I)),
    ("phone", re.compile(_PHONE, re.I)),
    ("address", re.compile(_ADDRESS, re.I)),
    ("insurance", re.compile(_INSURANCE, re.I)),
    (  # "married?", "marital status?", "does she have a husband?"
        "marital",
        re.compile(
            r"\bmarried\b|\bmarital\b|\bspouse\b|\bhusband\b|\bwife\b|\bdivorced\b|"
            r"\bwidow(?:ed|er)?\b",
            re.I,
        ),
    ),
    (  # "what language does he speak?", "needs an interpreter?"
        "language",
        re.compile(r"\blanguages?\b|\bspeaks?\b|\binterpreter\b", re.I),
    ),
    ("pcp", re.compile(_PCP, re.I)),
    (
        "birth",
        re.compile(r"\b(?:born|birth ?date|date of birth|DOB|birthday|how old|age)\b", re.I),
    ),
    (  # "is her diabetes controlled?", "up to date on her flu shot?": a judgement of the
        # thing, which the record's entries inform and do not answer "yes" by existing
        "judge",
        re.compile(
            r"\b(?:controlled|uncontrolled|under control|control|managed|up[- ]to[- ]date|utd|due|overdue|"
            r"behind|caught up|"
            r"normal|abnormal|high|low|elevated|good|bad|ok(?:ay)?|fine|stable|in range|categor(?:y|ies)|"
            r"(?:at|to|on|within|in) (?:the )?(?:goal|target)|"
            r"out of range|outside (?:the |its )?(?:normal |reference )?range|flagged|critical|"
            r"right|appropriate|working|effective|safe|indicated|helping|enough|should|need|needs|"
            # the thing's ending or course: a "yes" from its entries would invert it ("has
            # her sinusitis resolved?", "is she off metformin?", "has it improved?")
            r"off|stop\w*|discontinu\w*|quit|no longer|resolv\w*|cured|gone|ended|cleared|"
            r"serious|severe|dangerous|concern\w*|worr\w*|"
            # "how is her diabetes doing?": how it goes, which what monitors it shows
            r"how\b[^?]*?\b(?:doing|going(?!\s+(?:on|to)\b))|"
            # "how's his COPD?", "how are her kidneys?": the same, said shortly
            r"how(?:'s|\u2019s|\s+is|\s+are)\s+(?:her|his|my|their|your)(?=\s[^?.;,]*\W*$)|"
            r"remission|free of|negative)\b",
            re.I,
        ),
    ),
    (
        "yesno",
        re.compile(
            r"^\W*(?:(?:so|and|but)\s+)?(?:do|does|did|is|are|was|were|has|have|had|am|"
            r"any|ever|still|allergic|on(?!\s+(?:what|which|when)\b))\b"
            # or no question word at all: "Obesity on the problem list?"
            r"|^(?!.*\b(?:what|when|which|who|whom|whose|how|where|why|list|show|tell|give|"
            r"name)\b)[^?]*\?\s*$",
            re.I,
        ),
    ),
)
_JUDGE = dict(_ASKS)["judge"]
_REASON = dict(_ASKS)["reason"]
_NARRATIVE = re.compile(
    r"\b(?:describe|explain|summari[sz]e|summary|tell me (?:about|more)|in (?:great |more )?detail|"
    r"discuss|overview|elaborate|walk me through|why)\b"
    r"|\bwhat (?:does|do|did) [^?]*\bmean\b",
    re.I,
)
#: a problem's treatment asked of by that noun ("lung cancer treatment?", "any treatment
#: for the gout?"), not of what is taken now ("is she getting treatment?", "current tx?")
_TREATMENT_NOUN = re.compile(r"\b(?:treatments?|tx)\b(?!\s+plans?\b)", re.I)
_TAKEN_NOW = re.compile(r"\b(?:is|are|am|getting|receiving|taking|on)\b", re.I)

#: a reason asked of in a yes or no ("was it discontinued for a reason?")
_A_REASON = re.compile(r"\b(?:for\s+a\s+reason|reasons?|why)\b", re.I)
#: a drug asked of as given, an event ("tpa given?", "did he get chemo?"), not as taken
_GIVEN_ONCE = re.compile(
    r"\b(?:given|gave|give|received|receive|got|get|had|administered|tried|used)\b", re.I
)
#: an order's end asked the reason of ("why was it stopped?", "why did she come off it?")
_STOP_ASKED = re.compile(
    r"\b(?:stop|stopp?ed|stopping|discontinu\w*|d/?c'?d|held|came\s+off|taken\s+off|quit)\b", re.I
)
#: an allergy's reaction asked of ("what's the reaction?", "what happens when she eats it?")
_REACTION = re.compile(r"\breact(?:s|ed|ions?)?\b|\bwhat\s+happens\b", re.I)
_ALLERGY_WORD = re.compile(r"\ballerg\w*|\bintoleran\w*", re.I)


def _treatment_history(focus: Focus, question: str) -> None:
    """A problem's treatment asked of by the noun, with no word of now: what was given and
    done for it, of any status (a cancer's chemotherapy, stopped when the course ended, and
    its procedures), not only what is taken today."""
    if (
        focus.current
        or not _TREATMENT_NOUN.search(question)
        or _TAKEN_NOW.search(question)
        or not any(c.kind in ("condition", "finding") for _w, c in focus.concepts)
    ):
        return
    focus.sections = list(dict.fromkeys([*focus.sections, "medications", "procedures"]))
    focus.past = True
    focus.treated = True


#: "a physical", "his last physical": the examination visit (not "physical therapy")
_A_PHYSICAL = re.compile(
    r"\bphysicals?\b(?!\s+(?:therap|activit|exam|function|health|medicine|fitness|condition|"
    r"symptom|abuse|disabilit|strength|appearance))",
    re.I,
)
#: an abbreviation that names a place of care before a visit word ("ED visits", "ER trip")
_VISIT_ABBREVIATION = re.compile(
    r"\b(?:ED|ER|ICU|A&E)\b(?=\s+(?:visits?|trips?|admissions?|encounters?|stays?)\b)"
)
_FOLLOW_UP = re.compile(
    r"\b(?:it|its|that|this|those|these|them|they|same|one)\b|^\s*(?:and|what about|how about)\b",
    re.I,
)
#: Words that point back at something named before (not "one", "same": "the one before").
_POINTS_BACK = re.compile(
    r"\b(?:it|its|that one|like that|like those|those|these|them|the same one)\b", re.I
)
_WHY = re.compile(r"\bwhy\b", re.I)
#: a treatment asked of by that word ("what treatment did she get?"), not a list of
#: medications ("what meds is she on?")
_TREATMENT = re.compile(r"\btreat\w*|\btherap\w*|\bdone\b|\bmanaged\b|\bgiven\b", re.I)
#: "when was that?", "when did it start?": a date asked of what was named before
_WHEN = re.compile(r"^\W*(?:and\s+)?when\b", re.I)
#: a follow-up asking for the treatment of what the turn before named
_FOR_IT = re.compile(
    r"\b(?:for|about|to (?:treat|control|manage|lower))\s+(?:it|that|this|them|those)\b"
    r"|\b(?:it|that|this|they)\s+(?:being\s+|been\s+)?treated\b",
    re.I,
)
_SEASONS = {
    "spring": (3, 5),
    "summer": (6, 8),
    "fall": (9, 11),
    "autumn": (9, 11),
    "winter": (12, 2),
}
_UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {
    m.lower(): i for i, m in enumerate(calendar.month_abbr) if m
}
_NUM_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
              "nine": 9, "ten": 10, "twelve": 12, "eighteen": 18, "a": 1, "an": 1}  # fmt: skip
_DATE = r"(\d{4}-\d{2}-\d{2})"


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _minus(day: dt.date, n: int, unit: str) -> dt.date:
    if unit == "year":
        try:
            return day.replace(year=day.year - n)
        except ValueError:
            return day.replace(year=day.year - n, day=28)
    if unit == "month":
        y, m = divmod(day.year * 12 + day.month - 1 - n, 12)
        return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))
    return day - dt.timedelta(days=n * _UNITS[unit])


#: What a check-up is called, in an encounter's type or in a question ("since his last
#: physical"): general English and the common encounter-type displays.
_CHECKUP = re.compile(
    r"\bcheck[- ]?ups?\b|\bphysicals?\b|\bphysical exam\w*|\bgeneral exam\w*|"
    r"\bwell(?:ness)?[- ](?:child|adult|woman|man|visit|exam)\w*|\bwellness\b|"
    r"\bannual (?:exam|visit|review)\w*|\bhealth maintenance\b|\bpreventive\b",
    re.I,
)
#: "her last visit", "my most recent physical": the record's last encounter of a kind
_LAST_ENCOUNTER = (
    r"(?:her|his|their|my|the|your|this patient's|the patient's) "
    r"(?:last|previous|prior|most recent|latest) "
    r"((?:annual |routine |yearly )?(?:visit|appointment|encounter|check-?up|physical(?: exam\w*)?|"
    r"exam|wellness visit|well visit{more}))\b"
)
#: "at my last visit", "during her most recent check-up": that encounter's day
_AT_LAST = re.compile(r"\b(?:at|during|on|in) " + _LAST_ENCOUNTER.format(more=""), re.I)
_SINCE_LAST = re.compile(r"\bsince " + _LAST_ENCOUNTER.format(more="|annual|review"), re.I)


#: the death as a time, not as what is asked: "before he died", "at the time of death",
#: "when she passed"
_AT_DEATH = re.compile(
    r"\b(?:before|when|at|around|near|by|until|till|prior to|up to)\s+(?:the\s+)?"
    r"(?:time\s+of\s+)?(?:(?:her|his|their|the patient's)\s+)?(?:death|passing)\b"
    r"|\b(?:before|when|until|till|by the time)\s+(?:she|he|they|the patient)\s+"
    r"(?:died|passed(?:\s+away)?)\b",
    re.I,
)


_BEFORE = re.compile(r"before|prior|until|till|up to|by", re.I)
_DEATH_WORD = re.compile(r"\bdeath\b", re.I)
#: a side said just before a part of the body ("right eye", "both eyes", "left arm")
_SIDE = re.compile(r"\b(?:right|left|both|each|either|r|l)\s+$", re.I)
#: the visits a procedure or therapy is counted in, said just after its name
_VISITS_OF = re.compile(r"\s+(?:visits?|sessions?|appointments?|appts?)\b", re.I)
#: a while before the death ("2 years before she died", "a month before his death")
#: a while said: "a year", "6 months", "two weeks"
_A_WHILE = (
    r"\b(?P<n>an?|one|two|three|four|five|six|twelve|eighteen|the|\d+)\s+"
    r"(?P<unit>day|week|month|year)s?"
)


def _before(day: dt.date, said: re.Match[str]) -> dt.date:
    """The day a while (``_A_WHILE``, said) before ``day``."""
    n = said.group("n").lower()
    return _minus(day, int(n) if n.isdigit() else _NUM_WORDS.get(n, 1), said.group("unit").lower())


_WHILE_BEFORE_DEATH = re.compile(
    _A_WHILE + r"\s+(?:before|prior to)\s+(?:(?:her|his|their|the patient's)\s+death|"
    r"(?:she|he|they|the patient)\s+(?:died|passed(?:\s+away)?))\b",
    re.I,
)


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with each span blanked out (its positions kept)."""
    for a, b in spans:
        text = text[:a] + " " * (b - a) + text[b:]
    return text


#: "her blood pressure when she was pregnant", "his A1c while on metformin", "during her
#: pregnancy": the span of that problem or medication dates the question
_DURING = re.compile(
    r"\b(?:during|when|while|whilst|in)\s+"
    r"(?:(?:she|he|they|I|you|we|the patient)\s+(?:was|were|is|are|had|has)\s+)?"
    r"(?:(?:on|taking|having|with)\s+)?(?:(?:her|his|their|my|your|the|a|an)\s+)?$",
    re.I,
)
_SPANNING = ("condition", "drug", "drug_class")


def _span_of(
    concepts: Sequence[Concept],
    evidence: EvidenceSet,
    terminology: Terminology,
    as_of: dt.date,
) -> tuple[dt.date, dt.date] | None:
    """The days a problem or medication of the record held, for "during her pregnancy":
    a problem's latest episode (its onset to its abatement, or to today when it has not
    ended); a medication's first order to its last (to today when still current)."""
    spans: list[tuple[dt.date, dt.date]] = []
    for section in ("conditions", "medications"):
        for item in evidence.section(section):
            known = item_concepts(item, terminology)
            if not any(terminology.implies(k, c) for k in known for c in concepts):
                continue
            days = [(_day(p.date), _day(p.end)) for p in item.points]
            starts = [a for a, _b in days if a]
            if not starts:
                continue
            if item.kind == "medication":
                end = as_of if item.status == "current" else max(starts)
                spans.append((min(starts), end))
            else:
                spans.extend((a, b or as_of) for a, b in days if a)
    return max(spans) if spans else None


#: "after the heart attack", "since her stroke", "following the surgery": what dates it
_AFTER = re.compile(
    r"\b(?:after|since|following|post)\s+(?:(?:her|his|their|my|your|the|a|an)\s+)?$", re.I
)
_EVENTS = ("condition", "finding", "procedure")
#: since a drug was started ("ldl since the statin?", "a1c since starting metformin?")
_SINCE_STARTED = re.compile(
    r"\b(?:after|since|following)\s+(?:(?:starting|beginning|going on|being on|"
    r"(?:she|he|they|i|you) (?:started|began|went on|was put on|were put on))\s+)?"
    r"(?:(?:her|his|their|my|your|the|a|an)\s+)?$",
    re.I,
)
#: the word after an event that names its diagnosis ("after the alzheimer's diagnosis")
_ITS_DIAGNOSIS = re.compile(r"\s*(?:diagnos[ie]s|dx|onset)\b", re.I)


def _first_day(
    concepts: Sequence[Concept], evidence: EvidenceSet, terminology: Terminology
) -> dt.date | None:
    """The first day the record holds a problem or a procedure of those concepts."""
    days = [
        day
        for item in items_of(
            evidence, concepts, terminology, ("conditions", "procedures", "medications")
        )
        for p in item.points
        if (day := _day(p.day)) is not None
    ]
    return min(days) if days else None


def _first_event_day(
    previous: Focus, evidence: EvidenceSet | None, terminology: Terminology
) -> dt.date | None:
    """The first day of the problems or procedures the turn before asked of ("heart
    attack?" — "what was he started on after?": from the infarction's first day)."""
    events = [c for _w, c in previous.concepts if c.kind in _EVENTS]
    if evidence is None or not events:
        return None
    return _first_day(events, evidence, terminology)


def _over(concepts: Sequence[Concept], evidence: EvidenceSet, terminology: Terminology) -> bool:
    """The record holds problems of those concepts, and none of them is active."""
    entries = items_of(evidence, concepts, terminology)
    return bool(entries) and all(item.status != "active" for item in entries)


#: how long after a problem began a treatment given once is taken as given for its onset
_AT_ONSET = dt.timedelta(days=7)


#: RxNorm dose forms given by a clinician, not taken over time
_ADMINISTERED_FORM = re.compile(r"\b(?:injection|injectable|infusion|intravenous)\b", re.I)


def _done_once(item: EvidenceItem) -> bool:
    """A procedure, or a drug given by a clinician (an administration, an injection), not
    a prescription taken over time."""
    return (
        item.kind == "procedure"
        or all(p.source.type == "MedicationAdministration" for p in item.points)
        or bool(_ADMINISTERED_FORM.search(item.name))
    )


def _given_at_onset(
    asked: Sequence[Concept],
    topics: Sequence[Concept],
    evidence: EvidenceSet,
    terminology: Terminology,
) -> bool:
    """Whether what is asked of (a drug, a procedure) was given only at a problem's onset —
    every order or procedure of it within a week of the problem's first day, none held
    now ("stroke - any tpa?": the alteplase of the stroke's day, for a stroke the record
    keeps active)."""
    first = _first_day(topics, evidence, terminology)
    entries = items_of(evidence, asked, terminology, ("medications", "procedures"))
    if first is None or not entries or any(i.status in ("active", "current") for i in entries):
        return False
    if not all(_done_once(i) for i in entries):  # "knee arthritis - pain meds?": a
        return False  # prescription taken over time is asked of as it stands
    days = [d for i in entries for p in i.points if (d := _day(p.day)) is not None]
    return bool(days) and all(first <= d <= first + _AT_ONSET for d in days)


def _day(text: str | None) -> dt.date | None:
    """The day of a FHIR date or dateTime, or ``None`` (absent or not a date)."""
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _death_day(evidence: EvidenceSet | None) -> dt.date | None:
    """The day the patient died, when the record says (relative windows end there)."""
    for item in evidence.section("patient") if evidence is not None else ():
        d = item.demographics
        if d is not None and d.deceased and d.death_date:
            return _day(d.death_date)
    return None


def _dated_after(evidence: EvidenceSet | None, death: dt.date | None) -> bool:
    """Whether the record holds entries dated after the day the patient died."""
    if evidence is None or death is None:
        return False
    return any((day := _day(item.date)) is not None and day > death for item in evidence.items)


def anchors_of(evidence: EvidenceSet | None) -> dict[str, dt.date]:
    """The dates a relative window may start from: the last visit (``"visit"``) and the
    last check-up (``"check-up"``: an encounter whose type reads as one)."""
    out: dict[str, dt.date] = {}
    if evidence is None:
        return out
    visits: list[str] = []
    checkups: list[str] = []
    for item in evidence.section("encounters"):
        words = " ".join([item.name, item.subtype or "", *(c.display or "" for c in item.codings)])
        days = [p.day for p in item.points if p.day]
        visits += days
        if _CHECKUP.search(words):
            checkups += days
    for key, days in (("visit", visits), ("check-up", checkups)):
        try:
            if days:
                out[key] = dt.date.fromisoformat(max(days)[:10])
        except ValueError:
            continue
    return out


_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_AGO = re.compile(
    r"\b(a|an|one|two|three|four|five|six|\d{1,2})\s+(day|week|month|year)s?\s+ago\b", re.I
)


def _ago_window(question: str, as_of: dt.date) -> Window | None:
    """ "What was her A1c a year ago?": what the record held then, up to that day. Read in
    questions only: in an answer, "5 months ago" is a rounded duration, not a window its
    dates must lie in."""
    m = _AGO.search(_spelled_out(question.lower()))
    if m is None:
        return None
    n = _NUMBER_WORDS.get(m.group(1).lower()) or int(m.group(1))
    return Window(None, _minus(as_of, n, m.group(2).lower()), m.group(0))


#: units of time as clinicians abbreviate them ("in the last 5 yrs", "past 6 mos")
_UNIT_WORDS = {"yr": "year", "yrs": "years", "mo": "month", "mos": "months", "mth": "month",
               "mths": "months", "wk": "week", "wks": "weeks", "dys": "days"}  # fmt: skip
_ABBREVIATED = re.compile(r"(?<=\d )(yrs?|mos?|mths?|wks?|dys)\b|(?<=\bthe last )(yr|mo|wk)\b")


def _spelled_out(text: str) -> str:
    return _ABBREVIATED.sub(lambda m: _UNIT_WORDS[m.group(1) or m.group(2)], text)


#: a visit still to come ("my next appointment", "any upcoming visits?")
_UPCOMING = re.compile(
    r"\b(?:next|upcoming|future|scheduled|coming)\s+(?:\w+\s+)?"
    r"(?:visits?|appointments?|appts?|encounters?|check-?ups?|follow-?ups?)\b",
    re.I,
)


def window_of(
    question: str,
    as_of: dt.date,
    anchors: dt.date | Mapping[str, dt.date] | None = None,
) -> Window | None:
    """The time window a question asks about, resolved against ``as_of``; ``anchors``
    (:func:`anchors_of`, or the last visit's date) resolve "since her last visit" and
    "since his last physical" to the days after that encounter."""
    q = _spelled_out(question.lower())  # "in the last 5 yrs"
    marks = {"visit": anchors} if isinstance(anchors, dt.date) else dict(anchors or {})
    if m := re.search(r"\bsince\s+([a-z]{3,9})\b(?:\s+(\d{4}))?", q):
        month = _MONTHS.get(m.group(1))  # "since January": its first day, the last one past
        if month and (m.group(1) != "may" or m.group(2)):  # not "since she may …"
            year = int(m.group(2)) if m.group(2) else as_of.year - (month > as_of.month)
            return Window(dt.date(year, month, 1), as_of, m.group(0))
    if m := _UPCOMING.search(q):  # "when is my next appointment?": after today, none yet
        return Window(as_of + dt.timedelta(days=1), None, m.group(0))
    if m := re.search(rf"\b(?:between|from)\s+{_DATE}\s+(?:and|to|until|through)\s+{_DATE}", q):
        return Window(
            dt.date.fromisoformat(m.group(1)), dt.date.fromisoformat(m.group(2)), m.group(0)
        )
    if m := re.search(r"\b(?:between|from)\s+(\d{4})\s+(?:and|to|until|through)\s+(\d{4})\b", q):
        return Window(dt.date(int(m.group(1)), 1, 1), dt.date(int(m.group(2)), 12, 31), m.group(0))
    if m := re.search(
        r"\b(?:in|during|over|within)\s+(?:the|her|his|their|my)\s+(?:past|last|previous|prior|final)\s+(\w+)\s+(day|week|month|year)s?\b",
        q,
    ):
        n = int(m.group(1)) if m.group(1).isdigit() else _NUM_WORDS.get(m.group(1))
        if n:
            return Window(_minus(as_of, n, m.group(2)), as_of, m.group(0))
    if m := re.search(
        r"\b(?:in|during|over|within)\s+(?:the|her|his|their|my)\s+(?:past|last|previous|prior|final)\s+(day|week|month|year)\b",
        q,
    ):
        return Window(_minus(as_of, 1, m.group(1)), as_of, m.group(0))
    if m := re.search(
        r"\b(?:trend\w*|chang\w*|course|trajectory)\s+over\s+(?:the\s+)?(\d+)\s+(day|week|month|year)s?\b",
        q,
    ):  # "bmi trend over 5 years": the last 5 (not "no a1c in over 2 years": a gap)
        return Window(_minus(as_of, int(m.group(1)), m.group(2)), as_of, m.group(0))
    if m := re.search(r"\b(?:past|last)\s+(\d+)\s+(day|week|month|year)s?\b", q):
        return Window(_minus(as_of, int(m.group(1)), m.group(2)), as_of, m.group(0))
    if m := re.search(r"\b(?:past|previous|prior)\s+(day|week|month|year|yr|mo|wk)\b", q):
        # "wt trend past yr": the 12 months up to today (not "last year": the calendar year)
        unit = {"yr": "year", "mo": "month", "wk": "week"}.get(m.group(1), m.group(1))
        return Window(_minus(as_of, 1, unit), as_of, m.group(0))
    if m := re.search(r"\b(?:in |over |during |within )?the (?:past|last|previous) decade\b", q):
        return Window(_minus(as_of, 10, "year"), as_of, m.group(0))
    if m := re.search(r"\b(this|last|past|previous)\s+(?:(?:flu|influenza)\s+)?season\b", q):
        # "a flu shot this season?": a season's influenza vaccine is given from late
        # summer (ACIP: ideally by the end of October), so a season here runs from
        # August 1 to July 31
        start = dt.date(as_of.year - (as_of.month < 8), 8, 1)
        if m.group(1) == "this":
            return Window(start, as_of, m.group(0))
        return Window(start.replace(year=start.year - 1), start - dt.timedelta(days=1), m.group(0))
    if re.search(r"\bthis year\b", q):
        return Window(dt.date(as_of.year, 1, 1), as_of, "this year")
    if m := re.search(
        r"\b(?:compared\s+(?:to|with)|vs\.?|versus|than)\s+(?:(?:this time\s+)?last year|a year ago)\b",
        q,
    ):  # "my weight now compared to last year": from then to now (a change across it)
        return Window(dt.date(as_of.year - 1, 1, 1), as_of, m.group(0))
    if m := re.search(r"\b(?:since|from|after)\s+(?:the\s+start\s+of\s+)?last year\b", q):
        return Window(dt.date(as_of.year - 1, 1, 1), as_of, m.group(0))  # up to now
    if re.search(r"\blast year\b", q):
        return Window(dt.date(as_of.year - 1, 1, 1), dt.date(as_of.year - 1, 12, 31), "last year")
    if re.search(r"\bthis month\b", q):
        return Window(as_of.replace(day=1), as_of, "this month")
    if m := re.search(r"\b(?:(since|after)\s+)?last (month|week)\b", q):
        # the calendar month or week (Monday to Sunday) before this one
        if m.group(2) == "month":
            end = as_of.replace(day=1) - dt.timedelta(days=1)
            start = end.replace(day=1)
        else:
            start = as_of - dt.timedelta(days=as_of.weekday() + 7)
            end = start + dt.timedelta(days=6)
        return Window(start, as_of if m.group(1) else end, m.group(0))
    if m := re.search(r"\blast (spring|summer|fall|autumn|winter)\b", q):
        first, last = _SEASONS[m.group(1)]
        end_year = as_of.year
        while True:  # the latest season that has ended
            end = _month_end(end_year, last)
            start = dt.date(end_year - (1 if first > last else 0), first, 1)
            if end < as_of:
                since = re.search(rf"\b(?:since|from|after)\s+{m.group(0)}", q)
                return (
                    Window(start, as_of, since.group(0))
                    if since
                    else Window(start, end, m.group(0))
                )
            end_year -= 1
    if m := _SINCE_LAST.search(q):
        kind = "check-up" if _CHECKUP.search(m.group(1)) else "visit"
        day = marks.get(kind)
        if day is not None:
            return Window(day + dt.timedelta(days=1), as_of, f"since the last {kind} ({day})")
    if m := _AT_LAST.search(q):
        kind = "check-up" if _CHECKUP.search(m.group(1)) else "visit"
        day = marks.get(kind)
        if day is not None:
            return Window(day, day, m.group(0))
    if m := re.search(rf"\b(?:since|after)\s+{_DATE}", q):
        return Window(dt.date.fromisoformat(m.group(1)), as_of, m.group(0))
    if m := re.search(r"\bsince\s+((?:19|20)\d\d)\b(?!-)", q):  # "since 2019": from its start
        return Window(dt.date(int(m.group(1)), 1, 1), as_of, m.group(0))
    if m := re.search(rf"\b(?:on or before|up to|until|through|as of)\s+{_DATE}", q):
        return Window(None, dt.date.fromisoformat(m.group(1)), m.group(0))
    if m := re.search(rf"\bbefore\s+{_DATE}", q):
        return Window(None, dt.date.fromisoformat(m.group(1)) - dt.timedelta(days=1), m.group(0))
    if m := re.search(r"\b(?:in|during)\s+(" + "|".join(_MONTHS) + r")\.?\s+(\d{4})\b", q):
        month, year = _MONTHS[m.group(1)], int(m.group(2))
        return Window(dt.date(year, month, 1), _month_end(year, month), m.group(0))
    if m := re.search(r"\bsince\s+(\d{4})\b", q):
        return Window(dt.date(int(m.group(1)), 1, 1), as_of, m.group(0))
    if m := re.search(r"\bbefore\s+(\d{4})\b", q):
        return Window(None, dt.date(int(m.group(1)) - 1, 12, 31), m.group(0))
    if m := re.search(r"\bafter\s+(\d{4})\b", q):
        return Window(dt.date(int(m.group(1)) + 1, 1, 1), as_of, m.group(0))
    if m := re.search(r"\b(?:in|during|for)\s+(\d{4})\b", q):
        year = int(m.group(1))
        return Window(dt.date(year, 1, 1), dt.date(year, 12, 31), m.group(0))
    if m := re.search(r"(?<![-/.\d])\b((?:19|20)\d\d)\b(?![-/.]\d)\W*$", q):
        # "flu vax 2024?": a year said last, as a note's heading would
        year = int(m.group(1))
        return Window(dt.date(year, 1, 1), dt.date(year, 12, 31), m.group(1))
    return None


def _members_named(
    words: str, concepts: Sequence[Concept], terminology: Terminology
) -> list[Concept]:
    """The member of a group of tests that a word of the group's phrase names alone:
    "my cholesterol number" names the lipid tests, and "cholesterol" alone the total
    cholesterol, which comes first (the group follows)."""
    groups = [c for c in concepts if c.kind in ("lab", "vital") and not c.codes]
    if not groups:
        return []
    out: list[Concept] = []
    for word in re.findall(r"[A-Za-z][\w-]+", words):
        for m in terminology.mentions(word):
            out.extend(
                c for c in m.concepts
                if c.codes and c not in out and any(terminology.implies(c, g) for g in groups)
            )  # fmt: skip
    return out


#: What is said with the latest value (the lead of each says it too), so a part asking it
#: of the thing the latest was asked of answers both
_SAYS_THE_LATEST = frozenset({"previous", "change", "judge", "count"})

#: a follow-up dated by the day the last turn's answer was about ("what was her hemoglobin
#: then?", "was she on anything at the time?"), not "since then" (a window from it) nor
#: "and then" (what came next)
_THEN = re.compile(
    r"(?<!\bsince )(?<!\bafter )(?<!\bfrom )(?<!\band )\b(?:back )?then\b(?=\W*$)"
    r"|\bat (?:that|the) time\b|\bat that (?:point|visit|stage)\b|\b(?:on\s+)?that (?:day|date)\b",
    re.I,
)
#: a follow-up dated a while before the day the last turn was about ("what's his latest
#: eGFR?" — "and a year before that?", "6 months earlier?")
_BEFORE_THAT = re.compile(
    _A_WHILE + r"\s+(?:before|earlier|prior)\b(?:\s+(?:to\s+)?(?:that|then|it))?", re.I
)
#: a follow-up dated by the last turn's window ("what about meds started since then?")
_SINCE_THEN = re.compile(
    r"\b(?:since|after|from) (?:then|that (?:date|time|year))\b|\b(?:after|since)(?=\W*$)", re.I
)

#: where one question ends and another begins: "?", ";", or ", and what …" (a new
#: question word after "and")
_PART = re.compile(
    r"\?\s*(?=\S)|;\s*|,?\s+\b(?:and|also|plus)\s+(?=(?:what|when|which|who|how|is|are|was|"
    r"were|do|does|did|has|have|had|am|any|why)\b)",
    re.I,
)


#: what happened in a window, asked of nothing named ("what changed since January?")
_CHANGED = re.compile(
    r"\bwhat(?:'s| has| is| was)?\s+(?:changed|new|happened|been going on)\b|\banything new\b"
    r"|\bany(?:thing)? changes?\b",
    re.I,
)

#: a question about the whole patient ("what's going on with her?", "give me an overview")
_OVERVIEW = re.compile(
    r"\bwhat(?:'s| is) (?:going on|happening|new) with\b|\boverview\b|\bsummar(?:y|i[sz]e)\b"
    # "what's wrong with her?", "what is the matter with him?": what she has now
    r"|^\W*what(?:'s|\u2019s| is)\s+(?:wrong|the matter)\s+with\s+(?:her|him|them|me|you|the patient)\W*$"
    r"|\btell me about (?:this|the|my) (?:patient|pt)\b|\btell me about (?:her|him|them)\b"
    r"|\bcatch me up\b|\bbring me up to (?:speed|date)\b|\bthe (?:big|whole) picture\b"
    # "is he healthy?": what the record holds of his health now
    r"|^\W*(?:is|are)\s+(?:she|he|they|I|you|the patient)\s+(?:generally\s+)?"
    r"(?:healthy|in good health|well)\W*$",
    re.I,
)

#: a follow-up that names another thing and asks nothing of its own: "and sodium?",
#: "what about her LDL?", "how about in 2019?", "sodium?"
_ELLIPTICAL = re.compile(
    r"^\W*(?:(?:and|also|what about|how about|same for|and what about)\b[^?]{0,40}|"
    r"(?:\w+\W+){0,2}\w+\W*)\??\s*$",
    re.I,
)


#: "for her blood pressure", "to control his diabetes", "hypertension meds", "pills for X"
_HAPPENED_WITH = (
    r"\bwhat\s+happened\s+(?:with|to|about)\s+(?:(?:her|his|my|their|the|your|its)\s+)?(?:\w+\s+)?"
)
_FOR_BEFORE = r"\b(?:for|about|to (?:treat|control|manage|lower|help(?: with)?))\s+(?:(?:her|his|my|their|the|your|its)\s+)?(?:\w+\s+)?"
_MEDS_AFTER = (
    r"\s+(?:meds|medications?|medicines?|pills?|drugs?|prescriptions?|treatments?|tablets?"
    r"|(?:(?:is|are|being|been)\s+)*(?:treated|managed|controlled)\s+with"
    r"|(?:(?:is|are|being|been)\s+)*(?:treated|managed)(?!\s+(?:at|in|by)\b))\b"
)


#: the words before a topic said first ("her migraines - what's she on?")
_TOPIC = r"\W*(?:re:?\s*)?(?:(?:her|his|my|their|the|your)\s+)?"
#: what ends a topic said first ("migraines - ", "diabetes: "), not a list going on
#: ("diabetes, and ...")
_TOPIC_SEP = r"\s*(?:[-\u2013\u2014:,]|\.\.\.)(?!\s*(?:and|also|plus|or)\b)"

#: what medications are given for: a problem or a symptom, or what a lab or vital shows
#: (an allergen: what is given for the allergy to it)
_TREATED_KINDS = ("condition", "finding", "lab", "vital", "assessment", "body_site", "substance")


#: asks of the present ("on", "still", "taking", "currently"): what holds now
_TAKING_NOW = re.compile(
    r"\b(?:on|taking|takes|still|currently|current|now|today|active|anymore)\b", re.I
)


def _on_body(question: str, mentions: Sequence[Mention]) -> str:
    """``question`` with "on" blanked where a body site follows it ("the cut on his hand"):
    where something is, not a drug the patient is on."""
    for m in mentions:
        if any(c.kind == "body_site" for c in m.concepts):
            said = re.search(
                r"\bon\s+(?:(?:her|his|their|my|your|the)\s+)?(?:\w+\s+)?$",
                question[: m.start],
                re.I,
            )
            if said is not None:
                question = question[: said.start()] + "  " + question[said.start() + 2 :]
    return question


#: a procedure asked of as what was done to a problem said before it, its participle
#: ending the question ("was the cut on his hand sutured?", "was the polyp removed?")
_DONE_TO = r"\s*\??\s*$"


def _topic_of(focus: Focus, question: str) -> list[str]:
    """The problems (or body sites) a question says first as its topic, or names as what
    something was for, when what it asks of is a drug, a class of drugs, a procedure or a
    vaccine ("stroke - any clot retrieval?", "any laser for her eyes?"): their ids (none
    when the question asks of nothing else)."""
    topics = [
        (w, c)
        for w, c in focus.concepts
        if (
            c.kind in ("condition", "finding", "body_site")
            # "shellfish allergy - epipen?": the allergy said first is the topic
            or c.kind == "substance"
        )
        and (
            re.match(_TOPIC + re.escape(w) + _TOPIC_SEP, question, re.I)
            # "bee sting allergy - does she have an epipen?"
            or re.match(
                _TOPIC + re.escape(w) + r"\s+allerg(?:y|ies|ic)" + _TOPIC_SEP, question, re.I
            )
            # "has she had laser for her eyes?": what was done for them
            or re.search(_FOR_BEFORE + re.escape(w) + r"\b", question, re.I)
        )
    ]
    done = [
        (w, c) for w, c in focus.concepts
        if c.kind == "procedure" and w.lower().endswith("ed")
        and re.search(re.escape(w) + _DONE_TO, question, re.I)
    ]  # fmt: skip
    if done and not topics and focus.asks in ("yesno", "ever"):
        at = question.lower().rfind(done[-1][0].lower())
        topics = [
            (w, c) for w, c in focus.concepts
            if c.kind in ("condition", "finding", "body_site") and question.lower().find(w.lower()) < at
        ]  # fmt: skip
    asked = [
        c for w, c in focus.concepts
        if c.kind in (*_DRUG_KINDS, "procedure", "vaccine") and (w, c) not in topics
    ]  # fmt: skip
    return [c.id for _w, c in topics] if asked else []


#: a later part of a question asking what is given for a problem an earlier part named
#: ("when was the chf diagnosed and what is he taking for it?", "when was he diagnosed with
#: heart failure, and what was he started on?")
_FOR_IT_LATER = re.compile(
    r"\b(?:and|,)\s+(?:what|which|is|was|were|are|any)\b[^?;]*?(?:\bfor (?:it|that|this|them)\b"
    r"|\b(?:started|put|begun) on\s*\??\s*$"
    # "when was the heart attack and what was he given?"
    r"|\b(?:given|prescribed|treated with)\s*\??\s*$)",
    re.I,
)


def _for_it(focus: Focus, question: str) -> list[str]:
    """The problems a question names before a later part asks what is given for "it"
    (:data:`_FOR_IT_LATER`), by id."""
    later = _FOR_IT_LATER.search(question)
    if later is None:
        return []
    before = question[: later.start()].lower()
    return [c.id for w, c in focus.concepts if c.kind in _TREATED_KINDS and w.lower() in before]


#: asks when a problem was diagnosed ("chf - when diagnosed and what meds?"), beside what
#: else is asked of it (not how: "how was it diagnosed?" asks its workup)
_DIAGNOSIS_ASKED = re.compile(
    r"\b(?:when|date)\b[^?;]*?\b(?:diagnos[ie]s|diagnosed|dx'?d?)\b|\bonset\b"
    # "preeclampsia - when and how was it managed?"
    r"|^[^?;]*?\bwhen and\b"
    # "retinopathy - when found and any treatment?"
    r"|\bwhen\b[^?;]*?\b(?:found|discovered|detected|picked up|noticed|first seen)\b",
    re.I,
)


def _diagnosed_when(focus: Focus, question: str) -> None:
    """Of a question asking when a problem was diagnosed and what is given for it ("chf -
    when diagnosed and what meds?", "when did he have the mi and what was he started
    on?"): the problem's own first entry is asked of, and what is given for it as it
    stands (not the first of each medication)."""
    if not focus.given_for:
        return
    if not (
        _DIAGNOSIS_ASKED.search(question)
        or (focus.part_asks and re.match(r"\W*when\b", question, re.I))
    ):
        return
    problems = [
        c.id for _w, c in focus.concepts
        if c.id in focus.given_for and c.kind in ("condition", "finding")
    ]  # fmt: skip
    for cid in problems:
        focus.part_asks[cid] = "first"
    if problems and focus.asks == "first":
        focus.asks = None


def _given_for(question: str, words: str, concept: Concept) -> bool:
    """The question asks for the medications given for a condition, or for what a lab
    or vital shows ("for her blood pressure", "sugar meds"), not for the thing itself."""
    if concept.kind not in _TREATED_KINDS:
        return False
    w = re.escape(words)
    return bool(
        re.search(_FOR_BEFORE + w + r"\b", question, re.I)
        # "what happened with her stroke?": what was given and done for it (not "what
        # happened to my ankle?": whatever the record says of it)
        or (
            concept.kind != "body_site"
            and re.search(_HAPPENED_WITH + w + r"\b", question, re.I) is not None
        )
        or re.search(r"\b" + w + _MEDS_AFTER, question, re.I)
        # "prostate surgery?", "her knee operations": what was done for it
        # (a body site's are named by it: "knee surgery?", a knee replacement)
        or (
            concept.kind != "body_site"
            and re.search(r"\b" + w + r"\s+(?:surger(?:y|ies)|operations?)\b", question, re.I)
        )
        # the topic first: "migraines - what's she on?", "diabetes: what meds?"
        or re.match(
            _TOPIC + w + _TOPIC_SEP,
            question,
            re.I,
        )
    )


#: "her last 3 A1cs", "the past few readings", "latest two values": that many of the latest
#: results (not "the last 3 months": a window)
_RECENT = re.compile(
    r"\b(?:last|latest|past|previous|prior|most recent|recent)\s+"
    r"(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|twelve|few|several|couple(?: of)?)"
    # "a1c last 3?": the number ends the question
    r"(?:\s*[?.!]*\s*$|\s+"
    r"(?!(?:days?|weeks?|wks?|months?|mos|mths?|years?|yrs?|decades?|visits?|encounters?|"
    r"appointments?)\b))",
    re.I,
)


#: "her BP at her last 3 visits": that many of the latest results (one a visit)
_RECENT_VISITS = re.compile(
    r"\b(?:at|over|in|during|from|for)\s+(?:her|his|my|their|the|your)\s+"
    r"(?:last|past|previous|prior|most recent)\s+"
    r"(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|twelve|few|several|couple(?: of)?)\s+"
    r"(?:visits?|appointments?|encounters?|check-?ups?)\b",
    re.I,
)


def _recent_n(question: str) -> int | None:
    m = _RECENT.search(question) or _RECENT_VISITS.search(question)
    if m is None:
        return None
    said = m.group(1).lower()
    if said.isdigit():
        return int(said) if 1 < int(said) <= 50 else None
    return {"few": 3, "several": 5}.get(said) or (
        2 if said.startswith("couple") else _NUM_WORDS[said]
    )


def _asks(text: str) -> str | None:
    return next((name for name, pattern in _ASKS if pattern.search(text)), None)


#: "was she tested for vitamin D?", "her vitamin D checked", just before the name
_TESTED_FOR = re.compile(
    r"\b(?:test(?:ed|s)?|check(?:ed)?|screen(?:ed)?|measur(?:ed|e))\s+(?:for\s+)?"
    r"(?:(?:her|his|my|their|the|a)\s+)?$",
    re.I,
)
#: "was he vaccinated for pneumonia?", "immunized against hep B?", "any shots for
#: tetanus?": the vaccine for the disease named just after
_VACCINATED_FOR = re.compile(
    r"\b(?:vaccin\w*|immuni[sz]\w*|inoculat\w*|shots?|jabs?)\s+(?:for|against)\s+"
    r"(?:(?:her|his|my|their|the|a)\s+)?((?:[\w-]+\s*){1,3})",
    re.I,
)


#: a disease asked of as up to date ("tetanus up to date?", "is her hep b current?", "up
#: to date on pertussis?", "hep b series complete?"): its vaccine, when the terminology
#: knows one by that name
_UP_TO_DATE_ON = (
    re.compile(
        r"^\W*(?:(?:is|are)\s+)?(?:(?:her|his|my|their|the)\s+)?((?:[\w-]+\s*){1,3}?)\s*"
        r"(?:up[- ]to[- ]date|utd|current|due|(?:vaccine\s+|vaccination\s+)?series\s+"
        r"(?:complete|completed|done|finished))\b",
        re.I,
    ),
    re.compile(
        r"\b(?:up[- ]to[- ]date|utd|current|due|caught up)\s+(?:on|with|for)\s+"
        r"(?:(?:her|his|my|their|the)\s+)?((?:[\w-]+\s*){1,3})",
        re.I,
    ),
)


def _named_as(terminology: Terminology, name: str, kinds: Collection[str]) -> list[Concept]:
    """The concepts of those kinds a name names from its first word ("pneumonia vaccine":
    the pneumococcal vaccines; "calcium supplement"; "bmi"), or none."""
    return [
        c
        for said in terminology.mentions(name)
        for c in said.concepts
        if c.kind in kinds and said.start == 0
    ]


def _vaccines_for(question: str, terminology: Terminology) -> list[tuple[int, int, Concept]]:
    """The vaccines a question names by the disease they protect against (the disease's
    name with "vaccine", as the terminology knows it: "pneumonia vaccine", "hep b
    vaccine"), each with the span of the disease's words."""
    out: list[tuple[int, int, Concept]] = []
    for pattern in (_VACCINATED_FOR, *_UP_TO_DATE_ON):
        out.extend(_diseases_vaccinated(pattern, question, terminology))
    return out


def _diseases_vaccinated(
    pattern: re.Pattern[str], question: str, terminology: Terminology
) -> list[tuple[int, int, Concept]]:
    out: list[tuple[int, int, Concept]] = []
    for m in pattern.finditer(question):
        words = list(re.finditer(r"[\w-]+", m.group(1)))
        for k in range(len(words), 0, -1):  # the longest name first
            disease = m.group(1)[: words[k - 1].end()]
            if _named_as(terminology, disease, {"vaccine"}):
                break  # the words name the vaccine themselves ("flu shot up to date?")
            found = _named_as(terminology, f"{disease} vaccine", {"vaccine"})
            if found:
                out.append((m.start(1), m.start(1) + len(disease), found[0]))
                break
    return out


#: a season named as a time ("last fall", "this autumn"), not a thing of the record
_SEASON = re.compile(
    r"\b(?:last|this|next|past|previous|early|late|during(?: the)?|in(?: the)?|since(?: the)?|"
    r"over(?: the)?)\s+(?:fall|autumn|spring|summer|winter)\b",
    re.I,
)
_RISK_OF = re.compile(r"\brisk\s+(?:of|for)\s+(?:(?:a|an|her|his|my)\s+)?$", re.I)
_A_RISK = re.compile(r"\s+risks?\b", re.I)
_DRUG_KINDS = frozenset({"drug", "drug_class"})
_TESTED = frozenset({"lab", "vital", "assessment"})
#: a threshold stated of a result: a comparison and a number ("> 100", "above 7%", "under
#: 140/90", "at least 60", "7 or more"), not a count or a time ("more than 3 times",
#: "over 2 years", "over 65 years old")
#: a unit said after a number ("7%", "100 mg/dL", "5 mmol/l")
_UNIT_SAID = (
    r"%|°?[cf]\b|(?:mg|g|mmol|umol|µmol|meq|mmhg|mm\[hg\]|kg|lbs?|cm|mL|ml|bpm|u|iu|ng|pg|"
    r"mcg)[\w/.\[\]²µ*]*(?!\w)"
)
_THRESHOLD = re.compile(
    r"(?:(?P<op>>=|<=|=>|=<|≥|≤|>|<)|\b(?P<word>above|over|under|below|exceed(?:s|ed|ing)?|"
    r"cross(?:ed|es)?|top(?:ped|s)|reach(?:ed|es)?|hits?|(?:dipped|dropped|fallen|fell) below|"
    r"(?:less|lower|more|greater|higher) th[ae]n|at least|at most|no (?:more|less) th[ae]n))?"
    r"\s*(?<![\w.])(?P<v>\d+(?:\.\d+)?)(?:\s*/\s*(?P<v2>\d+(?:\.\d+)?))?"
    r"(?!\s*(?:times?|x\b|visits?|days?|d\b|weeks?|wks?|months?|mos?\b|years?|yrs?|y/?o\b|"
    r"hours?|hrs?|results?|readings?|tests?|labs?|values?|measurements?|occasions?|"
    r"admissions?|encounters?|patients?|people|kids?|children|pregnanc|minutes?|mins?))"
    rf"(?:\s*(?P<unit>{_UNIT_SAID}))?"
    r"(?P<or>\s+or\s+(?:more|higher|greater|above|over|less|lower|below|under)\b|\+)?",
    re.I,
)
#: a range stated of a result ("is her potassium between 3.5 and 5?", "within 3.5-5.1?")
_BETWEEN = re.compile(
    r"\b(?:between|within|in the range(?: of)?)\s+(?P<low>\d+(?:\.\d+)?)\s*(?:and|-|–|to)\s*"
    r"(?P<high>\d+(?:\.\d+)?)"
    rf"(?:\s*(?P<unit>{_UNIT_SAID}))?",
    re.I,
)
#: "over 2020", "between 2019 and 2021": years, not thresholds
_YEAR = re.compile(r"(?:19|20)\d\d")
#: asked of every result (or a period's), not of the latest: "any potassium over 5?",
#: "has her A1c ever been above 9?", "how many readings over 140?"
_ANY_RESULT = re.compile(
    r"\b(?:any|ever|been|how many|how often|number of|times?|at any (?:point|time)|"
    r"crossed|gone|reached|hit|topped|dipped|dropped|fallen|"
    r"every|all|each|some|a result|a reading|a value)\b",
    re.I,
)


def _threshold_of(m: re.Match[str]) -> str:
    """A threshold said as ``lab_trend`` reads it (">100", ">=7 %", "<140/90", "3.5-5")."""
    if "low" in m.re.groupindex:  # "between 3.5 and 5"
        unit = f" {m.group('unit')}" if m.group("unit") else ""
        return f"{m.group('low')}-{m.group('high')}{unit}"
    word = re.sub(r"\s+", " ", m.group("op") or m.group("word") or "").lower()
    op = COMPARISONS.get(word.replace(" then", " than"), ">")
    if m.group("or"):  # "7 or more", "70 or less"
        op = "<=" if re.search(r"less|lower|below|under", m.group("or"), re.I) else ">="
    value = m.group("v") + (f"/{m.group('v2')}" if m.group("v2") else "")
    unit = f" {m.group('unit')}" if m.group("unit") else ""
    return f"{op}{value}{unit}"


def _read_threshold(focus: Focus, question: str, previous: Focus | None) -> None:
    """A threshold the question states of the one result it names ("ldl > 100?", "is her
    A1c above 7%?", "bp under 140/90?"): the latest against it, or, asked of any result
    ("any potassium over 5?", "how many readings over 140?"), the results beyond it. A
    follow-up that names nothing and asks nothing new keeps the turn's ("and in 2020?")."""
    tested = [c for _w, c in focus.concepts if c.kind in _TESTED]
    found = [
        m
        for m in _THRESHOLD.finditer(question)
        if (m.group("op") or m.group("word") or m.group("or"))  # "7 or more": its comparison
        and not _YEAR.fullmatch(m.group("v"))
    ]
    found += [
        m
        for m in _BETWEEN.finditer(question)
        if not (_YEAR.fullmatch(m.group("low")) or _YEAR.fullmatch(m.group("high")))
    ]
    if len(found) > 1 and len(tested) == len(found) == len(focus.concepts) and not focus.acts:
        _read_thresholds(focus, question, found)
        return
    if len(found) == 1 and len(tested) == 1 and len(focus.concepts) == 1 and not focus.acts:
        if focus.asks in (
            *(None, "yesno", "latest", "judge", "ever", "count", "range"),
            # "has his bp gone over 140?", "has her eGFR dropped below 60?": a crossing,
            # not an end or a change from first to last
            *("ended", "change"),
        ):
            focus.threshold = _threshold_of(found[0])
            any_result = focus.asks in ("ever", "count", "range", "ended", "change") or (
                _ANY_RESULT.search(question)
            )
            focus.asks = (
                "count_beyond"  # "how many readings over 140?": how many, with no yes or no
                if focus.asks == "count"
                else "beyond"
                if any_result
                else "threshold"
            )
            focus.judge = False
        return
    if (
        previous is not None
        and previous.threshold
        and focus.follow_up
        and not found
        and focus.asks in (None, "latest", "yesno", "ever")
    ):  # "any potassium over 5?" — "and in 2020?": the same threshold, then
        focus.threshold = previous.threshold
        focus.asks = previous.asks


def _read_thresholds(focus: Focus, question: str, found: list[re.Match[str]]) -> None:
    """A threshold stated of each of several results ("ldl > 100 and a1c > 7?", "is her
    potassium under 3.5 or her sodium over 145?"): each result's is the one said after its
    name and before the next result's; unless each has exactly one, none is read."""
    lowered = question.lower()
    at = sorted((lowered.find(w.lower()), c) for w, c in focus.concepts)
    if any(k < 0 for k, _c in at):
        return
    ends = [k for k, _c in at[1:]] + [len(question)]
    read: dict[str, tuple[str, str]] = {}
    for (start, concept), end in zip(at, ends, strict=True):
        own = [m for m in found if start < m.start() < end]
        if len(own) != 1:
            return
        part = question[start:end]
        asks = "beyond" if _ANY_RESULT.search(part) or focus.asks == "ever" else "threshold"
        read[concept.id] = (_threshold_of(own[0]), asks)
    if focus.asks not in (None, "yesno", "latest", "judge", "ever", "range"):
        return
    focus.part_thresholds = {cid: t for cid, (t, _a) in read.items()}
    focus.part_asks.update({cid: a for cid, (_t, a) in read.items()})
    focus.asks = "threshold"
    focus.judge = False


#: a result asked of as done ("was her A1c checked?", "has she had a lipid panel?", "any
#: cholesterol tests last year?", "any A1c this year?"), not as it is ("is he growing
#: normally?")
_DONE = re.compile(
    r"\b(?:checked|tested|done|drawn|measured|performed|run|tests?|checks?|panels?|levels?|"
    r"screen(?:ed|ing)?|labs?|blood ?work)\b|^\W*any\b",
    re.I,
)
#: a question that is nothing but names ("her cholesterol?", "and the potassium?", "bp
#: today?", "her cholesterol and LDL?"), once the names are blanked out
_BARE = re.compile(
    r"\W*(?:(?:and|so|what about|how about|her|his|their|my|your|the|today|now|currently|"
    r"lately|recently|these days|levels?|values?|results?|readings?|findings?|numbers?|scores?|"
    r"for|of|or|"
    r"ige|to|against|tests?|testing|panel|antibod(?:y|ies))\b\W*)*",
    re.I,
)
#: a name said as something taken ("is she on iron?", "taking vitamin D"), just before it
_TAKEN = re.compile(
    r"\b(?:on|taking|takes|take|took|prescribed|started|stopped|given)\s+(?:any\s+|an?\s+)?"
    # the second of a list taken ("on calcium or vitamin d?")
    r"(?:(?:[\w-]+\s*){1,2}(?:or|and|,)\s+(?:any\s+|an?\s+)?)?$",
    re.I,
)


#: "did he break his arm?", "she fractured her hip": the injury's names say "broken arm",
#: "broken hip"
_BREAK = re.compile(
    r"\b(?:break|breaks|broke|breaking|fractured?|fractures)\s+"
    r"(?:her|his|my|their|your|the|a|an)\s+(?=\w)",
    re.I,
)


#: a question that opens with a question word asks no yes or no
_WH_FIRST = re.compile(r"^\W*(?:what|when|which|who|whom|whose|how|where|why)\b", re.I)
#: "when did she get …", "when did he have …": of a thing given or done again and again, its
#: latest, unless "first" is said
_WHEN_GOT = re.compile(r"\bwhen did \w+ (?:get|have|receive)\b", re.I)
_FIRST_SAID = re.compile(r"\b(?:first|earliest|initial(?:ly)?)\b", re.I)
_GIVEN_AGAIN = frozenset({"vaccine", "procedure", "lab", "vital", "assessment", "encounter"})
#: what is given or done for a reason (its order or procedure links it)
_GIVEN_KINDS = frozenset({"drug", "drug_class", "procedure"})
#: a problem's course asked as getting better ("did it get better?", "is it improving?")
_BETTER = re.compile(r"\b(?:better|improv\w*|heal\w*|clear(?:ed|ing)?\s+up)\b", re.I)


def _monitored(concept: Concept, terminology: Terminology) -> bool:
    """Whether a lab or vital shows how the problem is doing (its own, or an ancestor's)."""
    return bool(_monitors_of(concept, terminology))


def _monitors_of(concept: Concept, terminology: Terminology) -> list[Concept]:
    """The labs or vitals that show how a problem is doing: its own, else its nearest
    ancestor's (type 2 diabetes shares diabetes's HbA1c)."""
    up = [concept, *filter(None, map(terminology.concept, terminology.ancestors(concept)))]
    ids = next((c.monitored_by for c in up if c.monitored_by), ())
    return [m for mid in ids if (m := terminology.concept(mid)) is not None]


def _shown_by(focus: Focus, terminology: Terminology) -> None:
    """A yes or no of a problem beside the results that show it ("hemoglobin - anemic?",
    "egfr - any ckd?"): the problem's entries (or none), and the results judged against
    their range, not whether results exist."""
    if focus.asks != "yesno":
        return
    problems = [c for _w, c in focus.concepts if c.kind in ("condition", "finding")]
    shows = {m.id for p in problems for m in _monitors_of(p, terminology)}
    tested = [c for _w, c in focus.concepts if c.kind in _TESTED]
    if problems and tested and all(c.id in shows for c in tested):
        focus.part_asks.update({c.id: "judge" for c in tested})
        focus.part_asks.update({c.id: "yesno" for c in problems})


def _labs_for(question: str, focus: Focus, terminology: Terminology) -> None:
    """Labs asked for by the problem they follow ("any labs for the diabetes recently?",
    "his kidney labs", "bloodwork for her cholesterol"): the labs that show how it is
    doing, not the whole list of labs beside the problem's entry."""
    if "labs" not in focus.sections:
        return
    found: list[tuple[str, Concept]] = []
    followed: set[str] = set()  # the problems whose labs are asked for
    for w, c in focus.concepts:
        if c.kind not in ("condition", "finding"):
            continue
        said = re.escape(w)
        if not re.search(
            rf"\b{_LAB_WORDS}\s+(?:for|of|on)\s+(?:(?:her|his|the|my|their)\s+)?{said}\b"
            rf"|\b{said}\s+{_LAB_WORDS}",
            question,
            re.I,
        ):
            continue
        found.extend((w, m) for m in _monitors_of(c, terminology))
        followed.add(c.id)
    if not found:
        return
    # (the problems give way to their labs, and the word "labs" to them; a lab named
    # beside them stays: "creatinine and labs for the diabetes")
    focus.concepts = list(
        {
            c.id: (w, c)
            for w, c in (*found, *focus.concepts)
            if c.id not in followed and c.id != "lab_test"
        }.values()
    )
    focus.sections = [s for s in focus.sections if s != "labs"]
    if focus.asks == "yesno":  # "any labs for the diabetes recently?": the results
        focus.asks = None


#: what labs are called when they are asked for by the problem they follow
_LAB_WORDS = r"(?:labs?|lab\s+work|lab\s+tests?|blood\s*work|blood\s+tests?)\b"


#: an age asked of when something happened, not the first or latest of it
_AGE_AT = re.compile(r"\b(?:at\s+)?what\s+age\b|\bhow\s+old\s+(?:was|were|is)\b.*\bwhen\b", re.I)


#: a question word written without its apostrophe ("whats her potassium?", "hows his bp?")
_UNAPOSTROPHED = re.compile(r"\b(what|how|when|where|who)s\b", re.I)
#: "hx", clinicians' shorthand for history ("past medical hx", "family hx?", "social hx")
_HX = re.compile(r"\bhx\b", re.I)
#: "lung ca", "breast ca": an organ's cancer (not "ca level?", calcium)
_CA = re.compile(r"\b([A-Za-z]+)\s+ca\b(?!\s*(?:\d|level|lvl|high|low|\+|2\+))", re.I)


#: two stages offered ("stage 1 or 2?", "stage 3a or 3b"): which stage it is
_EITHER_STAGE = re.compile(
    r"\bstage\s+(?:\d[ab]?|[iv]+[ab]?)\s+(?:or|vs\.?|versus)\s+(?:stage\s+)?(?:\d[ab]?|[iv]+[ab]?)\b",
    re.I,
)


#: a side of the body, then its part ("right eye", "the left arm")
_SIDE_OF = re.compile(
    r"\b(?:the\s+)?(?:right|left|both|each|r|l)\s+(?:eyes?|ears?|arms?|legs?)\b", re.I
)


def _side_of_the_last(question: str, previous: Focus | None, terminology: Terminology) -> str:
    """A follow-up that names a side and nothing measured ("eye pressure?" — "right eye
    trend?"), said with what the turn before measured ("eye pressure right eye trend?"):
    that side's series, not the eye's diseases."""
    said = _SIDE_OF.search(question)
    if said is None or previous is None or not previous.concepts:
        return question
    if not all(c.kind in _TESTED for _w, c in previous.concepts):
        return question
    if any(c.kind in _TESTED for m in terminology.mentions(question) for c in m.concepts):
        return question
    side = {"r": "right", "l": "left"}.get(w := said.group().split()[-2].lower(), w)
    sided = [  # the series of that side ("Right eye intraocular pressure"), if one is known
        # (of what was measured, or of its parent: "and the left eye?" after the right)
        c
        for _w, p in previous.concepts
        for g in (p.id, *p.parents)
        for d in sorted(terminology.descendants(g))
        if (c := terminology.concept(d)) is not None
        and c.kind in _TESTED
        and re.search(rf"\b{side}\b", c.name, re.I)
    ]
    if not sided:
        return f"{previous.concepts[0][0]} {question}"
    return question[: said.start()] + sided[0].name + question[said.end() :]


def _cancer_said(question: str, terminology: Terminology) -> str:
    """A cancer said by its site and "ca" ("lung ca stage?"), said in full ("lung cancer
    stage?") where the terminology knows the cancer of that name; any other "ca" (calcium)
    as it is."""

    def full(m: re.Match[str]) -> str:
        name = f"{m.group(1)} cancer"
        known = any(
            said.start == 0 and said.end == len(name) and c.kind == "condition"
            for said in terminology.mentions(name)
            for c in said.concepts
        )
        return name if known else m.group(0)

    return _CA.sub(full, question)


def _of_the_kind_named(
    asks: str | None, question: str, plain: str, concepts: Sequence[tuple[str, Concept]]
) -> tuple[str | None, bool]:
    """What a question read as a yes or no (or as nothing) asks, by the kind it names, and
    whether it asks of a drug's dose. Of results (labs, vitals, scores): names alone are
    their results ("her cholesterol?", "bp today?"), said as done is whether there is one
    ("was her A1c checked?": ``ever``); of drugs, a dose is the order with its strength
    ("warfarin dose?"), not a "yes" that there is one. ``plain``: the question with the
    names blanked out."""
    kinds = {c.kind for _w, c in concepts}
    if kinds and kinds <= _TESTED and asks == "yesno":
        if _BARE.fullmatch(plain):
            return None, False
        if _DONE.search(question):
            return "ever", False
    if (
        kinds
        and kinds <= {"procedure", *_TESTED}  # "fobt result?": the test and its result
        and asks == "yesno"
        and _BARE.fullmatch(plain)
        and re.search(r"\b(?:results?|findings?|readings?)\b", plain, re.I)
    ):
        return None, False  # "colonoscopy results?": what the record holds of it, no "Yes —"
    if (
        kinds
        and kinds <= _DRUG_KINDS
        and asks == "judge"
        and _WHEN.match(question)
        and (_STOPPED.search(question))
    ):  # "when was the simvastatin stopped?": a date (its last order, its status), not a
        return "latest", False  # judgement of whether it should be
    if kinds and kinds <= _DRUG_KINDS and asks in (None, "yesno") and _DOSE_OF.search(plain):
        return None, True
    return asks, False


#: "did the cancer spread?", "has it metastasized?": whether there is a secondary cancer,
#: not whether the cancer named is there (it is what the question is about)
_SPREAD = re.compile(r"\b(?:spread(?:ing|s)?|metastasi[sz]\w*|metastatic)\b", re.I)


def _spread(focus: Focus, question: str, terminology: Terminology) -> None:
    """Of a question asking whether a cancer it names (or the last turn named) spread, ask
    of a secondary malignant neoplasm instead (found by its is-a descendants too); the
    named cancer is left to the answer's "broader" entries."""
    secondary = terminology.concept("metastatic_cancer")
    if secondary is None or not _SPREAD.search(question):
        return
    cancers = [
        (w, c)
        for w, c in focus.concepts
        if "cancer" in terminology.ancestors(c) | {c.id}
        and c.id != secondary.id
        and secondary.id not in terminology.ancestors(c)
    ]
    if not cancers:
        return
    kept = [(w, c) for w, c in focus.concepts if (w, c) not in cancers]
    focus.spread_of = cancers
    if all(c.id != secondary.id for _w, c in kept):
        kept.append((cancers[0][0], secondary))
    focus.concepts = kept
    focus.given_for = [g for g in focus.given_for if g not in {c.id for _w, c in cancers}]
    if focus.asks is None and re.match(r"\W*(?:where|to what|which)\b", question, re.I):
        focus.which = True  # "where did the cancer spread?": the secondary cancers on record
        # say where, as they stand (or that there is none)


#: a name ending in a number a comparison follows: "bmi 30 or higher?", "bmi 40+?"
_NUMBERED = re.compile(r"(?P<name>.*\D)\s*\d+(?:\.\d+)?")
_COMPARED_AFTER = re.compile(
    r"\s*(?:\+|or\s+(?:more|higher|greater|above|over|less|lower|below|under)\b)", re.I
)


def _measured_instead(m: Mention, question: str, terminology: Terminology) -> list[Concept]:
    """Of a name that ends in a number a comparison follows ("bmi 30 or higher?", "bmi
    40+?", which name the findings "Body mass index 30+ - obesity" and "… 40+"), what its
    words before the number measure (the BMI, which the number is then a threshold of);
    none when they name nothing measured."""
    numbered = _NUMBERED.fullmatch(m.text)
    if numbered is None or not _COMPARED_AFTER.match(question[m.end :]):
        return []
    return _named_as(terminology, numbered.group("name"), _TESTED)


def _supplement_instead(m: Mention, question: str, terminology: Terminology) -> list[Concept]:
    """Of a result's name said as something taken ("is she on calcium?", "on potassium?":
    the terminology knows calcium as a lab test only), the supplement of that name ("calcium
    supplement"); none when the name is also a drug's or no supplement is known by it."""
    if not m.concepts or not all(c.kind in _TESTED for c in m.concepts):
        return []
    if not (
        _TAKEN.search(question[: m.start])
        or _ASKED_FOR_WHAT.search(question)
        # "preeclampsia - any magnesium?": what was given for the problem said first
        or re.match(
            rf"{_TOPIC}[^?]{{2,60}}?{_TOPIC_SEP}\s*(?:any|on|given)\s*$", question[: m.start], re.I
        )
    ):
        return []  # (asked what it is for: "b12 - what for?", an order has a reason)
    return _named_as(terminology, f"{m.text} supplement", _DRUG_KINDS)


#: a question asked as a yes or no by its first word ("was her a1c checked in 2019?")
_YES_NO_VERB = re.compile(
    r"^\W*(?:(?:so|and|but)\s+)?(?:do|does|did|is|are|was|were|has|have|had|any|ever)\b", re.I
)
#: "what is the b12 for?" ("b12 - what for?"): what an order is for
_ASKED_FOR_WHAT = re.compile(r"\bwhat\s+(?:is|was|are|were)\s+[^?]*\bfor\s*\??\s*$", re.I)


#: a test of an allergen asked for: "IgE for peanut and shrimp?", "her allergy panel for
#: cat dander", "egg antibodies?"
_ALLERGEN_TESTED = re.compile(
    r"\b(?:ige|allerg(?:y|en) (?:tests?|testing|panel|levels?)|antibod(?:y|ies)|rast)\b", re.I
)


#: a problem asked of as tested for, after its name ("hiv tested?", "strep test?")
_TESTED_AFTER = re.compile(r"\s*(?:tested|testing|tests?|screened|screening)\b", re.I)


def allergen_tests(
    substances: Sequence[Concept], terminology: Terminology, said: str = ""
) -> list[Concept]:
    """The allergen-specific IgE tests of substances, by any of their names or the words
    ``said`` ("peanut IgE", "walnut IgE"): none when no test is known by those names."""
    names = [said, *(n.lstrip("=") for c in substances for n in (c.name, *c.synonyms))]
    found = (c for n in names if n for c in _named_as(terminology, f"{n} IgE", _TESTED))
    return list({c.id: c for c in found}.values())


def _test_instead(m: Mention, question: str, terminology: Terminology) -> list[Concept]:
    """Of an allergen named where its test is asked for ("IgE for peanut and shrimp?",
    "nut allergy - ige level?": the terminology knows peanut as what an allergy is to),
    the allergen-specific IgE tests known by any of its names ("peanut IgE", "walnut
    IgE"); of a problem asked of as tested for, where nothing measures it ("hiv tested?",
    "tested for HIV?"), the test of that name ("HIV test"); none when the question asks
    for no test or no test is known by that name."""
    if not m.concepts:
        return []
    if all(c.kind == "substance" for c in m.concepts):
        if not _ALLERGEN_TESTED.search(question):
            return []
        return allergen_tests(m.concepts, terminology, m.text)
    if (
        all(c.kind in ("condition", "finding") for c in m.concepts)
        and (_TESTED_AFTER.match(question, m.end) or _TESTED_FOR.search(question[: m.start]))
        and not any(_monitored(c, terminology) for c in m.concepts)
    ):
        return _named_as(terminology, f"{m.text} test", {"procedure", *_TESTED})
    return []


#: a question in the present tense ("is she pregnant?", "does she have UTIs?")
_NOW_ASKED = re.compile(r"\b(?:is|are|am|does|do|has|have|currently|now|still|active)\b", re.I)


def _of_history(question: str, concepts: Sequence[tuple[str, Concept]]) -> bool:
    """Whether a yes-or-no question names its problems as history: a name that says
    history ("obstetric history?"), or problems said in the plural with no present tense
    ("pregnancies?", "any UTIs?": episodes over time, not whether one holds now). A name
    the terminology lists in that form ("diabetes", "kidney problems") is no plural, nor
    the allergies (a list that holds now)."""
    if not concepts or _NOW_ASKED.search(question):
        return False
    if any(re.search(r"\b(?:history|hx)\b", w, re.I) for w, _c in concepts):
        return True
    conditions = [(w, c) for w, c in concepts if c.kind == "condition"]
    return len(conditions) == len(concepts) and all(
        w.lower().endswith("s")
        and not c.recorded_as
        and w.lower() not in {n.lstrip("=").lower() for n in (c.name, *c.synonyms)}
        for w, c in conditions
    )


#: a topic, then only the question word asked of it ("sepsis - when?", "b12 injections -
#: why?", "the fall: when?")
_TOPIC_THEN_WH = re.compile(
    r"^\s*(?!(?:and|so|but|or|then|what|when|why|how|which|who|since|for)\b)"
    r"(?P<topic>[^-\u2013\u2014:,?]{1,60}?)\s*(?:[-\u2013\u2014:,]|\.\.\.|(?<=\w)\s)\s*"
    r"(?P<wh>when|why|when and why|why and when|since when|what for|for what|what was done|"
    r"when (?:was it |were they )?(?:started|begun|prescribed|ordered) and (?:why|what for)|"
    r"what was given|(?:when and )?how (?:was it |were they )?(?:diagnosed|found)|"
    # "polyp - how big?": its size, where the record measures it
    r"how (?:big|large)(?: was it| is it)?|(?:what )?size|"
    # "emphysema - how long?": since when ("admission - how long?": the stay's length)
    r"(?:for )?how long(?: ago| for| now| on it| (?:did|has|have) (?:she|he|they) (?:had|have) (?:it|them))?|"
    # "yaz - when started?", "implant - when was it removed?": when that was done to it
    r"when (?:was it |were they )?(?:started|stopped|discontinued|removed|taken out|"
    r"inserted|placed|put in|done|diagnosed|given|administered|performed)|"
    # "pregnancy - outcome?": what happened with it (what was given and done for it)
    r"(?:what was the |the )?outcomes?|(?:when and )?what happened|"
    r"why (?:was it |were they )?(?:stopped|discontinued|held|started|"
    r"prescribed|ordered|given)|"
    r"(?:what|which)\s+(?:drugs|meds|medications|medicines|ones?|kinds?|types?)|"
    # "ear infection - what antibiotic?": a class of drugs (read below, else as it is)
    r"(?:what|which)\s+(?P<cls>[a-z][\w-]*(?:\s+[a-z][\w-]*)?))\s*\??\s*$",
    re.I,
)


#: "when was the er visit and why?", "when did she start warfarin, and why?"
_WHEN_AND_WHY = re.compile(
    r"^\s*when\s+(?P<aux>was|were|did|is)\s+(?P<topic>[^?]{1,80}?)\s*,?\s+and\s+why\s*\??\s*$",
    re.I,
)


#: "how big was the polyp?", "what size was her polyp?": the thing's size
_HOW_BIG = re.compile(
    r"^\W*(?:how (?:big|large)|what size)\s+(?:was|were|is|are)\s+"
    r"(?:the|her|his|their|my|your)\s+(?P<topic>[\w' -]{1,40}?)\s*\??\s*$",
    re.I,
)


def _sized(topic: str, question: str, terminology: Terminology) -> str:
    """What asks how big ``topic`` is, said as its size ("polyp size?") when the
    terminology names a measurement of that; else ``question`` as it is."""
    sized = f"{topic} size"
    if any(m.text.lower() == sized.lower() for m in terminology.mentions(sized)):
        return f"{sized}?"
    return question


def _topic_first(question: str, terminology: Terminology) -> str:
    """A topic, then only the question word asked of it ("sepsis - when?", "b12 - what
    for?", "chemo - what drugs?"), said as the question it is ("when was sepsis?", "what is
    b12 for?", "which chemo drugs?"); any other question as it is. "Which drugs" is read so
    only of a drug or a procedure named: "diabetes - what meds?" is what is given for it."""
    said = _TOPIC_THEN_WH.match(question)
    if said is None and (big := _HOW_BIG.match(question)):  # "how big was the polyp?"
        return _sized(big.group("topic"), question, terminology)
    if said is None:
        if asked := _WHEN_AND_WHY.match(question):  # "when was the er visit and why?"
            return f"why {asked.group('aux')} {asked.group('topic')}?"
        return question
    topic, wh = said.group("topic"), re.sub(r"\s+", " ", said.group("wh").lower())
    if (
        wh.endswith((" and why", " and what for")) and wh != "when and why"
    ):  # "sertraline - when started
        # and why?": why it was started, said with its first order
        return f"why was {topic} {re.sub(r' and (?:why|what for)$', '', wh).split()[-1]}?"
    if wh in ("when and why", "why and when"):  # "er visit - when and why?": its reason,
        # which is said with its date
        return f"why {topic}?"
    if wh in ("when", "since when", "why"):
        return {"when": f"when was {topic}?", "since when": f"when did {topic} start?"}.get(
            wh, f"why {topic}?"
        )
    if wh in ("what for", "for what"):
        return f"what is {topic} for?"
    if wh.startswith("how big") or wh.startswith("how large") or wh.endswith("size"):
        return _sized(topic, question, terminology)
    if "how long" in wh:
        named = (c.kind for m in terminology.mentions(topic) for c in m.concepts)
        if any(kind in ("setting", "encounter") for kind in named):
            return f"how long was {topic}?"
        return f"when did {topic} first start?"
    if wh.startswith("when ") and not wh.startswith("when and "):  # "yaz - when started?"
        return f"when was {topic} {re.sub(r'^when (?:was it |were they )?', '', wh)}?"
    if "outcome" in wh or wh.endswith("what happened"):  # "pregnancy - outcome?"
        return f"what happened with {topic}?"
    if wh in ("what was done", "what was given"):  # "nstemi - what was done?"
        return f"{wh} for {topic}?"
    if " how " in f" {wh} ":  # "lung ca - when and how diagnosed?": its workup, dated
        return f"how was {topic} {wh.split()[-1]}?"
    if wh.startswith("why ") and wh != "why and when":  # "colchicine - why stopped?"
        return f"why was {topic} {wh.split()[-1]}?"
    if said.group("cls"):  # "ear infection - what antibiotic?": that class, given for it
        cls = said.group("cls")
        kinds = {c.kind for m in terminology.mentions(cls) for c in m.concepts}
        return f"what {cls} for {topic}?" if kinds & {"drug_class"} else question
    named = (c.kind for m in terminology.mentions(topic) for c in m.concepts)
    if any(kind in (*_DRUG_KINDS, "procedure") for kind in named):
        return f"which {topic} {wh.split()[-1]}?"
    return question


def _broken(question: str) -> str:
    """The question with a bone broken said as the record's names say it, at the same
    length (mention spans stay those of the question)."""
    return _BREAK.sub(lambda m: " " * (len(m.group()) - 7) + "broken ", question)


def understand(
    question: str,
    *,
    terminology: Terminology,
    as_of: dt.date,
    evidence: EvidenceSet | None = None,
    previous: Focus | None = None,
) -> Focus:
    """Read a question (see the module docstring)."""
    question = _UNAPOSTROPHED.sub(lambda m: f"{m.group(1)}'s", question)  # "whats her …"
    question = _HX.sub("history", question)
    question = _cancer_said(question, terminology)  # "lung ca": lung cancer
    question = _EITHER_STAGE.sub("stage", question)  # "ckd - stage 1 or 2?": which stage
    question = _topic_first(question, terminology)  # "sepsis - when?": "when was sepsis?"
    question = _side_of_the_last(question, previous, terminology)
    focus = Focus()
    seen: set[str] = set()
    visit_words = [m.span() for m in _VISIT_ABBREVIATION.finditer(question)]
    mentions = [  # "any ED visits?": the emergency department, not erectile dysfunction
        m
        for m in terminology.mentions(_broken(question))
        if not any(a <= m.start and m.end <= b for a, b in visit_words)
    ]
    vaccinated = _vaccines_for(question, terminology)
    for _a, _b, vaccine in vaccinated:
        if vaccine.id not in seen:
            seen.add(vaccine.id)
            focus.concepts.append((vaccine.name, vaccine))
    plain = question  # the question without the names it mentions ("Platelet mean volume")
    seasons = [m.span() for m in _SEASON.finditer(question)]
    unnamed = question  # without the names of coded things ("Drug overdose" asks no drugs)
    measured = any(c.kind in _TESTED for m in mentions for c in m.concepts)
    for m in mentions:
        side = _SIDE.search(question[: m.start])
        if measured and side and not any(c.kind in _TESTED for c in m.concepts):
            # "iop both eyes?", "visual acuity right eye?": which eye is measured, not the
            # eye's diseases (nor a judgement, "right")
            a = side.start()
            plain = plain[:a] + " " * (m.end - a) + plain[m.end :]
            unnamed = unnamed[:a] + " " * (m.end - a) + unnamed[m.end :]
            continue
        plain = plain[: m.start] + " " * (m.end - m.start) + plain[m.end :]
        if any(c.codes for c in m.concepts) and (
            not any(pattern.fullmatch(m.text) for _n, pattern in _SECTIONS)
            or all(c.kind == "setting" for c in m.concepts)
        ):  # a section's own word ("allergies") still names the section; "hospitalized"
            # names a setting, not every visit
            unnamed = unnamed[: m.start] + " " * (m.end - m.start) + unnamed[m.end :]
        kinds = {c.kind for c in m.concepts}
        if kinds <= {"procedure", "setting"} and (unit := _VISITS_OF.match(question, m.end)):
            # "how many pulm rehab visits?": the sessions of the therapy, not every visit;
            # "what was the ER visit for?": the setting's visits (its name ended at "the ER")
            unnamed = (
                unnamed[: unit.start()] + " " * (unit.end() - unit.start()) + unnamed[unit.end() :]
            )
        both = kinds & _DRUG_KINDS and kinds & _TESTED
        taken = both and _TAKEN.search(question[: m.start])
        tested = both and _TESTED_FOR.search(question[: m.start])
        if _RISK_OF.search(question[: m.start]) or _A_RISK.match(question[m.end :]):
            continue  # "her stroke risk", "risk of falls": a risk, not the thing itself
        if any(a <= m.start and m.end <= b for a, b in seasons):
            continue  # "her labs last fall": a season, not a fall
        if any(a <= m.start < b for a, b, _v in vaccinated):
            continue  # "vaccinated for pneumonia": the vaccine, not the disease
        for c in (
            _measured_instead(m, question, terminology)
            or _supplement_instead(m, question, terminology)
            or _test_instead(m, question, terminology)
            or [*_members_named(m.text, m.concepts, terminology), *m.concepts]
        ):
            if taken and c.kind in _TESTED:
                continue  # "is she on iron?": the supplement, not the lab test of that name
            if tested and c.kind in _DRUG_KINDS:
                continue  # "was she tested for vitamin D?": the test, not the supplement
            if c.id not in seen:
                seen.add(c.id)
                focus.concepts.append((m.text, c))
    named = [(m.start, m.end) for m in mentions if m.concepts]
    exam = terminology.concept("physical_exam")
    if exam is not None and exam.id not in seen and (said := _A_PHYSICAL.search(question)):
        focus.concepts.append((said.group(0), exam))  # "his last physical": the visit
        seen.add(exam.id)
        named.append(said.span())
    # "any new meds since her last visit?": the visit dates the window, it is not asked of
    # (unless nothing else is: "how many times have I been in since my last check-up?");
    # "at her last visit" names the visit the answer is of, which is said with it
    dating = [m.span() for m in _SINCE_LAST.finditer(unnamed)]
    undated = unnamed
    for a, b in dating:
        undated = undated[:a] + " " * (b - a) + undated[b:]
    asked = [n for n in named if not any(a <= n[0] and n[1] <= b for a, b in dating)]
    dying = [m.span() for m in _AT_DEATH.finditer(undated)]
    if dying and (
        asked or any(p.search(_blank(undated, dying)) for n, p in _SECTIONS if n != "patient")
    ):  # "his last A1c before he died": the death dates what is asked of something else
        # (the record already ends at it), and is said beside it; what is asked is not it
        plain = _blank(plain, dying)
        focus.by_death = True
    focus.sections = [name for name, pattern in _SECTIONS if pattern.search(undated)] or (
        [] if asked else [name for name, pattern in _SECTIONS if pattern.search(unnamed)]
    )
    of_death = bool(
        _death_day(evidence)
        and "patient" not in focus.sections
        and any(_DEATH_WORD.search(w) for w, _c in focus.concepts)
    )
    if of_death:  # "cause of death?": of a patient who died, the death too (its day and
        # age), the record's certificate or not
        focus.sections.append("patient")
    if "family" in focus.sections:  # "does diabetes run in her family?": the relatives'
        focus.concepts = []  # history, not her own diabetes
    focus.acts = acts_of(question, [(m.start, c.kind) for m in mentions for c in m.concepts])
    # of a patient who has died, "in the last year", "his last 6 months" end at the death
    died = _death_day(evidence)
    as_of = min(as_of, died or as_of)
    focus.window = window_of(question, as_of, anchors_of(evidence)) or _ago_window(question, as_of)
    by = _WHILE_BEFORE_DEATH.search(question) if died and focus.window is None else None
    before_death = by is not None
    if died and by is not None:
        # "her a1c 2 years before she died?": as it stood then, the latest up to that day
        end = _before(died, by)
        focus.window = Window(None, end, f"{by.group(0)} ({end})")
    if (
        any(_BEFORE.match(m.group(0)) for m in _AT_DEATH.finditer(undated))
        and focus.by_death
        and focus.window is None
        and _dated_after(evidence, died)
    ):
        # "his last visit before he died", of a record holding entries dated after the
        # death (a wrong date, or entries filed on the wrong patient): those up to it
        focus.window = Window(None, as_of, f"up to the death ({as_of})")
    if focus.window is None and evidence is not None:
        for m in mentions:
            spanning = [c for c in m.concepts if c.kind in _SPANNING]
            if not spanning or not (said := _DURING.search(question[: m.start])):
                continue
            span = _span_of(spanning, evidence, terminology, as_of)
            if span is None:
                continue
            focus.window = Window(span[0], span[1], said.group(0) + m.text)
            if focus.sections or {c.id for _w, c in focus.concepts} - {c.id for c in m.concepts}:
                # what dates the question is not asked of ("her BP when pregnant", "what
                # meds was she on when she was pregnant?")
                focus.concepts = [(w, c) for w, c in focus.concepts if w != m.text]
            break
    if focus.window is None and evidence is not None:
        for m in mentions:
            events = [c for c in m.concepts if c.kind in _EVENTS]
            if not events or not (said := _AFTER.search(question[: m.start])):
                continue
            day = _first_day(events, evidence, terminology)
            others = {c.id for _w, c in focus.concepts} - {c.id for c in m.concepts}
            if day is None or not (focus.sections or others):
                continue
            # "what meds was he started on after the heart attack?": from its first day;
            # what dates the question is not asked of
            focus.window = Window(day, as_of, f"{said.group(0)}{m.text} ({day.isoformat()})")
            focus.concepts = [(w, c) for w, c in focus.concepts if w != m.text]
            if _ITS_DIAGNOSIS.match(question, m.end) and len(focus.sections) > 1:
                # "any procedures after the heart disease diagnosis?": the diagnosis dates
                # the window, it asks for no problem list
                focus.sections = [x for x in focus.sections if x != "conditions"]
            break
    since_drug = False
    if focus.window is None and evidence is not None:
        for m in mentions:
            drugs = [c for c in m.concepts if c.kind in _DRUG_KINDS]
            if not drugs or not (said := _SINCE_STARTED.search(question[: m.start])):
                continue
            besides = [c for _w, c in focus.concepts if c.id not in {d.id for d in drugs}]
            if not (
                (besides and all(c.kind in _TESTED for c in besides))
                or (previous is not None and not besides and _POINTS_BACK.search(question))
            ):
                continue
            day = _first_day(drugs, evidence, terminology)
            if day is None:
                continue
            # "ldl since the statin?", "is it better since the statin?" (of the cholesterol
            # the turn before asked): the results from its first order on, their change
            focus.window = Window(day, as_of, f"{said.group(0)}{m.text} ({day.isoformat()})")
            focus.concepts = [(w, c) for w, c in focus.concepts if w != m.text]
            since_drug = True
            break
    past = focus.window is not None and focus.window.end is not None and focus.window.end < as_of
    # "what was she on in 2015?" asks about then, not now
    # "was the cut on his hand sutured?": where, not what he is on
    focus.current = (
        bool(
            _CURRENT.search(_on_body(_PUT_ON.sub(" ", question), mentions))
            # of a patient who has died, what held then: "meds at the time of death?"
            or (died and re.search(rf"\b(?:{_DEATH_NOW})\b", question, re.I))
        )
        and not past
        # "what was he on for the clot?": then, not now (unless "now" or "still" says so)
        and not (_WAS_ON.search(question) and not _NOW.search(question))
    )
    focus.past = not focus.current and bool(_PAST_TENSE.search(question))
    focus.which = any(_WHICH.fullmatch(question[: m.start]) for m in mentions if m.concepts)
    staged = bool(focus.concepts) and bool(_STAGE.search(question))
    focus.which = focus.which or staged
    if not focus.concepts and not focus.sections and _OVERVIEW.search(question):
        # "what's going on with her?", "give me an overview": the current lists the
        # record holds (problems, medications, allergies), whatever prose is written
        focus.sections = ["conditions", "medications", "allergies"]
        focus.current = True
    if not focus.concepts and not focus.sections and focus.window and _CHANGED.search(question):
        # "what changed since January?", "anything new this year?": the problems, orders
        # and visits of that window
        focus.sections = ["conditions", "medications", "encounters"]
    for anchored in (_AT_LAST, _SINCE_LAST):  # "at my last visit" asks for no latest
        plain = anchored.sub(lambda m: " " * len(m.group()), plain)
    focus.asks = _asks(plain)
    if since_drug and focus.asks in (None, "yesno"):  # "ldl since the statin?": how it has gone
        focus.asks = "change"
    if focus.asks == "language" or any(c.id == "preferred_language" for _w, c in focus.concepts):
        # "what language does he speak?", "preferred language?", "needs an interpreter?":
        # the Patient's communication (or a preferred-language observation), not a search
        focus.concepts = [(w, c) for w, c in focus.concepts if c.id != "preferred_language"]
        focus.asks, focus.sections = "language", ["patient"]
    if focus.asks == "yesno" and focus.past and not died and _WAS_ON.search(question):
        # "was he on warfarin?", "pain meds he was on?": ever, not now (of a patient who
        # died, the past tense is of the death: "was she on aspirin?" at death)
        focus.asks = "ever"
    if focus.asks == "yesno" and _of_history(question, focus.concepts):
        focus.asks = "ever"  # "obstetric history?", "pregnancies?": whether ever, not now
    if focus.asks == "yesno" and staged:
        focus.asks = None  # "ckd stage?": which stage the entries say, not a "yes"
    if focus.asks == "yesno" and _WH_FIRST.match(question):
        focus.asks = None  # "how tall is she?": the name blanked out left "is she?"
    focus.asks, dose = _of_the_kind_named(focus.asks, question, plain, focus.concepts)
    if of_death and focus.asks in (None, "yesno"):
        # "cause of death?": the certificate's cause as the record gives it (or that none
        # is found), and the death
        focus.part_asks.update({c.id: None for w, c in focus.concepts if _DEATH_WORD.search(w)})
        focus.asks = "death"
    if before_death and focus.asks == "yesno":
        focus.asks = None  # "a1c 2 years before she died?": its value then, no "yes"
    focus.which = focus.which or dose
    if (
        focus.asks == "first"
        and focus.concepts
        and _WHEN_GOT.search(plain)
        and not _FIRST_SAID.search(plain)
        and all(c.kind in _GIVEN_AGAIN for _w, c in focus.concepts)
    ):  # "when did she get her flu shot?": the last one (a problem got is its onset:
        # "when did she get diabetes?")
        focus.asks = "latest"
    why_asked = focus.asks == "reason" and bool(_REASON.search(question))
    if (
        (focus.asks == "reason" or (focus.asks in ("yesno", "ended") and _A_REASON.search(plain)))
        and _STOP_ASKED.search(plain)
        and any(c.kind in _DRUG_KINDS for _w, c in focus.concepts)
    ):  # "why was the colchicine stopped?", "was it discontinued for a reason?": why it
        # ended, not what it was ordered for
        focus.asks = "stop_reason"
        focus.judge = False
    if focus.asks == "reason" and not _REASON.search(question):
        # the names blanked out of the question had ended it ("what is she taking for
        # pain?" is no "what … for?"): what else it asks
        focus.asks = next((n for n, p in _ASKS if n != "reason" and p.search(plain)), None)
    if (
        focus.asks == "reason"
        and dict(_ASKS)["latest"].search(plain)
        and not any(c.kind in _DRUG_KINDS for _w, c in focus.concepts)
    ):  # "why was she last seen?": the last visit, with its reason (not "for what was he
        # last prescribed X?": the orders' reasons)
        focus.asks = "latest"
        focus.why = True
    if (
        focus.window is not None
        and re.match(r"(?:compared|vs|versus|than)\b", focus.window.label)
        and focus.asks in (None, "latest", "judge", "yesno")
    ):  # "how much do I weigh now compared to last year?": the change across the window
        focus.asks = "change"
    if (
        focus.asks == "change"
        and focus.concepts
        and _BETTER.search(plain)
        and all(
            c.kind in ("condition", "finding") and not _monitored(c, terminology)
            for _w, c in focus.concepts
        )
    ):  # "did my whiplash get better?": nothing measures it, so whether it has resolved
        # (as "has it healed?"), not a course of results there are none of
        focus.asks = "ended"
    if focus.concepts and _AGE_AT.search(plain):  # "at what age was she diagnosed with
        # afib?": her age then (not "how old was he when he died?": the death's own)
        focus.asks = "birth"
    if (
        focus.asks == "yesno"
        and focus.past
        and not focus.window
        and _GIVEN_ONCE.search(plain)
        and not _WAS_ON.search(question)  # "was she on aspirin?" (she died): then, at death
        and any(c.kind in _DRUG_KINDS for _w, c in focus.concepts)
    ):  # "stroke - tpa given?", "did he get chemo?": whether it ever was (a dose given in
        # hospital is past now), not whether it is taken today
        focus.asks = "ever"
    if focus.asks == "ever" and _EVER_OUT.search(plain):
        focus.asks = "range"  # "was her potassium ever high?": its highest, against its range
    if (
        focus.asks == "change"
        and focus.concepts
        and (
            all(c.kind in _DRUG_KINDS for _w, c in focus.concepts)
            # "any changes to her afib meds?": those given for it
            or (
                "medications" in focus.sections
                and any(c.kind in _TREATED_KINDS for _w, c in focus.concepts)
            )
        )
        and re.search(rf"\b{_ADJUSTED}", plain, re.I)
    ):  # "was her lisinopril increased?": a drug's course is its dose
        focus.asks = "dose"
    focus.judge = bool(_JUDGE.search(plain))
    if re.search(_HOW_TREATED, plain, re.I):  # "how is his adhd being treated?": what is
        # given and done for it, not a judgement of it
        focus.treated = True
        focus.judge = False
        focus.asks = None if focus.asks == "judge" else focus.asks
    if any(
        c.kind in ("condition", "finding")
        and re.search(_HAPPENED_WITH + re.escape(w) + r"\b", question, re.I)
        for w, c in focus.concepts
    ):  # "what happened with her stroke?": when it was, what was given and done for it
        focus.sections = list(dict.fromkeys([*focus.sections, "medications", "procedures"]))
        focus.past = True
        for _w, c in focus.concepts:
            if c.kind in ("condition", "finding"):
                focus.part_asks.setdefault(c.id, "first")
    _treatment_history(focus, question)
    focus.topic = _topic_of(focus, question)
    _shown_by(focus, terminology)
    if not focus.which and any(
        c.kind == "drug_class"
        and re.search(
            rf"\b(?:what|which)\s+(?:(?:kinds?|types?|sorts?)\s+of\s+)?{re.escape(w)}\b",
            question,
            re.I,
        )
        for w, c in focus.concepts
    ):  # "uti - when and what antibiotic?": which of that class (of any status), as the
        focus.which = True  # entries found say it
    if (
        focus.topic
        and focus.asks == "yesno"
        and not _TAKING_NOW.search(question)
        and evidence is not None
        and (
            _over([c for _w, c in focus.concepts if c.id in focus.topic], evidence, terminology)
            or _given_at_onset(
                [c for _w, c in focus.concepts if c.id not in focus.topic],
                [c for _w, c in focus.concepts if c.id in focus.topic],
                evidence,
                terminology,
            )
        )
    ):  # "strep throat - antibiotics?": whether it was ever given or done for a problem
        # that is over (its course is past), not whether it is taken today (of a problem
        # that is not: "knee arthritis - pain meds?", now; "copd - on an inhaler?": now)
        focus.asks = "ever"
    if (
        _REACTION.search(plain)
        and focus.concepts
        and (
            "allergies" in focus.sections
            or _ALLERGY_WORD.search(question)
            or any(c.kind == "substance" for _w, c in focus.concepts)
        )
    ):  # "what's the shellfish allergy reaction?": its reactions and criticality, as the
        # record gives them (or that it gives none), as "how bad is it?" asks
        focus.asks = "judge"
        focus.judge = True
    if (
        "medications" in focus.sections
        or "procedures" in focus.sections
        # "was he hospitalized for his breathing?", "any visits for her diabetes?": the
        # visits whose reason names it
        or "encounters" in focus.sections
        or any(c.kind == "setting" for _w, c in focus.concepts)
        # "what chemo for the lung cancer?": a class of drugs given for it
        or any(c.kind == "drug_class" for _w, c in focus.concepts)
    ):
        focus.given_for = [c.id for w, c in focus.concepts if _given_for(question, w, c)]
        if not focus.given_for and "medications" in focus.sections:
            focus.given_for = _for_it(focus, question)
    elif _for_it(focus, question):  # "covid - when diagnosed and what was given?"
        focus.sections = [*focus.sections, "medications"]
        focus.given_for = _for_it(focus, question)
        focus.past = focus.past or not _NOW_ASKED.search(question)
    # ("why is she on warfarin?" asks the order's reason, which the record gives or not)
    focus.narrative = bool(
        _NARRATIVE.search(
            _WHY.sub(" ", question) if why_asked or focus.asks == "death" else question
        )
    )  # ("why did he come in last time?": the last visit, with its reason; "why did she
    # die?": the cause the record gives)
    if focus.asks == "reason" and any(c.kind in _GIVEN_KINDS for _w, c in focus.concepts):
        # "what condition was her acetaminophen meant to treat?": the order's reason, not
        # the whole problem list "condition" names
        focus.sections = [s for s in focus.sections if s != "conditions"]
    focus.recent = _recent_n(_spelled_out(question))
    parts = [m.span() for m in _PART.finditer(plain)]
    if parts:  # several questions in one: each concept's part asks for its own
        bounds = [0, *(b for _a, b in parts), len(plain)]
        for m in mentions:
            k = next(k for k in range(len(bounds) - 1) if m.start < bounds[k + 1])
            part = plain[bounds[k] : bounds[k + 1]]
            for c in m.concepts:  # a part that asks nothing of its own shares the
                # question's ("when did she last get a flu shot, and when a hep B vaccine?")
                focus.part_asks.setdefault(c.id, _asks(part) or focus.asks)
        for k in range(1, len(bounds) - 1):
            # a part that names nothing asks of what the part before it named ("what was
            # her last A1c, and is it better than before?": the latest and the one
            # before it, which that answer says too)
            if any(bounds[k] <= m.start < bounds[k + 1] for m in mentions):
                continue
            also = _asks(plain[bounds[k] : bounds[k + 1]])
            if also == "reason" and _STOP_ASKED.search(plain[bounds[k] : bounds[k + 1]]):
                also = "stop_reason"  # "on aspirin, and why was it stopped?"
                for m in mentions:
                    if bounds[k - 1] <= m.start < bounds[k]:
                        for c in m.concepts:
                            if c.kind in _DRUG_KINDS:
                                focus.part_asks[c.id] = also
                continue
            if also == "reason":  # "on iron? why?", "is she on iron, and why?": why the
                # drug was ordered, said with its order as it stands
                for m in mentions:
                    if bounds[k - 1] <= m.start < bounds[k]:
                        for c in m.concepts:
                            if c.kind in _DRUG_KINDS:
                                focus.part_asks[c.id] = also
                focus.narrative = bool(_NARRATIVE.search(_WHY.sub(" ", question)))
                continue
            if also not in _SAYS_THE_LATEST:
                continue
            for m in mentions:
                if bounds[k - 1] <= m.start < bounds[k]:
                    for c in m.concepts:
                        if focus.part_asks.get(c.id) in (None, "latest"):
                            focus.part_asks[c.id] = also
    if any(a in ("reason", "stop_reason") for a in focus.part_asks.values()) and _STOP_ASKED.search(
        plain
    ):
        # "on a statin, and why was the simvastatin stopped?": why the drug's part asks
        # is why it ended (each other part its own)
        for cid, of_part in focus.part_asks.items():
            concept = terminology.concept(cid)
            if of_part == "reason" and concept is not None and concept.kind in _DRUG_KINDS:
                focus.part_asks[cid] = "stop_reason"
        focus.narrative = bool(_NARRATIVE.search(_WHY.sub(" ", question)))
    for cid, of_part in focus.part_asks.items():  # "is he still drinking, and any liver
        # tests?": whether results were ever taken (a result is not held now or not)
        of_it = terminology.concept(cid)
        if of_part == "yesno" and of_it is not None and of_it.kind in _TESTED:
            focus.part_asks[cid] = "ever"
    _diagnosed_when(focus, question)
    if (
        focus.concepts
        and all(c.kind in _TESTED for _w, c in focus.concepts)
        and re.search(r"\b(?:goal|target)s?\b", plain, re.I)
    ):  # "what's his ldl goal and is he at it?", "a1c target?": the result against its goal
        focus.judge = True
        focus.asks = "judge" if focus.asks in (None, "yesno", "latest") else focus.asks
        for cid, of_part in focus.part_asks.items():
            if of_part in (None, "yesno", "latest"):
                focus.part_asks[cid] = "judge"
    if (
        "medications" in focus.sections
        and not focus.of_kinds(*_DRUG_KINDS)
        and not focus.given_for
        and _STOPPED.search(question)
        and not re.search(r"\b(?:it|that|this|them|those|these)\b", question, re.I)
    ):  # "what meds has he stopped?", "past medications?": the orders that ended (not a
        # judgement of the current ones, nor the current list "taking" would read)
        focus.stopped = True
        focus.current = focus.judge = False
        focus.asks = None if focus.asks in ("judge", "ended", "yesno", "ever") else focus.asks
    then_dated = False
    if (
        previous is not None
        and focus.window is None
        and previous.day is not None
        and (then := _THEN.search(question))
    ):  # "when did she deliver?" — "what was her hemoglobin then?": up to that day;
        # "was she on anything at the time?": what was ordered that day or held through it
        label = f"{then.group(0)} ({previous.day})"
        meds = "medications" in focus.sections or bool(focus.of_kinds(*_DRUG_KINDS))
        if focus.asks == "birth" and not focus.concepts and previous.concepts:
            # "when did he break his arm?" — "how old was he then?": his age when it began
            focus.concepts = list(previous.about)
            focus.sections = [x for x in focus.sections if x != "patient"]
            focus.follow_up = True
        else:
            focus.window = Window(previous.day if meds else None, previous.day, label)
        focus.current = False
        focus.day = previous.day  # "and her weight then?": still that day
        then_dated = meds
    if (
        previous is not None
        and focus.concepts
        and focus.asks in (None, "yesno")  # "sodium?" asks nothing but its own yes or no
        and previous.asks
        and _ELLIPTICAL.match(question)
    ):  # "What's her latest potassium?" — "and sodium?": the same question of another thing
        measured = all(c.kind in _TESTED for _w, c in focus.concepts)
        # (not a yes or no of a result: "was she on anything then?" — "and her hemoglobin
        # at that time?" asks its value; nor a reason: "what was it for?" — "his a1c then?")
        focus.asks = (
            None
            if (measured and previous.asks in ("yesno", "ever", "reason"))
            # a threshold is the other result's ("a1c over 7?" — "and her ldl?")
            or previous.asks in ("threshold", "beyond", "count_beyond")
            else previous.asks
        )
        focus.window = focus.window or previous.window
    if (
        previous is not None
        and focus.window is None
        and previous.day is not None
        and (before := _BEFORE_THAT.search(question))
    ):  # "what's his latest eGFR?" (2021-03-13) — "and a year before that?": as it stood
        # then, the latest up to 2020-03-13
        then_day = _before(previous.day, before)
        focus.window = Window(None, then_day, f"{before.group(0)} ({then_day})")
        focus.current = False
        if focus.asks in (None, "yesno"):
            focus.asks = "latest"
    if (
        previous is not None
        and focus.window is None
        and (then := _SINCE_THEN.search(question))
        and (
            start := (previous.window.start if previous.window is not None else None)
            or _first_event_day(previous, evidence, terminology)
            or previous.day
        )
        is not None
    ):  # "any new diagnoses since 2020?" — "what about meds started since then?"; "heart
        # attack?" — "what meds was he started on after?": from the day that answer was of
        focus.window = Window(start, as_of, f"{then.group(0)} ({start.isoformat()})")
    if previous is not None and not focus.concepts:
        if not focus.sections and (
            _FOLLOW_UP.search(question) or len(re.findall(r"\w+", question)) <= 8
        ):  # names nothing: about what the last turn was about ("Trend: up or down overall?")
            focus.follow_up = True
            focus.concepts = list(previous.about)
            # "what was she given?" — "when?": of then still
            focus.past = focus.past or (previous.past and not focus.current)
            # of the thing itself, not of what is given for it: "has it healed?", "is it
            # in remission?", "is it working?" (her blood pressure, against its goal) after
            # "was she given anything for it?"
            of_itself = focus.asks in ("ended", "judge", "change")
            focus.sections = [] if of_itself and previous.given_for else list(previous.sections)
            focus.given_for = [] if of_itself else list(previous.given_for)
            if (
                focus.asks == "reason"
                and focus.window is None
                and previous.day is not None
                and (
                    "encounters" in previous.sections
                    or (
                        previous.concepts
                        and all(c.kind == "setting" for _w, c in previous.concepts)
                    )
                )
            ):  # "when was her last visit?" — "what was it for?": the visit of the day
                # that answer was about (not every visit of its kind, nor the window's)
                focus.window = Window(previous.day, previous.day, f"on {previous.day}")
                focus.sections = [x for x in focus.sections if x != "patient"]  # (his death)
            focus.window = focus.window or previous.window
            if _STAGE.search(question):  # "any kidney disease?" — "what stage?": which
                focus.which = True
                focus.asks = None if focus.asks == "yesno" else focus.asks
        elif (
            previous.concepts
            and focus.sections
            and set(focus.sections) <= {"medications", "procedures"}
            and _TREATMENT.search(question)
            and len(re.findall(r"\w+", question)) <= 8
            and any(c.kind in _TREATED_KINDS for _w, c in previous.about)
            # ("what was he given that day?": all that was, not what for the last result)
            and not (then_dated and not _FOR_IT.search(question))
        ):  # "what cancers has she had?" — "what treatment did she get?": for those
            focus.follow_up = True
            focus.concepts = list(previous.about)
            focus.given_for = [c.id for _w, c in focus.concepts if c.kind in _TREATED_KINDS]
            focus.window = focus.window or previous.window
            _treatment_history(focus, question)
        elif previous.concepts and _POINTS_BACK.search(question):
            # names only a section, and points back at what the last turn named: "When was
            # it last prescribed?", "How many results like that are there?"
            focus.follow_up = True
            focus.concepts = list(previous.about)
            # (not into the present: "his egfr then?" — "is he on anything for it?": now)
            focus.window = focus.window or (None if focus.current else previous.window)
            if {"medications", "procedures"} & set(focus.sections) and _FOR_IT.search(question):
                # "is she on anything for it?", "was it treated?": what is given for it
                focus.given_for = [c.id for _w, c in focus.concepts if c.kind in _TREATED_KINDS]
    cause = terminology.concept("cause_of_death")
    if (
        previous is not None
        and previous.asks in ("death", "dead")
        and not focus.concepts
        and cause is not None
        and _CAUSE_ASKED.search(question)
    ):  # "when did he die?" — "what was the cause?": the cause of that death
        focus.follow_up = True
        focus.concepts = [("cause", cause)]
        focus.sections = [s for s in focus.sections if s != "patient"]
        focus.which = True  # what the certificate says is the answer, as it stands
    _spread(focus, question, terminology)
    _labs_for(question, focus, terminology)
    _read_threshold(focus, question, previous)
    if (
        focus.asks == "yesno"
        and focus.window is not None
        and focus.concepts
        and all(c.kind in _TESTED for _w, c in focus.concepts)
        and not _YES_NO_VERB.match(question)
    ):  # "weight 2 years ago?", "a1c in 2019?": its value then, not a yes or no
        focus.asks = None
    if focus.asks is None and focus.concepts:
        kinds = {c.kind for _w, c in focus.concepts}
        if focus.window is not None and kinds <= _TESTED:
            focus.asks = "latest"  # "what was her creatinine a year ago?": the value then
        elif _WHEN.match(question) and (focus.follow_up or not focus.window):
            # "when was that?", "when was her stroke?", "when did her afib start?": since
            # when, of a problem or a drug; else the last time
            first = {"condition", "finding", "body_site", *_DRUG_KINDS}
            focus.asks = "first" if kinds <= first else "latest"
        elif _HOW_LONG.fullmatch(question):
            # "was she admitted?" — "for how long?": the stay's length; "is she on
            # warfarin?" — "how long?": since when
            focus.asks = "length" if kinds <= {"setting", "encounter"} else "first"
    _diagnosed_how(focus, question, evidence, terminology)
    _complications(focus, question, terminology)
    if (
        focus.concepts
        and all(c.kind == "procedure" for _w, c in focus.concepts)
        # (not of one the terminology knows its result by: "dre findings?", the prostate
        # findings coded for it)
        and not any(code.system == LOINC for _w, c in focus.concepts for code in c.codes)
        and _SHOWED.search(question)
    ):  # "what did the allergy screening show?": what was recorded at its last visit
        focus.asks = "results"
    return focus


#: what a procedure found asked of ("what did the colonoscopy show?", "allergy screening
#: results?", "echo findings?")
_SHOWED = re.compile(
    r"\bwhat\s+(?:did|does|do)\b[^?]*\b(?:show|find|reveal|say)\b|\bresults?\b|\bfindings?\b"
    r"|\bshowed\b",
    re.I,
)


#: complications asked of ("pregnancy - any complications?", "any complications from
#: the diabetes?", "pregnancies?" — "any complications?")
_COMPLICATIONS = re.compile(r"\bcomplicat(?:ions?|ed)\b", re.I)


def _complications(focus: Focus, question: str, terminology: Terminology) -> None:
    """A problem's complications asked of: the group the terminology names "<problem>
    complication" (Complication of pregnancy: preeclampsia, miscarriage; of diabetes:
    retinopathy, neuropathy …) in the problem's place, whether ever recorded; nothing when
    the terminology names no such group."""
    if not _COMPLICATIONS.search(question) or any(
        _COMPLICATIONS.search(w) for w, _c in focus.concepts
    ):  # ("when was 'Type 2 diabetes mellitus without complications' first recorded?": a
        return  # name of its own)
    if re.search(r"\b(?:without|no|uncomplicated)\s+complicat", question, re.I):
        return
    out: list[tuple[str, Concept]] = []
    for w, c in focus.concepts:
        names = (w, c.name, *(n.lstrip("=") for n in c.synonyms)) if c.kind == "condition" else ()
        group = next(
            (
                g
                for n in names
                for m in terminology.mentions(f"{n} complication")
                if m.start == 0 and m.end == len(f"{n} complication")
                for g in m.concepts
                if g.kind == "condition"
            ),
            None,
        )
        out.append((w, group) if group is not None and group.id != c.id else (w, c))
    if out == focus.concepts:  # "lung cancer - any complications?": the terminology
        # names none of it; not a "Yes —" of the cancer itself (the model reads)
        focus.narrative = focus.narrative or any(c.kind == "condition" for _w, c in out)
        return
    if out != focus.concepts:
        focus.concepts = out
        focus.topic = [t for t in focus.topic if any(c.id == t for _w, c in out)]
        if focus.asks in ("yesno", None):
            focus.asks = "ever"
        # ("pregnancies?" — "any complications?": a search of its own, not what the turn
        # before said, which the model would read)
        focus.follow_up = False


#: how a problem was found ("how was it diagnosed?", "how was the cancer picked up?",
#: "what was the workup?")
_HOW_DIAGNOSED = re.compile(
    r"\bhow\s+(?:was|were|is|did\s+(?:they|we|you|the\s+doctors?))\s+(?:[\w'-]+\s+){0,4}?"
    r"(?:diagnos\w*|found|find|detected|picked\s+up|pick\s+(?:it\s+)?up|caught|catch|"
    r"confirmed|discovered)\b"
    r"|\bwork-?\s?ups?\b|\bwhat\s+(?:tests?|studies|imaging)\s+(?:led\s+to|confirmed|showed|found)\b",
    re.I,
)


def _diagnosed_how(
    focus: Focus, question: str, evidence: EvidenceSet | None, terminology: Terminology
) -> None:
    """How a problem was found ("how was the lung cancer diagnosed?"): what was done for it
    or for a suspicion of it up to the day it was first recorded (the chest X-ray, the CT
    and the biopsy that found it; not the chemotherapy after), with the results that showed
    it then (:func:`agent.prefetch._done_for`)."""
    problems = [c for _w, c in focus.concepts if c.kind in ("condition", "finding")]
    if not problems or not _HOW_DIAGNOSED.search(question):
        return
    focus.sections = ["procedures"]
    focus.workup = True
    focus.given_for = [c.id for c in problems]
    focus.past = True
    focus.asks = None
    focus.which = False
    onset = _first_day(problems, evidence, terminology) if evidence is not None else None
    if onset is not None:  # (each entry's first day: a problem recorded again later)
        focus.window = Window(
            None, onset, f"up to its diagnosis on {onset.isoformat()}", kept=False
        )
