"""The state in S3, for a team: one JSON document per workspace, written with conditional requests.

- Reading takes one GET; the ETag it returns is the version every later write must replace
  (`If-Match`), so two writers can never interleave: a writer that lost the race is refused and
  keeps its own view in a local file instead of overwriting the other's.
- The apply lock is an object beside the state created with `If-None-Match: *` (S3's atomic
  create-if-absent); it holds who, where, since and what. A DynamoDB table can hold it instead
  (`lock_table:`), for S3-compatible stores without conditional writes.
- Run history lives beside the state (`KEY.runs/`), one small object per run, so a drift job needs no
  lock and never races an apply over the state document.
- With bucket versioning on, `state versions` lists the document's versions and `state restore` puts one
  back. The document is encrypted at rest (`encrypt: true`, optionally with a KMS key).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.aws_errors import error_code, failures
from reconciler.errors import StateConflict, StateDamaged, StateError
from reconciler.key_source import KMS, Sealing
from reconciler.model import Observed, Resource, StackId
from reconciler.state.local_backups import StateVersion
from reconciler.state.records import (
    CREATED,
    Carried,
    RunRecord,
    StateDocument,
    StateRecord,
    now_text,
    scrub,
    unsettled,
    with_retired,
)
from reconciler.state.s3_beside import S3Journal, S3RunHistory
from reconciler.state.s3_bucket import S3Config, backend_error, s3_client
from reconciler.state.sealing import envelope, is_sealed, seal, source_of, unseal

log = logging.getLogger(__name__)
FLUSH_EVERY = 2.0  # seconds: results of a long apply reach the bucket at least this often


@dataclass
class S3StateStore:
    """The SqliteStateStore interface over an S3 object (see reconciler.state.store.SqliteStateStore)."""

    config: S3Config
    writable: bool = False
    errored_dir: Path = field(default_factory=Path.cwd)  # where a refused write leaves its view of the state
    client: Any = None  # an S3 client (boto3's, or a test's in-memory one); by default made from the config

    def __post_init__(self) -> None:
        self.location = self.config.location
        self.s3 = self.client if self.client is not None else s3_client(self.config)
        self._dirty = False
        self._last_flush = time.monotonic()
        self.etag: str | None = None
        self.sealing = self.config.sealing
        self._was_plain = False
        self._doc = self._read()
        self._runs = S3RunHistory(self.s3, self.config, self._sealed, self._opened)
        self._journal = S3Journal(self.s3, self.config, self._sealed, self._opened)
        self.is_new = self.etag is None
        if self.writable and self.sealing is not None and self._was_plain:
            self._dirty = True  # written before encryption: encrypted by this run's first flush

    # -- sealing (state.encryption) ---------------------------------------------------------------------
    def _opened(self, body: bytes, where: str, purpose: str) -> bytes:
        """A body as read: unsealed if it is sealed (an encrypted state stays encrypted: its key source is kept)."""
        if not is_sealed(body):
            return body
        reading = self.config.reading or self.config.sealing
        plain = unseal(body, where, purpose, reading if reading and reading.method == KMS else self.config.reading)
        if self.sealing is None:
            self.sealing = source_of(envelope(body, where), self.config.reading)
        return plain

    def _sealed(self, body: bytes, purpose: str) -> bytes:
        return seal(body, self.sealing, purpose) if self.sealing is not None else body

    def rekey(self, sealing: Sealing | None) -> None:
        """The document, the journal and every run record sealed anew under `sealing` (plain with None)."""
        journal = self.journal
        runs = self.runs(limit=1_000_000)
        self.sealing = sealing
        self._changed(self._doc)
        self.flush()
        if journal:
            self._journal.write(journal)
        for run in runs:
            self._runs.put(run)

    # -- reading and writing the document --------------------------------------------------------
    def _read(self) -> StateDocument:
        try:
            answer = self.s3.get_object(Bucket=self.config.bucket, Key=self.config.key)
        except failures() as exc:  # sorted by code
            code = error_code(exc)
            if code in ("NoSuchKey", "404"):
                return StateDocument(str(uuid.uuid4()), 0, None, {})
            raise backend_error(self.config, exc, "reading") from None
        self.etag = answer["ETag"]
        body = answer["Body"].read()
        if not body:
            raise StateDamaged(f"the state {self.location} is empty (0 bytes); restore a version: see "
                               "`reconcile state versions`")
        self._was_plain = not is_sealed(body)
        body = self._opened(body, f"the state {self.location}", "state")
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise StateDamaged(f"the state {self.location} is not JSON ({exc}); restore a version: see "
                               "`reconcile state versions`") from None
        return StateDocument.from_json(parsed, self.location)

    def flush(self) -> None:
        """Write the document if it changed: replacing exactly the version read (If-Match), or only if none
        exists yet (If-None-Match: *)."""
        if not self._dirty or not self.writable:
            return
        body = self._sealed(json.dumps(self._doc.to_json(), indent=1, default=str).encode(), "state")
        args: dict[str, Any] = {"Bucket": self.config.bucket, "Key": self.config.key, "Body": body,
                                "ContentType": "application/json"}
        if self.config.encrypt:
            args["ServerSideEncryption"] = "aws:kms" if self.config.kms_key_id else "AES256"
            if self.config.kms_key_id:
                args["SSEKMSKeyId"] = self.config.kms_key_id
        if self.etag is None:
            args["IfNoneMatch"] = "*"
        else:
            args["IfMatch"] = self.etag
        try:
            answer = self.s3.put_object(**args)
        except failures() as exc:  # sorted by code
            code = error_code(exc)
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict") and self._landed(body):
                return  # a retried write whose first answer was lost: it is the current document
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                kept = self._keep_locally(body)
                raise StateConflict(
                    f"the state {self.location} was changed by someone else since this run read it; nothing was "
                    f"overwritten. This run's view of the state is in {kept}: look at both, then `reconcile state "
                    "push` the right one") from None
            raise backend_error(self.config, exc, "writing") from None
        self.etag = answer["ETag"]
        self._dirty = False
        self._last_flush = time.monotonic()

    def _landed(self, body: bytes) -> bool:
        """Whether the document in the bucket is exactly `body` (then it is this writer's, and its ETag is
        the version to replace next)."""
        try:
            answer = self.s3.get_object(Bucket=self.config.bucket, Key=self.config.key)
            current = answer["Body"].read()
        except failures() as exc:  # then it cannot be shown to be ours
            log.debug("reading back %s failed: %s", self.location, exc)
            return False
        if current != body:
            return False
        self.etag = answer["ETag"]
        self._dirty = False
        self._last_flush = time.monotonic()
        return True

    def _keep_locally(self, body: bytes) -> Path:
        path = self.errored_dir / "errored.reconcile-state.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        return path

    def _changed(self, document: StateDocument) -> None:
        if not self.writable:
            raise StateError("the state was opened read-only")
        self._doc = document
        self._dirty = True
        if time.monotonic() - self._last_flush >= FLUSH_EVERY:
            self.flush()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> S3StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the SqliteStateStore interface -------------------------------------------------------------------
    def document(self) -> StateDocument:
        return self._doc

    @property
    def serial(self) -> int:
        return self._doc.serial

    @property
    def lineage(self) -> str:
        return self._doc.lineage

    @property
    def stack(self) -> StackId | None:
        return self._doc.stack

    def set_stack(self, stack: StackId) -> None:
        if self._doc.stack != stack:
            self._changed(replace(self._doc, stack=stack))

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self._doc.outputs)

    def set_outputs(self, outputs: Mapping[str, Any]) -> None:
        if dict(self._doc.outputs) != dict(outputs):
            self._changed(replace(self._doc, outputs=dict(outputs)))

    def bump_serial(self) -> None:
        self._changed(replace(self._doc, serial=self._doc.serial + 1))
        self.flush()

    def records(self) -> dict[str, StateRecord]:
        return dict(self._doc.resources)

    def get(self, address: str) -> StateRecord | None:
        return self._doc.resources.get(address)

    def save(self, resource: Resource, observed: Observed | None, secret: Iterable[str], *,
             origin: str = CREATED, depends_on: Iterable[str] = (), digested: Iterable[str] = ()) -> None:
        hidden = set(secret)
        self.put(StateRecord(
            address=resource.address, type=resource.type, name=resource.name, target=resource.target,
            host=resource.host, identity=dict(observed.identity) if observed else {},
            attributes=scrub(resource.attributes, hidden, digested, resource.ephemeral),
            observed=scrub(observed.attributes if observed else {}, hidden, digested, resource.ephemeral),
            depends_on=tuple(sorted(set(depends_on) | set(resource.depends_on))),
            prevent_destroy=bool(resource.lifecycle.prevent_destroy), updated_at=now_text(), origin=origin))

    def put(self, record: StateRecord) -> None:
        self._changed(replace(self._doc, resources={**self._doc.resources, record.address: record}))

    def forget(self, address: str) -> bool:
        if address not in self._doc.resources:
            return False
        self._changed(replace(self._doc, resources={a: r for a, r in self._doc.resources.items() if a != address},
                              retired=with_retired(self._doc.retired, address)))
        return True

    def move(self, source: str, destination: str) -> bool:
        record = self.get(source)
        if record is None:
            return False
        name = destination.split("[", 1)[0].split(".")[-1]
        resources = {a: r for a, r in self._doc.resources.items() if a != source}
        resources[destination] = replace(record, address=destination, name=name, updated_at=now_text())
        self._changed(replace(self._doc, resources=resources, retired=with_retired(self._doc.retired, source)))
        return True

    @property
    def retired(self) -> tuple[str, ...]:
        return self._doc.retired

    @property
    def carried(self) -> Carried:
        return Carried.from_json(self._doc.carried)

    def set_carried(self, carried: Carried) -> None:
        if carried != self.carried:
            self._changed(replace(self._doc, carried=carried.to_json()))

    # -- the apply journal: an object beside the document (the document's versions stay one per apply) -----
    @property
    def journal(self) -> dict[str, dict[str, Any]]:
        return self._journal.entries()

    def journal_begin(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Written before the apply changes anything; an earlier run's unsettled intents are kept."""
        if entries:
            self._journal.write({**entries, **unsettled(self.journal, self._doc.resources)})

    def journal_end(self, keep: Iterable[str] = ()) -> None:
        now = self.journal
        left = {a: e for a, e in now.items() if a in set(keep)}
        if left != now:
            self._journal.write(left)

    def replace_with(self, document: StateDocument) -> None:
        self._changed(document)
        self.flush()

    # -- history, beside the state (s3_runs.py) -------------------------------------------------------
    def start_run(self, kind: str, spec: str) -> int:
        return self._runs.start(kind, spec)

    def finish_run(self, run_id: int, status: str, summary: Mapping[str, Any]) -> None:
        self._runs.finish(run_id, status, summary)

    def runs(self, kind: str | None = None, limit: int = 50) -> list[RunRecord]:
        return self._runs.listed(kind, limit)

    def mark_interrupted(self) -> int:
        return self._runs.mark_interrupted()

    # -- versions (bucket versioning) -------------------------------------------------------------------
    def versions(self) -> list[StateVersion]:
        try:
            answer = self.s3.list_object_versions(Bucket=self.config.bucket, Prefix=self.config.key)
        except failures() as exc:  # sorted by code
            raise backend_error(self.config, exc, "listing the versions of") from None
        versions = [v for v in answer.get("Versions") or [] if v["Key"] == self.config.key]
        if not versions or all(v.get("VersionId") in (None, "null") for v in versions):
            raise StateError(f"the bucket {self.config.bucket} keeps no versions: turn versioning on "
                             "(`aws s3api put-bucket-versioning --versioning-configuration Status=Enabled`) to be "
                             "able to restore earlier states")
        out = []
        for v in sorted(versions, key=lambda v: v["LastModified"], reverse=True):
            out.append(StateVersion(v["VersionId"], None, v["LastModified"].isoformat(), int(v.get("Size") or 0),
                                    current=bool(v.get("IsLatest"))))
        return out

    def restore(self, version: str) -> StateVersion:
        try:
            body = self.s3.get_object(Bucket=self.config.bucket, Key=self.config.key, VersionId=version)["Body"]
            where = f"version {version} of {self.location}"
            document = StateDocument.from_json(json.loads(self._opened(body.read(), where, "state")), where)
        except StateError:
            raise
        except failures(ValueError) as exc:  # sorted by code; a damaged body is reported as such
            raise backend_error(self.config, exc, f"reading version {version} of") from None
        self.replace_with(replace(document, serial=max(document.serial, self.serial) + 1))
        return StateVersion(version, document.serial, now_text(), 0)
