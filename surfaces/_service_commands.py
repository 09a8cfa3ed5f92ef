"""The service's commands: ``serve``, ``service apikey`` and ``audit export``.

::

    fhir-assistant serve --config configs/cpu-demo.toml [--host 127.0.0.1 --port 8080]
    fhir-assistant service apikey lab-engine --scope system/*.rs     # prints the key once
    fhir-assistant audit export --config C [--since 2025-01-01] [--out audit.ndjson]
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from tools.errors import AssistantError

__all__ = ["register"]

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.toml"


def _fail(exc: AssistantError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _instant(text: str | None) -> str | None:
    """``2025-01-31`` or an ISO instant → a UTC instant string (as the audit stores them)."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or instant: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``service`` and ``audit`` to the CLI app."""

    @app.command("serve")
    def serve_cmd(
        config: Annotated[
            Path, typer.Option("--config", help="Deployment file (model, source, [service]).")
        ] = DEFAULT_CONFIG,
        host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
        workers: Annotated[
            int,
            typer.Option(
                "--workers",
                min=1,
                max=64,
                help="Worker processes (each loads its own model; share threads and audit "
                "through PostgreSQL).",
            ),
        ] = 1,
        public_url: Annotated[
            str | None,
            typer.Option("--public-url", help="The URL clients use (audit, OpenAPI)."),
        ] = None,
        insecure_no_auth: Annotated[
            bool,
            typer.Option(
                "--insecure-no-auth",
                help="Accept callers without credentials. Only on a loopback --host; logged "
                "loudly and marked on every audit entry.",
            ),
        ] = False,
    ) -> None:
        """Serve the HTTP API: a warm model, SSE streaming, auth and audit (see README)."""
        from surfaces.service._serve import serve

        try:
            serve(
                config,
                host=host,
                port=port,
                workers=workers,
                insecure_no_auth=insecure_no_auth,
                public_url=public_url,
            )
        except AssistantError as exc:
            raise _fail(exc) from None

    service = typer.Typer(help="Service administration (API keys).", no_args_is_help=True)
    app.add_typer(service, name="service")

    @service.command("apikey")
    def apikey_cmd(
        name: Annotated[str, typer.Argument(help="Who the key is for (audit `who`).")],
        scope: Annotated[
            list[str] | None,
            typer.Option("--scope", help="SMART scope (repeatable); default system/*.rs."),
        ] = None,
        patient: Annotated[
            str | None, typer.Option("--patient", help="Restrict the key to one patient.")
        ] = None,
    ) -> None:
        """Mint an API key: prints the key ONCE on stdout and the config entry (its hash
        only) on stderr, to paste under [service.auth] in the deployment file."""
        from pydantic import ValidationError

        from surfaces.service import mint_api_key

        try:
            key, entry = mint_api_key(
                name, scopes=tuple(scope or ("system/*.rs",)), patient=patient
            )
        except ValidationError as exc:
            typer.echo(f"error: {exc.errors()[0]['msg']}", err=True)
            raise typer.Exit(2) from None
        typer.echo(key)
        typer.echo(
            "\n# The key above is shown once; only its hash goes into the deployment file:\n"
            + entry,
            err=True,
        )

    audit = typer.Typer(help="The audit trail.", no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("export")
    def export_cmd(
        config: Annotated[
            Path, typer.Option("--config", help="Deployment file (names the database).")
        ] = DEFAULT_CONFIG,
        since: Annotated[
            str | None, typer.Option("--since", help="From this date or instant (UTC).")
        ] = None,
        until: Annotated[
            str | None, typer.Option("--until", help="Before this date/instant.")
        ] = None,
        patient: Annotated[str | None, typer.Option("--patient", help="One patient's.")] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write NDJSON here (default: stdout).")
        ] = None,
    ) -> None:
        """Export the audit trail as FHIR R4 AuditEvents (IHE BALP shape), one per line."""
        from agent.config import load_deployment
        from surfaces.service._state import service_database
        from tools.audit import AuditLog, audit_events

        try:
            deployment = load_deployment(config)
            log = AuditLog(service_database(deployment))
            try:
                entries = log.entries(
                    since=_instant(since), until=_instant(until), patient_id=patient
                )
            finally:
                log.close()
        except AssistantError as exc:
            raise _fail(exc) from None
        observer = f"fhir-assistant {deployment.name}"
        server = deployment.service.public_url
        lines = [
            orjson.dumps(ev)
            for e in entries
            for ev in audit_events(e, observer=observer, server_url=server)
        ]
        data = b"".join(line + b"\n" for line in lines)
        if out is None:
            sys.stdout.buffer.write(data)
        else:
            tmp = out.with_suffix(out.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(out)
            typer.echo(f"{len(lines)} AuditEvent(s) from {len(entries)} entries → {out}", err=True)
