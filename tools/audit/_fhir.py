"""Audit entries as FHIR R4 ``AuditEvent`` resources, shaped after IHE Basic Audit Log
Patterns (BALP).

* A read of one patient's record (summary, trend, brief) → ``PatientRead``: type ``rest``,
  subtype ``read``, action ``R``.
* A question (``ask``) or a model brief → the same shape with subtype ``operation`` (an
  operation that reads the record; action ``R``).
* A patient search → ``PatientQuery`` (one event per patient found, as BALP asks) or, when
  nobody matched, ``Query``: subtype ``search-type``, action ``E``, an entity with role
  ``Query`` holding the raw query (base64).
* Deleting a conversation thread → subtype ``delete``, action ``D``.

Agents: the user (``IRCP``, requestor, with the purpose of use), the client application
and this service (BALP's DICOM ``Source Role ID`` / ``Destination Role ID`` pair, which
swaps between reads and queries), and the model that answered (``Application``).
Entities: the Patient (``Person`` / ``Patient``, with the count of resources read per
type as ``detail``), each cited resource (``System Object`` / ``Domain Resource``), and
the request id (BALP ``XrequestId``). Failures keep the shape with ``outcome`` 4 (4xx)
or 8 (5xx) and the error type in ``outcomeDesc``, but claim no profile (BALP's profiles
describe successful events).
"""

from __future__ import annotations

import base64
from typing import Any, Final

from ._entry import AuditEntry

__all__ = ["BALP", "audit_event", "audit_events"]

BALP: Final = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
_AUDIT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_INTERACTION: Final = "http://hl7.org/fhir/restful-interaction"
_OUTCOME_DISPLAY: Final = {"0": "Success", "4": "Minor failure", "8": "Serious failure"}
_DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
_PARTICIPATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_PURPOSE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_ENTITY_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE: Final = "http://terminology.hl7.org/CodeSystem/object-role"
_SOURCE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/security-source-type"
_BALP_ENTITY: Final = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
# An operation over the record (ask, model brief) reads it: action R, as BALP PatientRead.
_ACTION: Final = {
    "read": "R",
    "search-type": "E",
    "operation": "R",
    "delete": "D",
    "create": "C",
    "update": "U",
    "transaction": "E",
}
_SOURCE_ROLE: Final = {"code": "110153", "display": "Source Role ID"}
_DESTINATION_ROLE: Final = {"code": "110152", "display": "Destination Role ID"}


def _outcome(entry: AuditEntry) -> str:
    if entry.succeeded:
        return "0"
    return "8" if entry.status >= 500 else "4"


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _network(address: str | None, kind: str) -> dict[str, str] | None:
    # R4 network.type: 1 machine name, 2 IP address, 5 URI
    return {"address": address, "type": kind} if address else None


def _agents(entry: AuditEntry, observer: str, server_url: str | None) -> list[dict[str, Any]]:
    query = entry.interaction == "search-type"
    # BALP: for a query the client is the Source and the server the Destination; for a
    # read (data flowing to the client) the other way round.
    client_role, server_role = (
        (_SOURCE_ROLE, _DESTINATION_ROLE) if query else (_DESTINATION_ROLE, _SOURCE_ROLE)
    )
    user: dict[str, Any] = {
        "type": {"coding": [_coding(_PARTICIPATION, "IRCP", "information recipient")]},
        "who": {
            "identifier": {
                **({"system": entry.who_system} if entry.who_system else {}),
                "value": entry.who,
            }
        },
        "requestor": True,
        "purposeOfUse": [{"coding": [_coding(_PURPOSE, entry.purpose)]}],
    }
    if entry.insecure:
        user["name"] = "unauthenticated (service started with --insecure-no-auth)"
    client: dict[str, Any] = {
        "type": {"coding": [_coding(_DCM, **client_role)]},
        "who": {"identifier": {"value": entry.client or "unknown"}},
        "requestor": False,
    }
    if net := _network(entry.client_address, "2"):
        client["network"] = net
    server: dict[str, Any] = {
        "type": {"coding": [_coding(_DCM, **server_role)]},
        "who": {"display": observer},
        "requestor": False,
    }
    if net := _network(server_url, "5"):
        server["network"] = net
    agents = [user, client, server]
    if entry.model:
        agents.append(
            {
                "type": {"coding": [_coding(_DCM, "110150", "Application")]},
                "who": {
                    "identifier": {
                        "system": "urn:fhir-assistant:deployment",
                        "value": f"{entry.deployment}#{entry.config_hash}",
                    },
                    "display": entry.model,
                },
                "name": entry.model,
                "requestor": False,
            }
        )
    return agents


def _patient_entity(patient_id: str, counts: dict[str, int]) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "what": {"reference": f"Patient/{patient_id}"},
        "type": _coding(_ENTITY_TYPE, "1", "Person"),
        "role": _coding(_OBJECT_ROLE, "1", "Patient"),
    }
    if counts:
        entity["detail"] = [
            {"type": f"resources-read:{rtype}", "valueString": str(n)}
            for rtype, n in sorted(counts.items())
        ]
    return entity


def _event(
    entry: AuditEntry,
    patient_id: str | None,
    observer: str,
    server_url: str | None,
    suffix: str = "",
) -> dict[str, Any]:
    query = entry.interaction == "search-type"
    outcome = _outcome(entry)
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": entry.id + suffix,
        "type": _coding(_AUDIT_TYPE, "rest", "Restful Operation"),
        "subtype": [_coding(_INTERACTION, entry.interaction, entry.interaction)],
        "action": _ACTION[entry.interaction],
        "recorded": entry.recorded,
        "outcome": outcome,
        "purposeOfEvent": [{"coding": [_coding(_PURPOSE, entry.purpose)]}],
        "agent": _agents(entry, observer, server_url),
        "source": {
            "site": entry.deployment or None,
            "observer": {"display": observer},
            "type": [_coding(_SOURCE_TYPE, "4", "Application Server")],
        },
        "entity": [],
    }
    # BALP's profiles describe successes; failures keep the shape without claiming one.
    if outcome == "0" and entry.interaction in ("read", "operation", "search-type"):
        if query:
            profile = "PatientQuery" if patient_id else "Query"
        else:
            profile = "PatientRead" if patient_id else "Read"
        event["meta"] = {"profile": [BALP + profile]}
    if outcome != "0":
        event["outcomeDesc"] = f"HTTP {entry.status}" + (f": {entry.error}" if entry.error else "")
    if event["source"]["site"] is None:
        del event["source"]["site"]
    entities: list[dict[str, Any]] = event["entity"]
    if patient_id:
        entities.append(_patient_entity(patient_id, {} if query else entry.resource_counts))
    if query:
        raw = f"{entry.method} {entry.route}" + (f"?{entry.query}" if entry.query else "")
        entities.append(
            {
                "type": _coding(_ENTITY_TYPE, "2", "System Object"),
                "role": _coding(_OBJECT_ROLE, "24", "Query"),
                "query": base64.b64encode(raw.encode()).decode(),
            }
        )
    for ref in entry.resources:
        entities.append(
            {
                "what": {"reference": ref},
                "type": _coding(_ENTITY_TYPE, "2", "System Object"),
                "role": _coding(_OBJECT_ROLE, "4", "Domain Resource"),
            }
        )
    if entry.thread_id:
        entities.append(
            {
                "what": {
                    "identifier": {"system": "urn:fhir-assistant:thread", "value": entry.thread_id}
                },
                "type": _coding(_ENTITY_TYPE, "2", "System Object"),
                "role": _coding(_OBJECT_ROLE, "20", "Job"),
                "description": f"conversation thread ({entry.action})",
            }
        )
    if entry.request_id:
        entities.append(
            {
                "what": {"identifier": {"value": entry.request_id}},
                "type": _coding(_BALP_ENTITY, "XrequestId"),
            }
        )
    if not entities:  # AuditEvent needs something it is about
        entities.append(
            {
                "what": {"display": entry.route or entry.action},
                "type": _coding(_ENTITY_TYPE, "2", "System Object"),
                "role": _coding(_OBJECT_ROLE, "4", "Domain Resource"),
            }
        )
    return event


def audit_events(
    entry: AuditEntry, *, observer: str = "fhir-assistant", server_url: str | None = None
) -> list[dict[str, Any]]:
    """The ``AuditEvent`` resources (FHIR R4, BALP-shaped) for one entry: one, or for a
    patient search one per patient found (ids ``<entry id>-<n>``)."""
    if entry.interaction == "search-type" and entry.patients_found:
        return [
            _event(entry, pid, observer, server_url, f"-{i}")
            for i, pid in enumerate(entry.patients_found, 1)
        ]
    return [_event(entry, entry.patient_id, observer, server_url)]


def audit_event(
    entry: AuditEntry, *, observer: str = "fhir-assistant", server_url: str | None = None
) -> dict[str, Any]:
    """The first (usually the only) ``AuditEvent`` of :func:`audit_events`."""
    return audit_events(entry, observer=observer, server_url=server_url)[0]
