"""Reading import files and turning their resources into rows.

Three steps per file:

1. :func:`load` parses a ``*.json`` Bundle or a ``*.ndjson`` / ``*.ndjson.gz`` bulk-data
   file into :class:`Entry` objects (``MalformedJson`` / ``NotABundle`` on bad input);
2. :func:`stage` checks and validates each resource and extracts its index fields (pure,
   outside any transaction);
3. :func:`resolve` (inside the file's transaction, because it reads the store) honours
   ``ifNoneExist`` and conditional updates, rewrites ``urn:uuid:``, absolute and
   conditional (``Type?identifier=system|value``) references to ``Type/id``, and yields
   the final :class:`Prepared` rows with their content hash and patients.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl

import orjson

from tools.errors import (
    ImportFailed,
    InvalidResource,
    MalformedJson,
    NotABundle,
    UnresolvedReference,
)
from tools.fhir_version import patient_ids_of
from tools.store._dates import instant
from tools.store._index import IndexFields, extract
from tools.store._validation import Validator, check_bundle_version

__all__ = [
    "CONDITIONAL",
    "Entry",
    "Lookup",
    "Prepared",
    "Staged",
    "discover",
    "entries_from_bundle",
    "entries_from_resources",
    "load",
    "resolve",
    "stage",
]

_BUNDLE_TYPES: Final = frozenset({"transaction", "batch", "collection", "searchset", "document"})
_ID_RE: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_REF_RE: Final = re.compile(rb'"reference":"([^"\\]+)"')
_PATIENT_KEYS: Final = ("subject", "patient", "beneficiary", "target")
# Shared-resource bundles that others reference conditionally: imported first.
_SHARED_PREFIXES: Final = ("hospitalinformation", "practitionerinformation")
_SHARED_NDJSON: Final = frozenset(
    {"organization", "practitioner", "practitionerrole", "location", "medication"}
)
# Marks an UnresolvedReference that a later file of the same import may fix.
CONDITIONAL: Final = "conditional reference"
_NAMESPACE: Final = uuid.UUID("5b0ab4a4-6cf2-4b5e-9a53-6f0c1c7d7a11")


@dataclass(slots=True)
class Entry:
    """One resource read from a file, with its Bundle entry context (if any)."""

    resource: Any
    position: str  # "entry 3" or "line 7", for messages
    full_url: str | None = None
    method: str | None = None
    url: str | None = None
    if_none_exist: str | None = None


@dataclass(slots=True)
class Staged:
    """A checked, validated resource whose references are not rewritten yet."""

    entry: Entry
    resource: dict[str, Any]
    rtype: str
    rid: str | None  # None: a conditional update decides (inside the transaction)
    fields: IndexFields
    meta_last_updated: str | None
    meta_version_id: str | None


@dataclass(slots=True)
class Prepared:
    """A resource ready to be written."""

    ref: str
    rtype: str
    rid: str
    body: str
    content_hash: str
    fields: IndexFields
    patients: set[str]
    meta_last_updated: str | None
    meta_version_id: str | None


@dataclass(slots=True)
class Resolved:
    """What :func:`resolve` hands to the writer."""

    rows: list[Prepared] = field(default_factory=list)
    existing: int = 0  # conditional creates whose target already exists
    # per staged entry, in order: (Type/id it resolved to, True when written, False when a
    # conditional create matched an existing resource)
    outcomes: list[tuple[str, bool]] = field(default_factory=list)


class Lookup(Protocol):
    """Read access to the store that reference resolution needs."""

    def ids_by_identifier(self, resource_type: str, system: str | None, value: str) -> set[str]:
        """Ids of stored resources of that type with that identifier (any system if None)."""
        ...

    def exists(self, resource_type: str, resource_id: str) -> bool:
        """Whether ``resource_type/resource_id`` is stored."""
        ...

    def ids_by_tag(self, resource_type: str, system: str | None, code: str) -> set[str]:
        """Ids of stored resources of that type with that ``meta.tag`` (any system if None)."""
        ...


# --------------------------------------------------------------------------- files


def _priority(path: Path) -> int:
    name = path.name.lower()
    if name.startswith(_SHARED_PREFIXES):
        return 0
    if name.endswith((".ndjson", ".ndjson.gz")) and name.split(".")[0] in _SHARED_NDJSON:
        return 0
    return 1


def _importable(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and name.endswith((".json", ".ndjson", ".ndjson.gz"))


def discover(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """The files to import, as ``(path, named_explicitly)``, shared-resource files first.

    Directories are walked recursively for ``*.json``, ``*.ndjson`` and ``*.ndjson.gz``
    (sorted by name); files are taken as given. Shared Organization/Practitioner files
    (``hospitalInformation*``, ``practitionerInformation*``, ``Organization.ndjson`` ...)
    go first so that conditional references to them resolve. A missing path raises
    ``ImportFailed``.
    """
    found: list[tuple[Path, bool]] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            children = sorted(p for p in path.rglob("*") if p.is_file() and _importable(p))
            candidates = [(p, False) for p in children]
        elif path.is_file():
            candidates = [(path, True)]
        else:
            raise ImportFailed(str(path), "no such file or directory")
        for file, explicit in candidates:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                found.append((file, explicit))
    found.sort(key=lambda item: _priority(item[0]))  # stable: keeps the given order otherwise
    return found


def _json_error(where: str, exc: orjson.JSONDecodeError, line: int | None = None) -> MalformedJson:
    if line is None:
        at = f"line {exc.lineno}, column {exc.colno}"
    else:
        at = f"NDJSON line {line}, column {exc.colno}"
    return MalformedJson(where, f"invalid JSON at {at}: {exc.msg}. Fix or re-export the file.")


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        if path.name.lower().endswith(".gz"):
            data = gzip.decompress(data)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise MalformedJson(str(path), f"not a readable gzip file ({exc})") from None
    except OSError as exc:
        raise ImportFailed(str(path), f"cannot read the file ({exc.strerror or exc})") from None
    return data


def load(path: Path, explicit: bool = True) -> list[Entry] | None:
    """The entries of one file.

    Returns ``None`` for a ``.json`` file found in a directory walk that is not FHIR at all
    (no ``resourceType``, e.g. a manifest); named explicitly, such a file is ``NotABundle``.
    """
    where = str(path)
    data = _read(path)
    if path.name.lower().endswith((".ndjson", ".ndjson.gz")):
        return _load_ndjson(data, where)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _json_error(where, exc) from None
    rtype = doc.get("resourceType") if isinstance(doc, dict) else None
    if rtype is None and not explicit:
        return None
    if rtype != "Bundle":
        what = f"a {rtype} resource" if isinstance(rtype, str) else "not a FHIR resource"
        raise NotABundle(
            where,
            f"the JSON is {what}, not a Bundle. Import FHIR Bundles (*.json: transaction, "
            "batch or collection) or bulk-data NDJSON (*.ndjson, one resource per line).",
        )
    return _bundle_entries(doc, where)


def _bundle_entries(bundle: dict[str, Any], where: str) -> list[Entry]:
    btype = bundle.get("type")
    if btype not in _BUNDLE_TYPES:
        raise NotABundle(
            where,
            f"Bundle.type is {btype!r}; only {', '.join(sorted(_BUNDLE_TYPES))} Bundles "
            "carry resources to import.",
        )
    check_bundle_version(bundle, where)
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise InvalidResource(where, "Bundle.entry is not a list")
    entries: list[Entry] = []
    for n, item in enumerate(raw_entries, 1):
        if not isinstance(item, dict):
            raise InvalidResource(where, f"entry {n} is not a JSON object")
        search = item.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue  # a searchset's OperationOutcome, not record data
        request = item.get("request")
        request = request if isinstance(request, dict) else {}
        full_url = item.get("fullUrl")
        method, url, ine = request.get("method"), request.get("url"), request.get("ifNoneExist")
        entries.append(
            Entry(
                resource=item.get("resource"),
                position=f"entry {n}",
                full_url=full_url if isinstance(full_url, str) else None,
                method=method.upper() if isinstance(method, str) else None,
                url=url if isinstance(url, str) else None,
                if_none_exist=ine if isinstance(ine, str) else None,
            )
        )
    return entries


def _load_ndjson(data: bytes, where: str) -> list[Entry]:
    entries: list[Entry] = []
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            resource = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise _json_error(where, exc, line=n) from None
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(rtype, str):
            raise NotABundle(where, f"NDJSON line {n} is not a FHIR resource (no `resourceType`).")
        if rtype == "Bundle":
            raise NotABundle(
                where,
                f"NDJSON line {n} is a Bundle; bulk-data NDJSON has one resource per line "
                "(import Bundles as *.json files).",
            )
        entries.append(Entry(resource=resource, position=f"line {n}"))
    return entries


def entries_from_bundle(bundle: dict[str, Any], where: str) -> list[Entry]:
    """The entries of a transaction/batch/collection Bundle (``NotABundle`` otherwise)."""
    return _bundle_entries(bundle, where)


def entries_from_resources(resources: Iterable[Any]) -> list[Entry]:
    """Entries for resources that come from elsewhere (a sync), numbered from 1."""
    return [Entry(resource=r, position=f"resource {n}") for n, r in enumerate(resources, 1)]


# --------------------------------------------------------------------------- staging


def _id_from_url(value: str | None, rtype: str) -> str | None:
    """The id in ``urn:uuid:X``, ``Type/id`` or ``http://.../Type/id`` (if types match)."""
    if not value:
        return None
    if value.startswith("urn:uuid:"):
        return value[9:]
    parts = value.split("?")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == rtype:
        return parts[-1]
    return None


def _generated_id(resource: dict[str, Any], rtype: str) -> str:
    """A stable id for a resource that has none (so re-imports stay idempotent)."""
    digest = hashlib.blake2b(orjson.dumps(resource), digest_size=16).hexdigest()
    return str(uuid.uuid5(_NAMESPACE, f"{rtype}/{digest}"))


def _entry_id(entry: Entry, resource: dict[str, Any], rtype: str, where: str) -> str | None:
    """The id a resource is stored under; None when a conditional update decides later.

    The resource's own id; else the id of a ``PUT Type/id`` url; else the uuid of a
    ``urn:uuid:`` fullUrl (or the id of an absolute one); else a stable generated id.
    """
    pos = entry.position
    rid = resource.get("id")
    if rid is not None and not isinstance(rid, str):
        raise InvalidResource(where, f"{pos} ({rtype}): `id` is not a string")
    if entry.method == "PUT":
        if "?" in (entry.url or ""):
            return None
        url_id = _id_from_url(entry.url, rtype)
        if url_id is None:
            raise InvalidResource(where, f"{pos}: PUT url `{entry.url}` is not `{rtype}/id`")
        if rid is not None and rid != url_id:
            raise InvalidResource(
                where, f"{pos}: resource id `{rid}` differs from the PUT url `{entry.url}`"
            )
        rid = url_id
    rid = rid or _id_from_url(entry.full_url, rtype) or _generated_id(resource, rtype)
    if not _ID_RE.fullmatch(rid):
        raise InvalidResource(
            where, f"{pos} ({rtype}): `{rid}` is not a valid FHIR id (A-Z a-z 0-9 - ., ≤ 64)"
        )
    return rid


def stage(entries: Sequence[Entry], where: str, validator: Validator) -> list[Staged]:
    """Check, validate and index every entry (no database access)."""
    staged: list[Staged] = []
    for entry in entries:
        resource = entry.resource
        pos = entry.position
        if entry.method in ("DELETE", "GET", "HEAD", "PATCH"):
            raise ImportFailed(
                where,
                f"{pos} is a {entry.method} request; the store imports resources only "
                "(POST/PUT entries or collections).",
            )
        if not isinstance(resource, dict):
            raise InvalidResource(where, f"{pos} has no `resource` object")
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            raise InvalidResource(where, f"{pos}: the resource has no `resourceType`")
        rid = _entry_id(entry, resource, rtype, where)
        ref = f"{rtype}/{rid or '?'}"
        validator.check(resource, rtype, where, pos, ref)
        meta = resource.get("meta")
        last_updated: str | None = None
        version_id: str | None = None
        try:
            fields = extract(resource)
            if isinstance(meta, dict):
                lu = meta.get("lastUpdated")
                if isinstance(lu, str):
                    last_updated = instant(lu)
                vid = meta.get("versionId")
                version_id = vid if isinstance(vid, str) else None
        except ValueError as exc:
            raise InvalidResource(where, f"{pos} ({ref}): {exc}") from None
        staged.append(Staged(entry, resource, rtype, rid, fields, last_updated, version_id))
    return staged


# --------------------------------------------------------------------------- resolving


def _parse_token(value: str) -> tuple[str | None, str]:
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


class _Resolver:
    """Maps every reference of one file to its stored ``Type/id`` form."""

    def __init__(self, where: str, lookup: Lookup) -> None:
        self.where = where
        self.lookup = lookup
        self.urls: dict[str, str] = {}  # fullUrl -> Type/id
        # (type, system, value) and (type, None, value) -> ids defined in this file
        self.local: dict[tuple[str, str | None, str], set[str]] = {}
        self.cache: dict[str, str] = {}
        self.position = ""
        self.current = ""

    def add_local(self, rtype: str, rid: str, fields: IndexFields) -> None:
        for system, value in fields.identifiers:
            self.local.setdefault((rtype, system, value), set()).add(rid)
            self.local.setdefault((rtype, None, value), set()).add(rid)

    def search(self, query: str, what: str) -> set[str]:
        """Ids matching ``Type?identifier=...&_id=...`` here or in the store."""
        rtype, _, qs = query.partition("?")
        if not rtype or not rtype[0].isupper():
            raise UnresolvedReference(self.where, f"{what} `{query}` has no resource type")
        matches: set[str] | None = None
        pairs = parse_qsl(qs, keep_blank_values=True)
        if not pairs:
            raise UnresolvedReference(self.where, f"{what} `{query}` has no search criteria")
        for name, value in pairs:
            if name == "identifier":
                system, ident = _parse_token(value)
                ids = set(self.local.get((rtype, system, ident), ()))
                ids |= self.lookup.ids_by_identifier(rtype, system, ident)
            elif name == "_id":
                ids = {value} if self.lookup.exists(rtype, value) else set()
                ids |= {value} if f"{rtype}/{value}" in self.urls.values() else set()
            elif name == "_tag":
                system, code = _parse_token(value)
                ids = self.lookup.ids_by_tag(rtype, system, code)
            else:
                raise UnresolvedReference(
                    self.where,
                    f"{what} `{query}` uses `{name}`; the store resolves only `identifier`, "
                    "`_id` and `_tag` criteria.",
                )
            matches = ids if matches is None else matches & ids
        return matches or set()

    def __call__(self, ref: str) -> str:
        """The stored form of ``ref`` (unchanged when it needs no rewriting)."""
        mapped = self.urls.get(ref)
        if mapped is not None:
            return mapped
        if ref.startswith(("urn:uuid:", "urn:oid:")):
            raise UnresolvedReference(
                self.where,
                f"{self.position} ({self.current}) references `{ref}`, which no entry of "
                "this file has as its fullUrl.",
            )
        if "?" in ref and not ref.startswith("#"):
            cached = self.cache.get(ref)
            if cached is None:
                ids = self.search(ref, f"{self.position} ({self.current}): {CONDITIONAL}")
                if len(ids) != 1:
                    found = "matches no resource" if not ids else f"matches {len(ids)} resources"
                    raise UnresolvedReference(
                        self.where,
                        f"{self.position} ({self.current}): {CONDITIONAL} `{ref}` "
                        f"{found} in this file or the store. Import the bundles that define "
                        "the shared resources (e.g. hospitalInformation*, "
                        "practitionerInformation*) in the same call or before.",
                    )
                cached = f"{ref.partition('?')[0]}/{next(iter(ids))}"
                self.cache[ref] = cached
            return cached
        return ref

    def rewrite(self, value: Any) -> Any:
        """A copy of a Reference (or list of them) with rewritten ``reference`` strings."""
        if isinstance(value, list):
            return [self.rewrite(v) for v in value]
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str):
                return {"reference": self(ref)}
        return value


def _patients(item: Staged, rid: str, resolver: _Resolver) -> set[str]:
    if item.rtype == "Patient":
        return {rid}
    mini: dict[str, Any] = {"resourceType": item.rtype}
    for key in _PATIENT_KEYS:
        value = item.resource.get(key)
        if value is not None:
            mini[key] = resolver.rewrite(value)
    return patient_ids_of(mini)


def resolve(staged: Sequence[Staged], where: str, lookup: Lookup) -> Resolved:
    """Assign ids, honour conditional creates/updates and rewrite references."""
    out = Resolved()
    resolver = _Resolver(where, lookup)
    keep: list[tuple[Staged, str]] = []
    for item in staged:
        entry = item.entry
        resolver.position = entry.position
        rid = item.rid
        if entry.if_none_exist and entry.method == "POST":
            ids = resolver.search(
                f"{item.rtype}?{entry.if_none_exist}", f"{entry.position}: ifNoneExist"
            )
            if len(ids) > 1:
                raise ImportFailed(
                    where,
                    f"{entry.position}: ifNoneExist `{entry.if_none_exist}` matches "
                    f"{len(ids)} {item.rtype} resources; the conditional create is ambiguous.",
                )
            if ids:
                existing = f"{item.rtype}/{next(iter(ids))}"
                if entry.full_url:
                    resolver.urls[entry.full_url] = existing
                out.existing += 1
                out.outcomes.append((existing, False))
                continue
        if rid is None:  # conditional update: PUT Type?identifier=...
            ids = resolver.search(entry.url or "", f"{entry.position}: conditional update")
            if len(ids) > 1:
                raise ImportFailed(
                    where,
                    f"{entry.position}: conditional update `{entry.url}` matches {len(ids)} "
                    "resources; it is ambiguous.",
                )
            if ids:
                rid = next(iter(ids))
            else:
                rid = _id_from_url(entry.full_url, item.rtype) or _generated_id(
                    item.resource, item.rtype
                )
        ref = f"{item.rtype}/{rid}"
        if entry.full_url:
            resolver.urls[entry.full_url] = ref
        resolver.add_local(item.rtype, rid, item.fields)
        keep.append((item, rid))
        out.outcomes.append((ref, True))

    rows: dict[str, Prepared] = {}
    for item, rid in keep:
        ref = f"{item.rtype}/{rid}"
        resolver.position = item.entry.position
        resolver.current = ref
        if item.resource.get("id") != rid:  # put the assigned id where readers expect it
            rest = {k: v for k, v in item.resource.items() if k not in ("resourceType", "id")}
            item.resource = {"resourceType": item.rtype, "id": rid, **rest}
        raw = orjson.dumps(item.resource)
        if b'"reference":"' in raw:
            raw = _REF_RE.sub(_replacer(resolver), raw)
        rows[ref] = Prepared(
            ref=ref,
            rtype=item.rtype,
            rid=rid,
            body=raw.decode(),
            content_hash=hashlib.blake2b(raw, digest_size=16).hexdigest(),
            fields=item.fields,
            patients=_patients(item, rid, resolver),
            meta_last_updated=item.meta_last_updated,
            meta_version_id=item.meta_version_id,
        )
    out.rows = list(rows.values())
    return out


def _replacer(resolver: _Resolver) -> Callable[[re.Match[bytes]], bytes]:
    def replace(m: re.Match[bytes]) -> bytes:
        ref = m.group(1).decode()
        new = resolver(ref)
        if new == ref:
            return m.group(0)
        return b'"reference":"' + new.encode() + b'"'

    return replace
