"""Record tools: FHIR client, record store, evidence, summaries and lab trends.

Usable without any model. The public API, re-exported here::

    from tools import RecordStore, FhirClient, build_evidence, summarize, trend, build_brief

- :class:`RecordSource` (:mod:`tools.source`): the one interface over a FHIR server
  (:class:`FhirClient`) and the embedded store (:class:`RecordStore`).
- :func:`build_evidence` → :class:`EvidenceSet`: the record as short, citable lines.
- :func:`summarize` → :class:`Summary`: evidence under a token budget, by clinical priority.
- :func:`trend` / :func:`lab_trends` → :class:`Trend`: cited lab and vital series.
- :func:`build_brief` → :class:`Brief`: the extractive (no-model) pre-visit brief.
- :func:`image_attachments` / :func:`load_image` (:mod:`tools.attachments`): a record's
  image attachments, one loaded (patient-bound, checked, downscaled) for a vision model.
- :class:`RecordWriter`: ``create()`` on both sources, bound to the session patient
  (:mod:`tools.orders`: the lab order shape the assistant writes; :mod:`tools.writes`:
  its vital-sign Observation, MedicationRequest and referral ServiceRequest);
  :func:`find_patients` (:mod:`tools.lookup`): a patient by name and birth date.

Errors: :mod:`tools.errors` holds the project's one exception tree. The FHIR version is
pinned in :mod:`tools.fhir_version`; configuration objects live in :mod:`tools.config`.

Names are imported lazily: ``import tools.units`` does not load the store, the FHIR
client or SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.attachments import (
        AttachmentError,
        AttachmentRefused,
        ImageAttachment,
        LoadedImage,
        image_attachments,
        load_image,
    )
    from tools.brief import Brief, build_brief
    from tools.evidence import EvidenceItem, EvidenceSet, build_evidence
    from tools.fhir import FhirClient
    from tools.lookup import find_patients
    from tools.source import PatientRow, RecordSource, RecordWriter, Resource, SearchParams
    from tools.store import RecordStore, sync_all, sync_patient
    from tools.summary import Summary, summarize
    from tools.trends import Trend, lab_trends, trend

__all__ = [
    "AttachmentError",
    "AttachmentRefused",
    "Brief",
    "EvidenceItem",
    "EvidenceSet",
    "FhirClient",
    "ImageAttachment",
    "LoadedImage",
    "PatientRow",
    "RecordSource",
    "RecordStore",
    "RecordWriter",
    "Resource",
    "SearchParams",
    "Summary",
    "Trend",
    "build_brief",
    "build_evidence",
    "find_patients",
    "image_attachments",
    "lab_trends",
    "load_image",
    "summarize",
    "sync_all",
    "sync_patient",
    "trend",
]

_WHERE = {
    "AttachmentError": "attachments",
    "AttachmentRefused": "attachments",
    "ImageAttachment": "attachments",
    "LoadedImage": "attachments",
    "image_attachments": "attachments",
    "load_image": "attachments",
    "Brief": "brief",
    "build_brief": "brief",
    "EvidenceItem": "evidence",
    "EvidenceSet": "evidence",
    "build_evidence": "evidence",
    "FhirClient": "fhir",
    "find_patients": "lookup",
    "PatientRow": "source",
    "RecordSource": "source",
    "RecordWriter": "source",
    "Resource": "source",
    "SearchParams": "source",
    "RecordStore": "store",
    "sync_all": "store",
    "sync_patient": "store",
    "Summary": "summary",
    "summarize": "summary",
    "Trend": "trends",
    "lab_trends": "trends",
    "trend": "trends",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tools' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
