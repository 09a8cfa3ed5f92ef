"""UCUM unit conversion for lab and vital values (no external dependency).

A small UCUM parser covering what lab and vital results use: metric prefixes, the
base units (g, m, s, mol, K), L, min/h/d/wk/mo/a, mm[Hg], Pa, U (enzyme unit), arbitrary
units ([iU], [IU], eq, [arb'U]: only convertible to themselves), ``10*N`` factors, ``%``,
curly-brace annotations (``{1.73_m2}``, ``{score}``: dimensionless, as UCUM defines),
``.`` / ``/`` / exponents / parentheses, and the customary units ``[lb_av]``, ``[oz_av]``,
``[in_i]``, ``[ft_i]``. Temperatures (``Cel``, ``[degF]``, ``K``) convert affinely.

Mass ↔ substance conversions (mg/dL ↔ mmol/L, mg/dL ↔ µmol/L) need the analyte's molar
mass, which :mod:`tools.codes` provides per measure and :data:`MOLAR_MASS_BY_LOINC` per
LOINC code (:func:`convert_analyte`, :func:`analyte_conversion`). Unit strings that are not UCUM but common in
records (``mmHg``, ``lbs``, ``°C``, ``bpm``, ``mL/min/1.73m2``) are mapped first.

Everything else (unknown atoms) is only "compatible" with the identical string.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from tools.errors import IncompatibleUnits

__all__ = [
    "MOLAR_MASS_BY_LOINC",
    "UnitParseError",
    "analyte_conversion",
    "canonical_unit",
    "conversion",
    "convert",
    "convert_analyte",
    "display_unit",
    "molar_mass_of",
    "parse_unit",
]

_DIMS = ("m", "s", "g", "mol", "K")


class UnitParseError(ValueError):
    """A unit string that is not (supported) UCUM."""


@dataclass(frozen=True, slots=True)
class _Unit:
    factor: float
    dims: tuple[tuple[str, int], ...]  # sorted (dimension, exponent), exponent != 0

    def __mul__(self, other: _Unit) -> _Unit:
        return _Unit(self.factor * other.factor, _combine(self.dims, other.dims, 1))

    def __truediv__(self, other: _Unit) -> _Unit:
        return _Unit(self.factor / other.factor, _combine(self.dims, other.dims, -1))

    def __pow__(self, exp: int) -> _Unit:
        return _Unit(self.factor**exp, tuple((d, e * exp) for d, e in self.dims))


def _combine(
    a: tuple[tuple[str, int], ...], b: tuple[tuple[str, int], ...], sign: int
) -> tuple[tuple[str, int], ...]:
    acc = dict(a)
    for d, e in b:
        acc[d] = acc.get(d, 0) + sign * e
    return tuple(sorted((d, e) for d, e in acc.items() if e))


def _u(factor: float, **dims: int) -> _Unit:
    return _Unit(factor, tuple(sorted((d, e) for d, e in dims.items() if e)))


_ONE = _u(1.0)
_PA = _u(1000.0, g=1, m=-1, s=-2)
# atom -> (unit, may take a metric prefix)
_ATOMS: dict[str, tuple[_Unit, bool]] = {
    "m": (_u(1, m=1), True),
    "s": (_u(1, s=1), True),
    "g": (_u(1, g=1), True),
    "mol": (_u(1, mol=1), True),
    "K": (_u(1, K=1), True),
    "L": (_u(1e-3, m=3), True),
    "l": (_u(1e-3, m=3), True),
    "min": (_u(60, s=1), False),
    "h": (_u(3600, s=1), False),
    "d": (_u(86400, s=1), False),
    "wk": (_u(604800, s=1), False),
    "mo": (_u(2629800, s=1), False),
    "a": (_u(31557600, s=1), False),
    "Pa": (_PA, True),
    "bar": (_PA * _u(1e5), True),
    "m[Hg]": (_PA * _u(133322.387415), True),
    "m[H2O]": (_PA * _u(9806.65), True),
    "U": (_u(1e-6 / 60, mol=1, s=-1), True),
    "kat": (_u(1, mol=1, s=-1), True),
    "[lb_av]": (_u(453.59237, g=1), False),
    "[oz_av]": (_u(28.349523125, g=1), False),
    "[in_i]": (_u(0.0254, m=1), False),
    "[ft_i]": (_u(0.3048, m=1), False),
    "%": (_u(0.01), False),
    "[ppm]": (_u(1e-6), False),
    "[pi]": (_u(math.pi), False),
    # arbitrary units: each its own dimension, convertible only among their prefixes
    "[iU]": (_u(1, iU=1), True),
    "[IU]": (_u(1, iU=1), True),
    "eq": (_u(1, eq=1), True),
    "osm": (_u(1, osm=1), True),
    "[arb'U]": (_u(1, arbU=1), False),
    "[pH]": (_u(1, pH=1), False),
}
_PREFIXES = {
    "Y": 1e24, "Z": 1e21, "E": 1e18, "P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3,
    "h": 1e2, "da": 1e1, "d": 1e-1, "c": 1e-2, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "μ": 1e-6,
    "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18, "z": 1e-21, "y": 1e-24,
}  # fmt: skip
_TEMPERATURE = {"Cel", "[degF]", "K"}

# Common non-UCUM spellings in records -> UCUM.
_ALIASES = {
    "mmhg": "mm[Hg]",
    "mm hg": "mm[Hg]",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "pound": "[lb_av]",
    "pounds": "[lb_av]",
    "oz": "[oz_av]",
    "in": "[in_i]",
    "inch": "[in_i]",
    "ft": "[ft_i]",
    "°c": "Cel",
    "degc": "Cel",
    "c": "Cel",
    "°f": "[degF]",
    "degf": "[degF]",
    "f": "[degF]",
    "bpm": "/min",
    "beats/min": "/min",
    "breaths/min": "/min",
    "/minute": "/min",
    "kg/m²": "kg/m2",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73 m2": "mL/min/{1.73_m2}",
    "ml/min/1.73m²": "mL/min/{1.73_m2}",
    "meq/l": "meq/L",
    "iu/l": "[iU]/L",
    "miu/l": "m[iU]/L",
    "iu/ml": "[iU]/mL",
    "mcg": "ug",
    "mcg/dl": "ug/dL",
    "mcg/l": "ug/L",
    "mcmol/l": "umol/L",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
}


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_FROM_SUPERSCRIPT = {v: k for k, v in zip("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻", strict=True)}
_DISPLAY_ATOMS = {"mm[Hg]": "mmHg", "[lb_av]": "lb", "[oz_av]": "oz", "[in_i]": "in",
                  "[ft_i]": "ft", "Cel": "°C", "[degF]": "°F", "[iU]": "IU", "[IU]": "IU"}  # fmt: skip


def canonical_unit(unit: str | None) -> str:
    """Map a record's unit string to UCUM where it is a known non-UCUM spelling (including
    the forms :func:`display_unit` writes: ``mmHg``, ``10³/µL``, ``mL/min/1.73 m²``)."""
    if not unit:
        return ""
    text = unit.strip()
    if text.lower() in _ALIASES:
        return _ALIASES[text.lower()]
    undone = _undisplay(text)
    return _ALIASES.get(undone.lower(), undone)


def _undisplay(text: str) -> str:
    text = re.sub(r"^[×x]\s*(?=10)", "", text)
    text = re.sub(
        r"10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)",
        lambda m: "10*" + "".join(_FROM_SUPERSCRIPT[c] for c in m.group(1)),
        text,
    )
    text = text.replace("/1.73 m²", "/{1.73_m2}").replace("²", "2").replace("³", "3")
    text = re.sub(r"(?<![A-Za-z])[µμ](?=[A-Za-z])", "u", text)
    return text


def display_unit(unit: str | None) -> str:
    """A UCUM code as a clinician writes it: ``mm[Hg]`` → ``mmHg``, ``10*3/uL`` →
    ``10³/µL``, ``mL/min/{1.73_m2}`` → ``mL/min/1.73 m²``, ``kg/m2`` → ``kg/m²``, ``Cel``
    → ``°C``; a bare annotation (``{score}``) is no unit. :func:`canonical_unit` reads
    every form back, so a sentence that copies a displayed unit is still checked."""
    if not unit:
        return ""
    text = unit.strip()
    if re.fullmatch(r"\{[^}]*\}", text):
        return ""
    for code, shown in _DISPLAY_ATOMS.items():
        text = text.replace(code, shown)
    text = text.replace("{1.73_m2}", "1.73 m²")
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(
        r"10\*([+-]?\d+)", lambda m: "10" + m.group(1).lstrip("+").translate(_SUPERSCRIPT), text
    )
    text = re.sub(r"(?<![A-Za-z])u(?=(?:g|L|l|mol|m|IU|U)\b)", "µ", text)
    text = re.sub(r"(?<=[a-zA-Z])2\b", "²", text)
    text = re.sub(r"(?<=[a-zA-Z])3\b", "³", text)
    return text or unit.strip()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        # split into atoms; keep bracketed parts glued to letters (e.g. "m[Hg]", "[lb_av]")
        pos = 0
        pattern = re.compile(
            r"\{[^}]*\}|10[*^][+-]?\d+|\d+|[./()]|(?:[^./()\[\]{}\d]|\[[^\]]*\])+(?:[+-]?\d+)?"
        )
        while pos < len(text):
            m = pattern.match(text, pos)
            if not m:
                raise UnitParseError(f"cannot parse unit {text!r} at {text[pos:]!r}")
            self.tokens.append(m.group())
            pos = m.end()
        self.i = 0

    def parse(self) -> _Unit:
        unit = self._term()
        if self.i != len(self.tokens):
            raise UnitParseError(f"cannot parse unit {self.text!r}")
        return unit

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _term(self) -> _Unit:
        if self._peek() == "/":
            self.i += 1
            unit = _ONE / self._component()
        else:
            unit = self._component()
        while self._peek() in (".", "/"):
            op = self.tokens[self.i]
            self.i += 1
            nxt = self._component()
            unit = unit * nxt if op == "." else unit / nxt
        return unit

    def _component(self) -> _Unit:
        tok = self._peek()
        if tok is None:
            raise UnitParseError(f"unit {self.text!r} ends early")
        self.i += 1
        if tok == "(":
            unit = self._term()
            if self._peek() != ")":
                raise UnitParseError(f"unbalanced parentheses in {self.text!r}")
            self.i += 1
            return unit
        if tok.startswith("{"):
            return _ONE
        m = re.fullmatch(r"10[*^]([+-]?\d+)", tok)
        if m:
            return _u(10.0 ** int(m.group(1)))
        if tok.isdigit():
            return _u(float(tok))
        m = re.fullmatch(r"(.*?)([+-]?\d+)?", tok)
        assert m is not None
        symbol, exp = m.group(1), m.group(2)
        unit = _atom(symbol, self.text)
        if (self._peek() or "").startswith("{"):  # annotation after an atom: "g{total}"
            self.i += 1
        return unit ** int(exp) if exp else unit


def _atom(symbol: str, text: str) -> _Unit:
    if symbol in _ATOMS:
        return _ATOMS[symbol][0]
    for plen in (2, 1):
        prefix, rest = symbol[:plen], symbol[plen:]
        if prefix in _PREFIXES and rest in _ATOMS and _ATOMS[rest][1]:
            return _ATOMS[rest][0] * _u(_PREFIXES[prefix])
    raise UnitParseError(f"unknown unit {symbol!r} in {text!r}")


@functools.lru_cache(maxsize=1024)
def parse_unit(unit: str) -> _Unit:
    """Parse a UCUM unit string into a factor and dimensions (raises UnitParseError)."""
    text = canonical_unit(unit)
    if text in ("", "1"):
        return _ONE
    return _Parser(text).parse()


def _temperature(value: float, src: str, dst: str) -> float:
    kelvin = {"Cel": value + 273.15, "[degF]": (value - 32) * 5 / 9 + 273.15, "K": value}[src]
    return {"Cel": kelvin - 273.15, "[degF]": (kelvin - 273.15) * 9 / 5 + 32, "K": kelvin}[dst]


@functools.lru_cache(maxsize=1024)
def conversion(src: str, dst: str, molar_mass: float | None = None) -> float | None:
    """The factor that converts a value in ``src`` to ``dst`` (``None``: incompatible).

    ``molar_mass`` (g/mol) allows mass ↔ substance conversions (e.g. mg/dL ↔ mmol/L).
    Temperatures are not ratio units: use :func:`convert`.
    """
    a, b = canonical_unit(src), canonical_unit(dst)
    if a == b:
        return 1.0
    if a in _TEMPERATURE or b in _TEMPERATURE:
        return None
    try:
        ua, ub = parse_unit(a), parse_unit(b)
    except UnitParseError:
        return None
    if ua.dims == ub.dims:
        return ua.factor / ub.factor
    if molar_mass:
        # a - b = k * (g - mol): divide by molar_mass**k
        diff = dict(_combine(ua.dims, ub.dims, -1))
        k = diff.get("g", 0)
        if k and diff.get("mol", 0) == -k and set(diff) == {"g", "mol"}:
            return ua.factor / ub.factor / molar_mass**k
    return None


def convert(
    value: float, src: str, dst: str, *, molar_mass: float | None = None, what: str = "value"
) -> float:
    """Convert ``value`` from unit ``src`` to ``dst`` (UCUM), or raise IncompatibleUnits."""
    a, b = canonical_unit(src), canonical_unit(dst)
    if a in _TEMPERATURE and b in _TEMPERATURE:
        return _temperature(value, a, b)
    factor = conversion(a, b, molar_mass)
    if factor is None:
        raise IncompatibleUnits(what, dst, [f"{value:g} {src or '(no unit)'}"])
    return value * factor


# --------------------------------------------------------------------------- analytes

_GLUCOSE = 180.156
_CHOLESTEROL = 386.65  # total, LDL and HDL cholesterol are reported as cholesterol
_TRIGLYCERIDES = 885.7  # as triolein: mg/dL x 0.01129 = mmol/L
_CREATININE = 113.12  # mg/dL x 88.4 = umol/L
_UREA_NITROGEN = 28.0134  # BUN: two N per urea, so mg/dL (as N) x 0.357 = mmol/L (urea)
_UREA = 60.056
_CALCIUM = 40.078
_URIC_ACID = 168.11
_BILIRUBIN = 584.66
_MAGNESIUM = 24.305
_PHOSPHORUS = 30.974  # inorganic phosphate is reported as phosphorus
_IRON = 55.845

#: Molar mass (g/mol) of the analyte a LOINC code measures, for mass <-> substance
#: concentration conversions. Codes for the same analyte in either kind of unit share
#: the value (e.g. glucose 2345-7 in mg/dL and 14749-6 in mmol/L).
MOLAR_MASS_BY_LOINC: dict[str, float] = {
    # glucose (serum/plasma, blood, fasting, 2 h, capillary by glucometer; mass and moles)
    **dict.fromkeys(
        ["2345-7", "2339-0", "1558-6", "2340-8", "41653-7", "15074-8", "14749-6", "14771-0"],
        _GLUCOSE,
    ),
    # cholesterol: total, LDL (direct, calculated), HDL; mass and moles
    **dict.fromkeys(
        ["2093-3", "14647-2", "18262-6", "13457-7", "2089-1", "22748-8", "39469-2"],
        _CHOLESTEROL,
    ),
    **dict.fromkeys(["2085-9", "14646-4"], _CHOLESTEROL),
    **dict.fromkeys(["2571-8", "3043-7", "14927-8"], _TRIGLYCERIDES),
    **dict.fromkeys(["2160-0", "38483-4", "14682-9", "21232-4", "2161-8"], _CREATININE),
    **dict.fromkeys(["6299-2", "3094-0", "14937-7"], _UREA_NITROGEN),
    **dict.fromkeys(["3091-6", "22664-7"], _UREA),
    **dict.fromkeys(["17861-6", "49765-1", "2000-8", "1994-3"], _CALCIUM),
    **dict.fromkeys(["3084-1", "14933-6"], _URIC_ACID),
    # bilirubin: total (serum/plasma, blood), direct; mass and moles
    **dict.fromkeys(["1975-2", "42719-5", "14631-6", "1968-7", "14629-0"], _BILIRUBIN),
    **dict.fromkeys(["19123-9", "2601-3"], _MAGNESIUM),
    **dict.fromkeys(["2777-1", "14879-1"], _PHOSPHORUS),
    **dict.fromkeys(["2498-4", "14798-3"], _IRON),
}


def _loinc_key(loinc: str | None) -> str:
    """``2345-7`` from ``2345-7``, ``http://loinc.org|2345-7`` or ``LOINC 2345-7``."""
    text = (loinc or "").strip()
    return re.split(r"[|\s]", text)[-1] if text else ""


def molar_mass_of(loinc: str | None) -> float | None:
    """The molar mass (g/mol) of the analyte a LOINC code measures (``None``: unknown)."""
    return MOLAR_MASS_BY_LOINC.get(_loinc_key(loinc))


def analyte_conversion(src: str, dst: str, loinc: str | None) -> float | None:
    """The factor from ``src`` to ``dst`` for the analyte of ``loinc`` (``None``: none).

    Like :func:`conversion`, plus mass <-> substance when the code's molar mass is known.
    """
    return conversion(src, dst, molar_mass_of(loinc))


def convert_analyte(value: float, from_unit: str, to_unit: str, loinc: str | None) -> float:
    """Convert a lab value of the analyte ``loinc`` measures (raises IncompatibleUnits).

    ``convert_analyte(99, "mg/dL", "mmol/L", "2345-7")`` is 5.50 (glucose); without a known
    molar mass only UCUM-compatible units convert.
    """
    key = _loinc_key(loinc)
    what = f"LOINC {key}" if key else "value"
    return convert(value, from_unit, to_unit, molar_mass=molar_mass_of(key), what=what)
