"""Runner: generate tasks, load the bundles into a fresh store or test server, run, grade.

::

    python -m bench.medagent.run --data fhir_fixtures/patients --tasks 15 --seed 1 \\
        [--kinds v1|v2|all|record_vital,referral] \\
        [--server http://127.0.0.1:8080/fhir] [--out reports/medagent.json]

Each task's graded row is appended to ``REPORT.results.jsonl`` as it finishes (a line
on stderr says how it went), so an interrupted run resumes where it stopped: done task
ids are skipped, a results file written for another run is refused unless ``--fresh``.
A resumed run starts from freshly loaded bundles; every task is graded on the change it
made (its own before/after state), so tasks never depend on each other's writes.

Without ``--server`` the bundles go into a temporary embedded store (SQLite). With
``--server`` they are POSTed (as transactions) into that FHIR server, which must be an
EMPTY TEST SERVER: the run writes ServiceRequests into it, and a server that already
holds Patients is refused. Tasks run one at a time; a ``conditional_order`` task is
graded by reading the server's ServiceRequests before and after it, a v2 write task
(``record_vital``, ``medication_order``, ``referral``) by reading the matching
Observations, MedicationRequests or ServiceRequests (see :mod:`bench.medagent.grade`).
``--kinds`` picks the task kinds (default ``v1``: the original three, so earlier runs
stay comparable; ``v2``: the MedAgentBench v2 kinds; ``all``). Writes ``REPORT.json`` (config, per-kind success rates,
every result) and ``REPORT.md``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench._results import load_done, open_results
from bench.medagent.answer import MedAgentAnswerer, TaskAnswer
from bench.medagent.generate import KINDS, WRITE_KINDS, Task, dump, generate, parse_kinds
from bench.medagent.grade import (
    grade_answer,
    grade_order,
    grade_write,
    markdown,
    order_state,
    summarize,
    write_state,
)
from tools.errors import AssistantError, ConfigError
from tools.source import RecordSource

__all__ = [
    "MedAgentConfig",
    "MedAgentFactory",
    "load_into_server",
    "main",
    "run_medagent",
    "run_tasks",
]

MedAgentFactory = Callable[[RecordSource], MedAgentAnswerer]  # gets the loaded source

_SHARED_PREFIXES = ("hospitalinformation", "practitionerinformation")


class MedAgentConfig:
    """What a run is."""

    def __init__(
        self,
        data: str | Path,
        tasks: int,
        *,
        seed: int = 1,
        server: str | None = None,
        out: str | Path | None = None,
        answerer: str = "baseline",
        kinds: tuple[str, ...] = KINDS,
        fresh: bool = False,
    ) -> None:
        self.data = Path(data)
        self.kinds = tuple(kinds)
        self.tasks = tasks
        self.seed = seed
        self.server = server.rstrip("/") if server else None
        self.answerer = answerer
        self.out = Path(out) if out else Path("reports") / f"medagent-{answerer}-seed{seed}.json"
        self.fresh = fresh

    def identity(self) -> dict[str, Any]:
        """What decides whether a results file can be resumed."""
        return {
            "data": str(self.data.resolve()),
            "tasks": self.tasks,
            "seed": self.seed,
            "kinds": list(self.kinds),
            "answerer": self.answerer,
            "target": self.server or "embedded store",
        }


# --------------------------------------------------------------------------- loading


def _bundle_paths(data: Path) -> list[Path]:
    """The Bundle files under ``data``, shared Organization/Practitioner bundles first."""
    files = [data] if data.is_file() else sorted(p for p in data.rglob("*.json") if p.is_file())
    bundles = []
    for path in files:
        try:
            head = path.read_bytes()[:4096]
        except OSError:
            continue
        if b'"Bundle"' in head:
            bundles.append(path)
    return sorted(bundles, key=lambda p: 0 if p.name.lower().startswith(_SHARED_PREFIXES) else 1)


def _as_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """A ``collection`` Bundle as a transaction (PUT with an id, else POST)."""
    if bundle.get("type") in ("transaction", "batch"):
        return bundle
    entries = []
    for entry in bundle.get("entry") or []:
        r = entry["resource"]
        request = (
            {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
            if r.get("id")
            else {"method": "POST", "url": r["resourceType"]}
        )
        entries.append({**entry, "request": entry.get("request") or request})
    return {**bundle, "type": "transaction", "entry": entries}


def _bundle_patient_key(entry: dict[str, Any]) -> str | None:
    """The id the generator gives a Patient entry (``id``, else the fullUrl's uuid)."""
    r = entry.get("resource") or {}
    if r.get("id"):
        return str(r["id"])
    full = entry.get("fullUrl")
    return full[9:] if isinstance(full, str) and full.startswith("urn:uuid:") else None


def _server_id(location: str) -> str:
    parts = location.split("/_history/")[0].rstrip("/").split("/")
    return parts[-1]


def load_into_server(
    base_url: str, paths: Iterable[Path], *, timeout_s: float = 300.0
) -> dict[str, str]:
    """POST each Bundle into an EMPTY test server; ``bundle patient id -> server id``.

    Raises ConfigError when the server already holds Patients (never write into a
    server with other data), AssistantError when a bundle is refused.
    """
    base = base_url.rstrip("/")
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    ids: dict[str, str] = {}
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        try:
            probe = client.get(f"{base}/Patient", params={"_count": "1"})
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot reach the test server {base}: {exc}") from exc
        if probe.status_code != 200 or (probe.json().get("entry") or []):
            raise ConfigError(
                f"{base} already holds Patients (or did not answer GET Patient: HTTP "
                f"{probe.status_code}). The medagent run writes ServiceRequests: point "
                "--server at an EMPTY TEST SERVER, or leave --server out to use a fresh store."
            )
        for path in paths:
            bundle = _as_transaction(json.loads(path.read_bytes()))
            response = client.post(base, content=json.dumps(bundle).encode())
            if response.status_code != 200:
                raise AssistantError(
                    f"loading {path} into {base} failed: HTTP {response.status_code}: "
                    f"{response.text[:500]}"
                )
            answers = response.json().get("entry") or []
            for entry, ans in zip(bundle.get("entry") or [], answers, strict=False):
                if (entry.get("resource") or {}).get("resourceType") != "Patient":
                    continue
                key = _bundle_patient_key(entry)
                where = (ans.get("response") or {}).get("location")
                if key and where:
                    ids[key] = _server_id(where)
    return ids


# --------------------------------------------------------------------------- running


async def run_tasks(
    tasks: Sequence[Task],
    source: RecordSource,
    answerer: MedAgentAnswerer,
    patient_ids: dict[str, str],
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run and grade every task, one at a time; the result rows.

    ``patient_ids`` maps each task's ``patient_key`` to the patient's id on ``source``;
    ``on_row`` gets each graded row as soon as it exists (the runner appends it to the
    results file).
    """
    rows: list[dict[str, Any]] = []

    def finished(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    for task in tasks:
        pid = patient_ids.get(task.patient_key)
        row: dict[str, Any] = {
            "task_id": task.id,
            "kind": task.kind,
            "patient_key": task.patient_key,
            "patient_id": pid,
            "expected": task.expected,
        }
        if pid is None:
            row.update(correct=False, reason="the task's patient was not loaded", answer=None)
            finished(row)
            continue
        before: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            if task.kind == "conditional_order":
                before = await order_state(source, task.params["code"])
            elif task.kind in WRITE_KINDS:
                before = await write_state(source, task)
            session = None if task.kind == "find_patient" else pid
            try:
                ans = await answerer.answer(task, session)
            except Exception as exc:  # one failing task must not stop the run
                ans = TaskAnswer(error=f"{type(exc).__name__}: {exc}")
            if not ans.latency_s:
                ans.latency_s = time.perf_counter() - started
            if task.kind == "conditional_order":
                after = await order_state(source, task.params["code"])
                row.update(grade_order(task, pid, before, after))
                if ans.error:
                    row["answer_error"] = ans.error
            elif task.kind in WRITE_KINDS:
                row.update(grade_write(task, pid, before, await write_state(source, task)))
                if ans.error:
                    row["answer_error"] = ans.error
            else:
                row.update(grade_answer(task, ans, pid))
            row["answer"] = ans.as_dict()
        except AssistantError as exc:  # the source failed while grading
            row.update(correct=False, reason=f"grading failed: {exc}", answer=None)
        finished(row)
    close = getattr(answerer, "aclose", None)
    if close is not None:
        await close()
    return rows


def _baseline_factory(source: RecordSource) -> MedAgentAnswerer:
    from bench.medagent.baseline import BaselineAnswerer

    return BaselineAnswerer(source)


OnRow = Callable[[dict[str, Any]], None]


async def _run_on_store(
    cfg: MedAgentConfig, tasks: list[Task], factory: MedAgentFactory, on_row: OnRow
) -> list[dict[str, Any]]:
    from tools.store import RecordStore

    with tempfile.TemporaryDirectory(prefix="medagent-") as tmp:
        store = RecordStore(Path(tmp) / "records.db")
        try:
            report = store.import_paths(_bundle_paths(cfg.data))
            if not report.ok:
                bad = [f"{f.path}: {f.error}" for f in report.files if f.error]
                print("medagent: import problems:\n  " + "\n  ".join(bad[:5]), file=sys.stderr)
            stored = {p.id for p in store.patients_blocking()}
            ids = {t.patient_key: t.patient_key for t in tasks if t.patient_key in stored}
            return await run_tasks(tasks, store, factory(store), ids, on_row)
        finally:
            store.close()


async def _run_on_server(
    cfg: MedAgentConfig, tasks: list[Task], factory: MedAgentFactory, on_row: OnRow
) -> list[dict[str, Any]]:
    from tools.fhir import FhirClient

    assert cfg.server is not None
    ids = await asyncio.to_thread(load_into_server, cfg.server, _bundle_paths(cfg.data))
    async with FhirClient.from_url(cfg.server) as client:
        return await run_tasks(tasks, client, factory(client), ids, on_row)


def run_medagent(
    cfg: MedAgentConfig, factory: MedAgentFactory | None = None, *, command: str | None = None
) -> dict[str, Any] | None:
    """Run the tasks; the report dict (``None`` when ``cfg.data`` is absent or empty)."""
    if not cfg.data.exists():
        print(f"medagent: {cfg.data} not found; skipped.", file=sys.stderr)
        return None
    tasks = generate(cfg.data, cfg.tasks, seed=cfg.seed, kinds=cfg.kinds)
    if not tasks:
        print(f"medagent: no patient bundles under {cfg.data}; skipped.", file=sys.stderr)
        return None
    factory = factory or _baseline_factory
    runner = _run_on_server if cfg.server else _run_on_store
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    stem = cfg.out.with_suffix("")
    dump(tasks, f"{stem}.tasks.json")
    results_path = Path(f"{stem}.results.jsonl")
    identity = cfg.identity()
    done = load_done(results_path, identity, cfg.fresh, key="task_id")
    todo = [t for t in tasks if t.id not in done]
    if todo:
        if done:
            print(f"medagent: resuming, {len(done)} of {len(tasks)} tasks done", file=sys.stderr)
        with open_results(results_path, identity) as fh:

            def on_row(row: dict[str, Any]) -> None:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                done[row["task_id"]] = row
                seconds = (row.get("answer") or {}).get("latency_s")
                print(
                    f"medagent {len(done)}/{len(tasks)} {row['kind']}: "
                    + ("correct" if row["correct"] else f"wrong ({row.get('reason') or '-'})")
                    + (f", {seconds:.0f} s" if seconds else ""),
                    file=sys.stderr,
                    flush=True,
                )

            asyncio.run(runner(cfg, todo, factory, on_row))
    rows = [done[t.id] for t in tasks if t.id in done]
    data_label = cfg.data.name if cfg.data.name not in ("patients", "") else str(cfg.data)
    report = {
        "config": {
            **identity,
            "data_label": data_label,
            "generated": len(tasks),
            "command": command
            or (
                f"fhir-bench medagent --data {cfg.data} --tasks {cfg.tasks} --seed {cfg.seed}"
                + (f" --kinds {','.join(cfg.kinds)}" if cfg.kinds != KINDS else "")
                + (f" --server {cfg.server}" if cfg.server else "")
            ),
        },
        **summarize(rows),
        "results": rows,
    }
    cfg.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    Path(f"{stem}.md").write_text(markdown(report), encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="MedAgentBench-style tasks on FHIR bundles.")
    ap.add_argument("--data", required=True, help="dir of FHIR Bundles (fixtures or synthea)")
    ap.add_argument("--tasks", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--kinds", default="v1", help="v1 (default), v2, all, or a comma list of task kinds"
    )
    ap.add_argument("--server", help="an EMPTY test FHIR server (default: a fresh store)")
    ap.add_argument("--out", help="report path (REPORT.json); default reports/…")
    ap.add_argument("--fresh", action="store_true", help="discard earlier results")
    args = ap.parse_args(argv)
    try:
        kinds = parse_kinds(args.kinds)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cfg = MedAgentConfig(
        args.data,
        args.tasks,
        seed=args.seed,
        server=args.server,
        out=args.out,
        kinds=kinds,
        fresh=args.fresh,
    )
    command = "python -m bench.medagent.run " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        report = run_medagent(cfg, command=command)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if report is not None:
        print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
