"""What a FHIR server says it can do, read from its CapabilityStatement (``GET metadata``).

Only the facts the client acts on are kept: which resource types the server lists, which
search parameters it declares for each, and whether it offers ``Patient/$everything``.
A CapabilityStatement is advisory (servers under-declare and over-declare), so every
decision made from it is checked against the server's answers at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Capabilities"]


def _operation_names(ops: Any) -> set[str]:
    """Operation names without ``$``; also the last part of each definition's canonical
    (``.../OperationDefinition/Patient-everything|4.0.1`` -> ``everything``)."""
    names: set[str] = set()
    for op in ops if isinstance(ops, list) else []:
        if not isinstance(op, dict):
            continue
        name = op.get("name")
        if isinstance(name, str):
            names.add(name.lstrip("$"))
        definition = op.get("definition")
        if isinstance(definition, str):
            tail = definition.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            names.add(tail.split("-")[-1])
    return names


def _declares_patient_everything(ops: Any) -> bool:
    """A system-level operation whose definition is Patient-everything."""
    return any(
        isinstance(op, dict)
        and isinstance(op.get("definition"), str)
        and "Patient-everything" in op["definition"]
        for op in (ops if isinstance(ops, list) else [])
    )


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The parts of a server's CapabilityStatement the client uses.

    Attributes:
        known: False when the server sent no usable CapabilityStatement; every
            question is then answered "unknown" and the client probes instead.
        fhir_version: the declared ``fhirVersion`` (e.g. ``4.0.1``), or None.
        search_params: resource type -> declared search parameter names; a type
            listed without any ``searchParam`` maps to None (nothing declared).
        operations: resource type -> operation names (without ``$``); key ``"*"``
            holds the system-level operations.
        software: ``software.name`` and version, for messages.
    """

    known: bool = False
    fhir_version: str | None = None
    search_params: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    operations: Mapping[str, frozenset[str]] = field(default_factory=dict)
    software: str = ""

    @classmethod
    def unknown(cls) -> Capabilities:
        """Capabilities of a server whose CapabilityStatement could not be read."""
        return cls()

    @classmethod
    def parse(cls, statement: Mapping[str, Any]) -> Capabilities:
        """Read a CapabilityStatement dict (its first ``rest`` entry in server mode)."""
        rests = [r for r in statement.get("rest") or [] if isinstance(r, dict)]
        rest = next((r for r in rests if r.get("mode") == "server"), rests[0] if rests else {})
        params: dict[str, frozenset[str] | None] = {}
        operations: dict[str, frozenset[str]] = {
            "*": frozenset(_operation_names(rest.get("operation")))
        }
        for res in rest.get("resource") or []:
            if not isinstance(res, dict) or not isinstance(res.get("type"), str):
                continue
            rtype = res["type"]
            declared = res.get("searchParam")
            if isinstance(declared, list) and declared:
                params[rtype] = frozenset(
                    p["name"]
                    for p in declared
                    if isinstance(p, dict) and isinstance(p.get("name"), str)
                )
            else:
                params[rtype] = None
            operations[rtype] = frozenset(_operation_names(res.get("operation")))
        if _declares_patient_everything(rest.get("operation")):
            operations["Patient"] = operations.get("Patient", frozenset()) | {"everything"}
        software = statement.get("software") or {}
        label = " ".join(
            str(software[k])
            for k in ("name", "version")
            if isinstance(software, dict) and software.get(k)
        )
        version = statement.get("fhirVersion")
        return cls(
            known=True,
            fhir_version=version if isinstance(version, str) else None,
            search_params=params,
            operations=operations,
            software=label,
        )

    @property
    def has_patient_everything(self) -> bool:
        """True when the server declares ``Patient/$everything``."""
        return "everything" in self.operations.get("Patient", frozenset())

    def lists_type(self, resource_type: str) -> bool | None:
        """Whether the server lists the type (None when the statement is unknown)."""
        if not self.known:
            return None
        return resource_type in self.search_params

    def declared_params(self, resource_type: str) -> frozenset[str] | None:
        """The search parameters declared for a type; None when nothing is declared."""
        return self.search_params.get(resource_type)

    @property
    def declares_search_params(self) -> bool:
        """True when the statement declares search parameters for at least one type."""
        return any(p for p in self.search_params.values())
