"""Running the service under uvicorn (``fhir-assistant serve``), one or more workers.

Every worker process builds its own app from the deployment file named in
``$FHIR_ASSISTANT_SERVE_CONFIG`` (:func:`app_from_env`, a uvicorn factory), loads its own
warm model and shares nothing else in memory: the audit trail, the thread registry and
the checkpoints live in the databases the deployment names.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fastapi import FastAPI

from agent.config import load_deployment
from agent.models import is_loopback_host
from tools.audit import PatientIdHasher
from tools.errors import ConfigError

from ._app import create_app
from ._logging import configure_logging

__all__ = ["ENV_CONFIG", "app_from_env", "serve"]

ENV_CONFIG = "FHIR_ASSISTANT_SERVE_CONFIG"
ENV_INSECURE = "FHIR_ASSISTANT_SERVE_INSECURE"
ENV_PUBLIC_URL = "FHIR_ASSISTANT_SERVE_PUBLIC_URL"


def app_from_env() -> FastAPI:
    """The app of the deployment in ``$FHIR_ASSISTANT_SERVE_CONFIG`` (uvicorn factory)."""
    path = os.environ.get(ENV_CONFIG)
    if not path:
        raise ConfigError(f"${ENV_CONFIG} must name the deployment file to serve.")
    deployment = load_deployment(path)
    configure_logging(PatientIdHasher.from_env(deployment.service.audit.log_key_env))
    return create_app(
        deployment,
        insecure_no_auth=os.environ.get(ENV_INSECURE) == "1",
        public_url=os.environ.get(ENV_PUBLIC_URL) or None,
    )


def serve(
    config: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    insecure_no_auth: bool = False,
    public_url: str | None = None,
) -> None:
    """Serve ``config`` until interrupted.

    Raises:
        ConfigError: a bad deployment file, or ``insecure_no_auth`` on a non-loopback host.
    """
    import uvicorn

    deployment = load_deployment(config)  # fail before forking workers
    if insecure_no_auth and not is_loopback_host(host):
        raise ConfigError(
            f"--insecure-no-auth is allowed only on a loopback host (127.0.0.1, ::1, "
            f"localhost), not {host!r}: anyone who can reach {host} could read every record."
        )
    if insecure_no_auth:
        sys.stderr.write(
            "\n  !!! AUTHENTICATION IS OFF (--insecure-no-auth): any local process may read "
            "every record through this service. Every audit entry is marked insecure. !!!\n\n"
        )
    configure_logging(PatientIdHasher.from_env(deployment.service.audit.log_key_env))
    os.environ[ENV_CONFIG] = str(Path(config).resolve())
    os.environ[ENV_INSECURE] = "1" if insecure_no_auth else "0"
    url = public_url or deployment.service.public_url or f"http://{host}:{port}"
    os.environ[ENV_PUBLIC_URL] = url
    uvicorn.run(
        "surfaces.service._serve:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # its lines carry URLs (patient ids, search terms): see _logging
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
