"""The one place that pins the FHIR version.

The assistant speaks FHIR R4 (4.0.1). ``fhir.resources``' default package is R5 and
rejects R4 data, so R4 resources are validated with ``fhir.resources.R4B`` (R4B is
structurally compatible with R4 for every resource type the assistant reads). Nothing
else in the code base imports ``fhir.resources`` directly: call :func:`validate` at a
boundary (import, write-back); keep plain dicts everywhere else.

This module also holds the patient compartment (for each resource type the assistant
reads, the search parameter that ties it to a patient and the JSON paths that hold
that reference) and the R4 search parameters the assistant pushes to a server: per
type, the date, code and status parameters and the status codes each accepts
(:data:`SEARCH_DATE_PARAM`, :data:`SEARCH_CODE_PARAM`, :data:`SEARCH_STATUS_PARAM`).
"""

from __future__ import annotations

from typing import Any, Final

from fhir.resources import R4B as _models
from pydantic import ValidationError

from tools.errors import InvalidResource, WrongFhirVersion

__all__ = [
    "ACTIVE_CONDITION_STATUSES",
    "CLINICAL_TYPES",
    "CODE_SYSTEMS",
    "FHIR_MIME",
    "FHIR_VERSION",
    "PATIENT_REFERENCE_PATHS",
    "PATIENT_SEARCH_PARAM",
    "SEARCHABLE_TYPES",
    "SEARCH_CODE_PARAM",
    "SEARCH_DATE_PARAM",
    "SEARCH_STATUS_PARAM",
    "model_class",
    "patient_ids_of",
    "validate",
]

FHIR_VERSION: Final = "4.0.1"
FHIR_MIME: Final = "application/fhir+json"

# Resource type -> the search parameter that selects a patient's resources.
# "_id" for Patient itself. Types not listed are not patient-compartment types.
PATIENT_SEARCH_PARAM: Final[dict[str, str]] = {
    "Patient": "_id",
    "AllergyIntolerance": "patient",
    "CarePlan": "patient",
    "CareTeam": "patient",
    "Claim": "patient",
    "Condition": "patient",
    "Coverage": "beneficiary",
    "Device": "patient",
    "DiagnosticReport": "patient",
    "DocumentReference": "patient",
    "Encounter": "patient",
    "ExplanationOfBenefit": "patient",
    "FamilyMemberHistory": "patient",
    "Goal": "patient",
    "ImagingStudy": "patient",
    "Immunization": "patient",
    "Media": "patient",
    "MedicationAdministration": "patient",
    "MedicationDispense": "patient",
    "MedicationRequest": "patient",
    "MedicationStatement": "patient",
    "Observation": "patient",
    "Procedure": "patient",
    "Provenance": "patient",
    "QuestionnaireResponse": "patient",
    "ServiceRequest": "patient",
    "SupplyDelivery": "patient",
}

# Element names that may hold the patient reference, in the order they are tried.
PATIENT_REFERENCE_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "Claim": ("patient",),
    "ExplanationOfBenefit": ("patient",),
    "Coverage": ("beneficiary",),
    "AllergyIntolerance": ("patient",),
    "Immunization": ("patient",),
    "Goal": ("subject",),
    "Provenance": ("target",),
    "Device": ("patient",),
    "CareTeam": ("subject",),
    "FamilyMemberHistory": ("patient",),
    "SupplyDelivery": ("patient",),
}
_DEFAULT_PATHS: Final = ("subject", "patient")

# The clinical types the assistant reasons over (billing types such as Claim and
# ExplanationOfBenefit are kept in the store but are not clinical evidence).
CLINICAL_TYPES: Final = frozenset(
    {
        "Patient",
        "AllergyIntolerance",
        "CarePlan",
        "CareTeam",
        "Condition",
        "Device",
        "DiagnosticReport",
        "DocumentReference",
        "Encounter",
        "FamilyMemberHistory",
        "Goal",
        "ImagingStudy",
        "Immunization",
        "Media",
        "MedicationAdministration",
        "MedicationRequest",
        "MedicationStatement",
        "Observation",
        "Procedure",
        "ServiceRequest",
    }
)


# --------------------------------------------------------------------------- search

#: The resource types the assistant's record search may ask a server for.
SEARCHABLE_TYPES: Final = (
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "AllergyIntolerance",
    "Encounter",
    "Procedure",
    "Immunization",
    "DiagnosticReport",
    "DocumentReference",
    "CarePlan",
    "CareTeam",
    "Goal",
    "ImagingStudy",
    "Media",
    "Device",
)

#: Per type, the R4 date search parameter on the element the evidence dates by.
SEARCH_DATE_PARAM: Final[dict[str, str]] = {
    "Observation": "date",
    "Condition": "onset-date",
    "MedicationRequest": "authoredon",
    "MedicationStatement": "effective",
    "AllergyIntolerance": "date",
    "Encounter": "date",
    "Procedure": "date",
    "Immunization": "date",
    "DiagnosticReport": "date",
    "DocumentReference": "date",
    "CarePlan": "date",
    "CareTeam": "date",
    "ImagingStudy": "started",
    "Media": "created",
}

#: Per type, the R4 token parameter for its code, and a generic fallback name (the
#: embedded store searches ``code``). Observation codes go as ``combo-code`` (a
#: series may be a component's code).
SEARCH_CODE_PARAM: Final[dict[str, tuple[str, str | None]]] = {
    "Observation": ("combo-code", None),
    "Condition": ("code", "code"),
    "MedicationRequest": ("code", "code"),
    "MedicationStatement": ("code", "code"),
    "AllergyIntolerance": ("code", "code"),
    "Procedure": ("code", "code"),
    "DiagnosticReport": ("code", "code"),
    "Immunization": ("vaccine-code", "code"),
    "Encounter": ("type", "code"),
    "DocumentReference": ("type", "code"),
}

_EVENT: Final = frozenset({"preparation", "in-progress", "not-done", "on-hold", "stopped",
                           "completed", "entered-in-error", "unknown"})  # fmt: skip

#: Per type, the R4 status search parameter and the codes it accepts.
SEARCH_STATUS_PARAM: Final[dict[str, tuple[str, frozenset[str]]]] = {
    "Condition": ("clinical-status", frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"})),
    "AllergyIntolerance": ("clinical-status", frozenset({"active", "inactive", "resolved"})),
    "Observation": ("status", frozenset({"registered", "preliminary", "final", "amended", "corrected",
                                         "cancelled", "entered-in-error", "unknown"})),
    "MedicationRequest": ("status", frozenset({"active", "on-hold", "cancelled", "completed",
                                               "entered-in-error", "stopped", "draft", "unknown"})),
    "MedicationStatement": ("status", frozenset({"active", "completed", "entered-in-error", "intended",
                                                 "stopped", "on-hold", "unknown", "not-taken"})),
    "Encounter": ("status", frozenset({"planned", "arrived", "triaged", "in-progress", "onleave",
                                       "finished", "cancelled", "entered-in-error", "unknown"})),
    "Procedure": ("status", _EVENT),
    "Immunization": ("status", frozenset({"completed", "entered-in-error", "not-done"})),
    "DiagnosticReport": ("status", frozenset({"registered", "partial", "preliminary", "final", "amended",
                                              "corrected", "appended", "cancelled", "entered-in-error",
                                              "unknown"})),
    "DocumentReference": ("status", frozenset({"current", "superseded", "entered-in-error"})),
    "CarePlan": ("status", frozenset({"draft", "active", "on-hold", "revoked", "completed",
                                      "entered-in-error", "unknown"})),
    "CareTeam": ("status", frozenset({"proposed", "active", "suspended", "inactive", "entered-in-error"})),
    "ImagingStudy": ("status", frozenset({"registered", "available", "cancelled", "entered-in-error",
                                          "unknown"})),
    "Media": ("status", _EVENT),
    "Device": ("status", frozenset({"active", "inactive", "entered-in-error", "unknown"})),
}  # fmt: skip

#: The clinical statuses a Condition search for "active" conditions asks for.
ACTIVE_CONDITION_STATUSES: Final = ("active", "recurrence", "relapse")

#: Short names of code systems (as users and models write them) → canonical URIs.
CODE_SYSTEMS: Final[dict[str, str]] = {
    "loinc": "http://loinc.org",
    "sct": "http://snomed.info/sct",
    "snomed": "http://snomed.info/sct",
    "snomedct": "http://snomed.info/sct",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "cvx": "http://hl7.org/fhir/sid/cvx",
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "icd10": "http://hl7.org/fhir/sid/icd-10",
    "cpt": "http://www.ama-assn.org/go/cpt",
}


def _ref_patient_id(ref: Any) -> str | None:
    if not isinstance(ref, dict):
        return None
    value = ref.get("reference")
    if not isinstance(value, str):
        return None
    # "Patient/123", "http://server/fhir/Patient/123", "Patient/123/_history/2"
    parts = value.split("/")
    for i in range(len(parts) - 1):
        if parts[i] == "Patient":
            return parts[i + 1]
    return None


def patient_ids_of(resource: dict[str, Any]) -> set[str]:
    """The ids of the patients a resource belongs to (empty if none).

    A Patient belongs to itself. References must already be resolved to
    ``Patient/{id}`` form (the importer rewrites ``urn:uuid:`` references first).
    """
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        rid = resource.get("id")
        return {rid} if isinstance(rid, str) else set()
    ids: set[str] = set()
    for path in PATIENT_REFERENCE_PATHS.get(str(rtype), _DEFAULT_PATHS):
        value = resource.get(path)
        for ref in value if isinstance(value, list) else [value]:
            pid = _ref_patient_id(ref)
            if pid:
                ids.add(pid)
    return ids


def model_class(resource_type: str) -> type[Any]:
    """The R4 (``fhir.resources.R4B``) model class for a resource type."""
    try:
        cls: type[Any] = _models.get_fhir_model_class(resource_type)
        return cls
    except (KeyError, ValueError) as exc:  # fhir.resources 8.3 raises ValueError
        raise WrongFhirVersion("<data>", f"`{resource_type}` is not an R4 resource type") from exc


def validate(resource: dict[str, Any], where: str = "<data>") -> None:
    """Validate one resource structurally against FHIR R4; raise on failure.

    Raises :class:`WrongFhirVersion` when the errors look like another version's
    fields (e.g. R5 or STU3 elements), :class:`InvalidResource` otherwise.
    """
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise InvalidResource(where, "a resource has no `resourceType`")
    cls = model_class(rtype)
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        errors = exc.errors()
        ref = f"{rtype}/{resource.get('id', '?')}"
        extra = [e for e in errors if e.get("type") == "extra_forbidden"]
        first = errors[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        if extra and len(extra) == len(errors):
            fields = ", ".join(sorted({str(e["loc"][-1]) for e in extra})[:5])
            raise WrongFhirVersion(
                where,
                f"{ref} has elements that FHIR R4 does not define ({fields}); "
                "is this STU3 or R5 data? Export it as R4 (4.0.1).",
            ) from None
        raise InvalidResource(
            where,
            f"{ref} is not valid FHIR R4: {loc}: {first.get('msg')} "
            f"({len(errors)} error(s) in all)",
        ) from None
