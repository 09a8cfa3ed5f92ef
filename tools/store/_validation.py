"""Validation at the import boundary, and cheap FHIR-version checks.

Three modes (``Validation``):

* ``"full"``: every resource through :func:`tools.fhir_version.validate` (R4 structural
  validation with fhir.resources; about 1 ms per resource, so ~1,000 resources/s);
* ``"shape"`` (the default): the first resource of every distinct *shape* (resource type
  plus the set of element paths with their JSON types) is fully validated; a resource
  whose shape already passed skips the model, whose structural verdict (unknown, missing
  or mistyped elements) would be the same. What a shape cannot show, the format of
  values (code, uri, dateTime patterns), is then not checked by the model, except where
  the store reads values itself for every resource (id, the indexed dates,
  meta.lastUpdated). Synthea's 18,002 resources have 115 shapes;
* ``"none"``: no model validation (the version checks and the format checks above stay).

Every mode runs the version checks: an unknown resource type, an element only STU3 or R5
define, a version-specific profile URL or a ``fhirVersion`` other than 4.0.x raise
:class:`~tools.errors.WrongFhirVersion`.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final, Literal

from tools.errors import ImportFailed, WrongFhirVersion
from tools.fhir_version import CLINICAL_TYPES, PATIENT_SEARCH_PARAM, model_class, validate

__all__ = ["Validation", "Validator", "check_bundle_version", "known_type"]

Validation = Literal["full", "shape", "none"]

_MAX_SHAPES: Final = 20_000

_VERSIONED_PROFILE: Final = re.compile(
    r"https?://hl7\.org/fhir/(DSTU2|STU3|R5|R6|1\.0|3\.0|5\.0|6\.0)[^/]*/", re.IGNORECASE
)

# Elements that identify another FHIR version's resource (R4 does not define them).
_STU3_ONLY: Final[dict[str, frozenset[str]]] = {
    "Observation": frozenset({"context"}),
    "Condition": frozenset({"assertedDate", "context"}),
    "MedicationRequest": frozenset({"context", "definition"}),
    "MedicationStatement": frozenset({"context", "taken", "notTaken"}),
    "Procedure": frozenset({"context", "definition", "notDone", "notDoneReason"}),
    "Immunization": frozenset({"notGiven", "date", "practitioner", "explanation"}),
    "AllergyIntolerance": frozenset({"assertedDate", "lastOccurrence"}),
    "DiagnosticReport": frozenset({"context", "codedDiagnosis", "image"}),
    "CarePlan": frozenset({"context", "definition"}),
    "Goal": frozenset({"status"}),
    "Encounter": frozenset({"incomingReferral"}),
    "Patient": frozenset({"animal"}),
}
_R5_ONLY: Final[dict[str, frozenset[str]]] = {
    "Encounter": frozenset(
        {"actualPeriod", "plannedStartDate", "plannedEndDate", "virtualService", "subjectStatus"}
    ),
    "Observation": frozenset({"triggeredBy", "bodyStructure"}),
    "MedicationRequest": frozenset(
        {"medication", "reported", "informationSource", "renderedDosageInstruction"}
    ),
    "Condition": frozenset({"participant"}),
    "AllergyIntolerance": frozenset({"participant"}),
    "Immunization": frozenset({"informationSource", "administeredProduct"}),
    "Procedure": frozenset({"occurrenceDateTime", "occurrencePeriod", "reported", "focus"}),
}


@functools.lru_cache(maxsize=512)
def known_type(resource_type: str) -> bool:
    """Whether ``resource_type`` is a FHIR R4 resource type.

    The types :mod:`tools.fhir_version` already lists are known without importing their
    model (importing the models of a Synthea bundle's types costs ~0.3 s per process).
    """
    if resource_type in PATIENT_SEARCH_PARAM or resource_type in CLINICAL_TYPES:
        return True
    try:
        model_class(resource_type)
    except (WrongFhirVersion, ValueError):  # fhir.resources raises ValueError for unknown names
        return False
    return True


def _wrong_version(where: str, what: str) -> WrongFhirVersion:
    return WrongFhirVersion(where, f"{what}; export the data as FHIR R4 (4.0.1) and import again.")


def _check_profiles(meta: Any, where: str, what: str) -> None:
    if not isinstance(meta, dict):
        return
    for profile in meta.get("profile") or ():
        if isinstance(profile, str) and (m := _VERSIONED_PROFILE.match(profile)):
            raise _wrong_version(where, f"{what} declares the {m.group(1)} profile `{profile}`")
    version = meta.get("fhirVersion")
    if isinstance(version, str) and not version.startswith("4.0"):
        raise _wrong_version(where, f"{what} says fhirVersion {version}")


def check_bundle_version(bundle: dict[str, Any], where: str) -> None:
    """Raise ``WrongFhirVersion`` for Bundle-level hints of another FHIR version."""
    _check_profiles(bundle.get("meta"), where, "the Bundle")
    version = bundle.get("fhirVersion")
    if isinstance(version, str) and not version.startswith("4.0"):
        raise _wrong_version(where, f"the Bundle says fhirVersion {version}")


def _check_version(resource: dict[str, Any], rtype: str, where: str, label: str) -> None:
    if not known_type(rtype):
        raise _wrong_version(where, f"{label}: `{rtype}` is not a FHIR R4 resource type")
    for table, version in ((_STU3_ONLY, "STU3"), (_R5_ONLY, "R5")):
        fields = table.get(rtype)
        if fields:
            found = sorted(fields.intersection(resource))
            if found:
                raise _wrong_version(
                    where, f"{label} has `{found[0]}`, which FHIR {version} defines but R4 does not"
                )
    if rtype == "Encounter" and isinstance(resource.get("class"), list):
        raise _wrong_version(where, f"{label} has a list `class`, as in FHIR R5 (R4: one Coding)")
    _check_profiles(resource.get("meta"), where, label)
    declared = resource.get("fhirVersion")
    if isinstance(declared, str) and not declared.startswith("4.0"):
        raise _wrong_version(where, f"{label} says fhirVersion {declared}")


Shape = frozenset[str | tuple[str, type]]


def _shape(resource: dict[str, Any], root: str) -> Shape:
    """The element paths of a resource with their JSON types (list items folded together).

    A string leaf is recorded as its bare path (the common case, cheapest to hash); other
    leaves as ``(path, type)``. Iterative and allocation-light: it runs for every resource.
    """
    out: set[str | tuple[str, type]] = set()
    add = out.add
    stack: list[tuple[dict[str, Any], str]] = [(resource, root + ".")]
    pop, push = stack.pop, stack.append
    while stack:
        value, path = pop()
        for key, item in value.items():
            kind = type(item)
            if kind is str:
                add(path + key)
            elif kind is dict:
                push((item, path + key + "."))
            elif kind is list:
                inner = path + key + "[]."
                for element in item:
                    element_kind = type(element)
                    if element_kind is dict:
                        push((element, inner))
                    elif element_kind is str:
                        add(inner)
                    else:
                        add((inner, element_kind))
            else:
                add((path + key, kind))
    return frozenset(out)


# Shapes whose first resource passed R4 validation, shared by every Validator of the
# process (a shape's validity does not depend on the store it is imported into).
_VALIDATED_SHAPES: set[Shape] = set()


class Validator:
    """Validates resources in one of the :data:`Validation` modes, caching shapes."""

    def __init__(self, mode: Validation = "shape") -> None:
        if mode not in ("full", "shape", "none"):
            raise ValueError(f"validation must be 'full', 'shape' or 'none', not {mode!r}")
        self.mode: Validation = mode
        self.validated = 0  # resources that went through the R4 model

    def check(
        self, resource: dict[str, Any], rtype: str, where: str, position: str, ref: str
    ) -> None:
        """Raise ``WrongFhirVersion`` / ``InvalidResource`` (path ``where``) for a bad resource.

        ``position`` says where it is in the file (``entry 50``, ``line 7``); ``ref`` is its
        ``Type/id``.
        """
        _check_version(resource, rtype, where, f"{position} ({ref})")
        if self.mode == "none":
            return
        shape: Shape | None = None
        if self.mode == "shape":
            shape = _shape(resource, rtype)
            if shape in _VALIDATED_SHAPES:
                return
        try:
            validate(resource, where)
        except ImportFailed as exc:
            raise type(exc)(where, f"{position}: {exc.detail}") from None
        self.validated += 1
        if shape is not None:
            if len(_VALIDATED_SHAPES) >= _MAX_SHAPES:
                _VALIDATED_SHAPES.clear()
            _VALIDATED_SHAPES.add(shape)
