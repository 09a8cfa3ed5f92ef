"""CDS Hooks 2.0 on the HTTP service: the assistant inside the EHR.

* ``GET /cds-services``: discovery (two services, with their prefetch templates);
* ``POST /cds-services/patient-brief`` (``patient-view``) and
  ``POST /cds-services/previsit-brief`` (``appointment-book``): one card whose summary
  (< 140 characters) names the most important open item found by code
  (:mod:`tools.open_items`), whose detail lists the top facts with their citations, and
  which links to a draft brief for review (:mod:`tools.drafts`): the model brief, when
  it cannot finish within ``[cds] time_budget_s``, completes in the background and the
  link resolves to it; ``appointment-book`` may also link to the pre-visit intake;
* ``POST /cds-services/{id}/feedback``: accepted / overridden (with reasons), stored;
  ``GET /v1/cds/feedback`` exports it.

The EHR's JWT is verified before anything is read (:mod:`surfaces.cds._security`); the
record comes from the prefetch or the EHR's ``fhirServer`` (:mod:`surfaces.cds._hooks`).
Every call is audited like the rest of the service.
"""

from surfaces.cds._hooks import PREFETCH, SERVICES
from surfaces.cds._routes import router
from surfaces.cds._security import CdsStore, CdsVerifier

__all__ = ["PREFETCH", "SERVICES", "CdsStore", "CdsVerifier", "router"]
