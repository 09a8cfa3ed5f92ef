"""The audit trail: typed entries, their table, and their FHIR ``AuditEvent`` export.

::

    from tools.audit import AuditEntry, AuditLog, audit_events, PatientIdHasher

    log = AuditLog("records.db")                      # same database as the record store
    log.write(AuditEntry(who="alice", action="patient.summary", patient_id="p1",
                         resource_counts={"Observation": 120}))
    for entry in log.entries(since="2025-01-01T00:00:00Z"):
        for event in audit_events(entry, observer="fhir-assistant cpu-demo"):
            ...                                       # FHIR R4 AuditEvent (IHE BALP shape)

    hasher = PatientIdHasher(key)                     # logs: patient ids, keyed-hashed
    log_line = f"patient={hasher('p1')}"              # 'p-3f0c…', never the id itself

Nothing here knows about models or HTTP; the service (``surfaces/service``) builds the
entries and writes them before each response completes.
"""

from tools.audit._entry import AuditEntry, Interaction
from tools.audit._fhir import BALP, audit_event, audit_events
from tools.audit._hash import PatientIdHasher
from tools.audit._log import AUDIT_TABLE, AuditLog

__all__ = [
    "AUDIT_TABLE",
    "BALP",
    "AuditEntry",
    "AuditLog",
    "Interaction",
    "PatientIdHasher",
    "audit_event",
    "audit_events",
]
