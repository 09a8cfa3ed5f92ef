"""Property-based test of the HTTP API from its own OpenAPI schema (schemathesis).

Every operation is driven with generated requests (valid and invalid, with an API key)
against the real app on a real uvicorn server, with the embedded store holding the fixture
patients and a scripted model (a FAKE: replays one verified answer). Half of the
generated patient ids are swapped for real ones, so the success paths are exercised too.
Checks: schemathesis' own (no 5xx, status codes, content types, headers and bodies as
documented) and ours: every error body is a FHIR OperationOutcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surfaces.service import create_app
from tests.agent_fixtures import CLEOTILDE, DEBORA, agent_store  # noqa: F401
from tests.service_fixtures import (
    answering,
    api_key,
    deployment,
    scripted,
    threads_key_env,  # noqa: F401
    uvicorn_thread,
)

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.slow

EXAMPLES = 40


def operation_outcome_on_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx body is a FHIR OperationOutcome with at least one issue."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert body.get("resourceType") == "OperationOutcome", body
    assert body["issue"], body
    for issue in body["issue"]:
        assert issue["severity"] in ("fatal", "error", "warning", "information")
        assert issue["code"]
        assert issue["diagnostics"]
    return None


def test_api_follows_its_openapi_schema(agent_store: Path, tmp_path: Path) -> None:  # noqa: F811
    from schemathesis import GenerationMode
    from schemathesis import checks as st_checks

    key, entry = api_key("fuzzer", ("system/*.rs",))
    dep = deployment(agent_store, tmp_path, service={"auth": {"api_keys": [entry]}})
    model = scripted([answering("Warfarin is an active medication.", "E32")])
    app = create_app(dep, model=model)
    real_ids = st.sampled_from([CLEOTILDE, DEBORA])
    with uvicorn_thread(app) as base:
        raw = httpx.get(f"{base}/openapi.json").json()
        schema = schemathesis.openapi.from_dict(raw)
        statuses: dict[str, set[int]] = {}
        for result in schema.get_all_operations():
            operation = result.ok()

            def real_patient(case: Any, pid: str) -> Any:
                if case.path_parameters and "patient_id" in case.path_parameters:
                    case.path_parameters["patient_id"] = pid
                return case

            strategy = st.one_of(
                operation.as_strategy(),
                st.builds(real_patient, operation.as_strategy(), real_ids),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                # the key replaces any credential generated from the security schemes
                response = case.call(base_url=base, headers={"Authorization": f"Bearer {key}"})
                case.validate_response(
                    response,
                    checks=[
                        st_checks.not_a_server_error,
                        st_checks.status_code_conformance,
                        st_checks.content_type_conformance,
                        st_checks.response_schema_conformance,
                        st_checks.response_headers_conformance,
                    ],
                    additional_checks=[operation_outcome_on_error],
                )
                statuses.setdefault(case.operation.label, set()).add(response.status_code)

            run()
    assert len(statuses) >= 12, statuses
    # the success paths were reached, and invalid input was refused (4xx), never a 5xx
    ok = {label for label, seen in statuses.items() if any(s < 300 for s in seen)}
    for label in (
        "GET /v1/patients",
        "GET /v1/patients/{patient_id}/summary",
        "POST /v1/patients/{patient_id}/ask",
        "GET /v1/audit",
    ):
        assert label in ok, statuses
    refused = {label for label, seen in statuses.items() if any(400 <= s < 500 for s in seen)}
    assert len(refused) >= 10, statuses
