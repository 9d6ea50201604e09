"""Where the state lives: the local SQLite file (the default, nothing to set up) or S3 for a team.

The spec names its backend in `state:`; `--backend-config key=value` (or RECONCILE_BACKEND_CONFIG="k=v,k=v")
adds to it or overrides it, so buckets per environment and credentials stay out of the spec. A state key
may hold `{{ workspace }}`: every workspace has a state (and a stack identity) of its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError, StateError
from reconciler.state.lock import StateLock
from reconciler.state.store import StateStore, StateVersion, default_state_path

KEYS = {"backend", "path", "bucket", "key", "region", "endpoint_url", "encrypt", "kms_key_id", "profile",
        "lock_table"}


def parse_backend_config(pairs: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`--backend-config k=v` pairs (and RECONCILE_BACKEND_CONFIG), as settings; a bad pair is an error."""
    raw = list(pairs)
    env = (os.environ if environ is None else environ).get("RECONCILE_BACKEND_CONFIG", "")
    raw = [p for p in re.split(r"[,\n]", env) if p.strip()] + raw
    out: dict[str, Any] = {}
    for pair in raw:
        key, sep, value = pair.strip().partition("=")
        if not sep or key not in KEYS:
            raise ReconcileError(f"--backend-config {pair!r}: write KEY=VALUE with KEY one of {', '.join(sorted(KEYS))}")
        out[key] = {"true": True, "false": False}.get(value.lower(), value) if key == "encrypt" else value
    return out


REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


@dataclass(frozen=True)
class Backend:
    """A configured backend for one spec and workspace."""

    kind: str  # local | s3
    settings: Mapping[str, Any] = field(default_factory=dict)
    local_path: Path | None = None
    spec_dir: Path = Path(".")

    @property
    def location(self) -> str:
        return str(self.local_path) if self.kind == "local" else self._s3().location

    def exists(self) -> bool:
        if self.kind == "local":
            assert self.local_path is not None
            return self.local_path.exists()
        with self.open(writable=False) as store:
            return not store.is_new

    def _s3(self) -> Any:
        from reconciler.state.s3 import S3Config

        missing = [k for k in ("bucket", "key") if not self.settings.get(k)]
        if missing:
            raise StateError(f"the s3 state backend needs {' and '.join(missing)} (in `state:` or --backend-config)")
        region = str(self.settings.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
        if not REGION.match(region):
            raise StateError(f"`state.region` {region!r} is not an AWS region name (like eu-west-1)")
        return S3Config(bucket=str(self.settings["bucket"]), key=str(self.settings["key"]), region=region,
                        endpoint_url=self.settings.get("endpoint_url") or None,
                        encrypt=bool(self.settings.get("encrypt", True)),
                        kms_key_id=self.settings.get("kms_key_id") or None,
                        profile=self.settings.get("profile") or None,
                        lock_table=self.settings.get("lock_table") or None)

    @contextmanager
    def open(self, *, writable: bool = False) -> Iterator[Any]:
        if self.kind == "local":
            assert self.local_path is not None
            with StateStore(self.local_path, writable=writable) as store:
                yield store
            return
        from reconciler.state.s3 import S3StateStore

        remote = S3StateStore(self._s3(), writable=writable, errored_dir=self.spec_dir)
        try:
            yield remote
        finally:
            remote.close()

    def lock(self, operation: str) -> AbstractContextManager[Any]:
        if self.kind == "local":
            assert self.local_path is not None
            return StateLock(self.local_path, operation)
        from reconciler.state.s3 import DynamoLock, S3Lock

        config = self._s3()
        return DynamoLock(config, operation) if config.lock_table else S3Lock(config, operation)

    def force_unlock(self, lock_id: str) -> dict[str, Any]:
        if self.kind == "local":
            raise StateError("the local state's lock is held by a process and released by the kernel when it ends; "
                             "there is nothing to force")
        lock = self.lock("force-unlock")
        return lock.force_unlock(lock_id)  # type: ignore[attr-defined,no-any-return]

    def versions(self) -> list[StateVersion]:
        if self.kind == "local":
            assert self.local_path is not None
            return StateStore.versions_of(self.local_path)
        with self.open() as store:
            return list(store.versions())

    def restore(self, version: str) -> StateVersion:
        if self.kind == "local":
            assert self.local_path is not None
            return StateStore.restore(self.local_path, version)
        with self.open(writable=True) as store:
            return store.restore(version)  # type: ignore[no-any-return]


def make_backend(settings: Mapping[str, Any], spec_path: str | Path, workspace: str,
                 state_path: str | Path | None = None) -> Backend:
    """The backend the (rendered) `state:` block and the overrides name; local unless they say s3."""
    spec = Path(spec_path).absolute()
    spec_dir = spec if spec.is_dir() else spec.parent
    kind = str(settings.get("backend") or "local")
    if state_path is not None or kind == "local":
        if settings.get("path") and state_path is None:
            base = spec_dir / str(settings["path"])
            state_path = base if workspace == "default" else base.parent / "workspaces" / workspace / base.name
        return Backend("local", dict(settings), Path(state_path) if state_path else default_state_path(spec, workspace),
                       spec_dir)
    if kind != "s3":
        raise StateError(f"unknown state backend {kind!r} (use local or s3)")
    return Backend("s3", dict(settings), None, spec_dir)

