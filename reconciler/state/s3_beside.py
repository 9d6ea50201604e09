"""The objects beside a state in S3, sealed like the state when it is encrypted:
- the apply journal (`KEY.journal`): what an apply means to do, written before it changes anything, so
  the document's versions stay one per apply;
- the run history: one small object per run (`KEY.runs/ID.json`), so a drift job needs no lock and never
  races an apply over the state document. A history that cannot be written is reported, never fatal."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.aws_errors import error_code, failures
from reconciler.errors import StateError
from reconciler.state.records import RunRecord, now_text
from reconciler.state.run_history import pid_alive, run_user
from reconciler.state.s3_bucket import S3Config, backend_error

log = logging.getLogger(__name__)


class S3Journal:
    """The apply journal of the state at `config` (see S3RunHistory for `seal` and `open`)."""

    def __init__(self, s3: Any, config: S3Config, seal: Callable[[bytes, str], bytes],
                 open: Callable[[bytes, str, str], bytes]):  # noqa: A002 - the store's own name for it
        self.s3, self.config, self.seal, self.open = s3, config, seal, open
        self.key = f"{config.key}.journal"
        self._entries: dict[str, dict[str, Any]] | None = None  # read when first asked for

    def entries(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            try:
                body = self.s3.get_object(Bucket=self.config.bucket, Key=self.key)["Body"].read()
                parsed = json.loads(self.open(body, f"the journal {self.key}", "journal"))
                self._entries = {str(a): dict(e) for a, e in parsed.items()} if isinstance(parsed, dict) else {}
            except StateError:
                raise  # sealed, and the key cannot open it
            except ValueError:
                log.warning("the journal %s is damaged; it is ignored", self.key)
                self._entries = {}
            except failures() as exc:  # sorted by code
                if error_code(exc) not in ("NoSuchKey", "404"):
                    raise backend_error(self.config, exc, "reading the journal of") from None
                self._entries = {}
        return dict(self._entries)

    def write(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """The journal becomes `entries` (removed when there are none)."""
        try:
            if entries:
                self.s3.put_object(Bucket=self.config.bucket, Key=self.key,
                                   Body=self.seal(json.dumps(entries, sort_keys=True).encode(), "journal"),
                                   **({"ServerSideEncryption": "AES256"} if self.config.encrypt else {}))
            else:
                self.s3.delete_object(Bucket=self.config.bucket, Key=self.key)
        except failures() as exc:  # sorted by code
            raise backend_error(self.config, exc, "writing the journal of") from None
        self._entries = {a: dict(e) for a, e in entries.items()}


class S3RunHistory:
    """The runs of the state at `config`, written and read with `s3`; `seal(body, purpose)` and
    `open(body, where, purpose)` encrypt and decrypt as the state's own objects are."""

    def __init__(self, s3: Any, config: S3Config, seal: Callable[[bytes, str], bytes],
                 open: Callable[[bytes, str, str], bytes]):  # noqa: A002 - the store's own name for it
        self.s3, self.config, self.seal, self.open = s3, config, seal, open
        self.prefix = f"{config.key}.runs/"

    def start(self, kind: str, spec: str) -> int:
        """A new run record, its id the time in milliseconds: the next free one when two runs (of this host or
        another) start in the same millisecond, so neither overwrites the other."""
        run_id = int(time.time() * 1000)
        for _ in range(100):
            run = RunRecord(run_id, kind, spec, now_text(), None, "running", run_user(), socket.gethostname(), {},
                            os.getpid())
            if self.put(run, new=True):
                break
            run_id += 1
        return run_id

    def finish(self, run_id: int, status: str, summary: Mapping[str, Any]) -> None:
        started = self.get(run_id)
        base = started or RunRecord(run_id, "?", "", now_text(), None, status, run_user(), socket.gethostname(), {})
        self.put(replace(base, finished_at=now_text(), status=status, summary=dict(summary)))

    def put(self, run: RunRecord, new: bool = False) -> bool:
        """Writes the run record (`new`: only if no record has its id yet); False when that id is taken."""
        try:
            self.s3.put_object(Bucket=self.config.bucket, Key=f"{self.prefix}{run.id}.json",
                               Body=self.seal(json.dumps(run.to_json(), default=str).encode(), "run"),
                               **({"ServerSideEncryption": "AES256"} if self.config.encrypt else {}),
                               **({"IfNoneMatch": "*"} if new else {}))
        except failures() as exc:  # history is reported, not fatal to the run
            if new and error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            log.warning("could not record run %s in %s: %s", run.id, self.config.location, exc)
        return True

    def get(self, run_id: int) -> RunRecord | None:
        try:
            key = f"{self.prefix}{run_id}.json"
            body = self.s3.get_object(Bucket=self.config.bucket, Key=key)["Body"].read()
            return RunRecord.from_json(json.loads(self.open(body, f"the run record {key}", "run")))
        except StateError:
            raise  # sealed, and the key cannot open it
        except failures(ValueError, KeyError, TypeError):  # a missing or damaged run record is not there
            return None

    def listed(self, kind: str | None = None, limit: int = 50) -> list[RunRecord]:
        keys: list[str] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.config.bucket,
                                                                          Prefix=self.prefix):
                keys += [o["Key"] for o in page.get("Contents") or []]
        except failures() as exc:  # sorted by code
            raise backend_error(self.config, exc, "listing the runs of") from None
        ids = sorted((int(k.rsplit("/", 1)[1].removesuffix(".json")) for k in keys
                      if k.removesuffix(".json").rsplit("/", 1)[1].isdigit()), reverse=True)
        out: list[RunRecord] = []
        here = socket.gethostname()
        for run_id in ids:
            run = self.get(run_id)
            if run is None or (kind and run.kind != kind):
                continue
            if run.status == "running" and run.host == here and run.pid and not pid_alive(run.pid):
                run = replace(run, status="interrupted")
            out.append(run)
            if len(out) >= limit:
                break
        return out

    def mark_interrupted(self) -> int:
        count = 0
        for run in self.listed(limit=20):
            if run.status == "interrupted" and run.finished_at is None:
                self.put(replace(run, finished_at=now_text()))
                count += 1
        return count
