"""Where the state lives: the local SQLite file (the default, nothing to set up) or S3 for a team.

The spec names its backend in `state:`; `--backend-config key=value` (or RECONCILE_BACKEND_CONFIG="k=v,k=v")
adds to it or overrides it, templated exactly like the spec's block, so buckets per environment and
credentials stay out of the spec.

Isolation by construction: every stack and every workspace has a state of its own.
- Local: `.reconcile/stacks/STACK/state.db` beside the spec, `…/STACK/workspaces/NAME/state.db` for another
  workspace (a directory spec without `name:` keeps `.reconcile/state.db`: a directory is one stack). A state
  written before this layout, at `.reconcile/state.db`, is used where it stands when it is this stack's.
- S3: a `key:` that holds `{{ workspace }}` gives each workspace its own key; a key without it is used as
  written for the default workspace and as `env:/NAME/KEY` for workspace NAME (Terraform's S3 backend does
  the same), so two workspaces can never share one.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from reconciler.errors import ReconcileError, StateError
from reconciler.key_source import SETTINGS as SEALING_KEYS
from reconciler.key_source import Sealing, sealing_from
from reconciler.model import DEFAULT_WORKSPACE
from reconciler.state.interface import StateStore
from reconciler.state.local_backups import StateVersion
from reconciler.state.lock import StateLock
from reconciler.state.sealed_store import SealedStateStore, sealed_on_disk
from reconciler.state.store import SqliteStateStore

if TYPE_CHECKING:
    from reconciler.state.s3 import S3StateStore
    from reconciler.state.s3_bucket import S3Config

KEYS = {"backend", "path", "bucket", "key", "region", "endpoint_url", "encrypt", "kms_key_id", "profile",
        "lock_table"}
WORKSPACE_KEY_PREFIX = "env:"  # a key without {{ workspace }}: env:/NAME/KEY, as Terraform's S3 backend
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def parse_backend_config(pairs: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`--backend-config k=v` pairs (and RECONCILE_BACKEND_CONFIG), as settings; a bad pair is an error."""
    raw = list(pairs)
    env = (os.environ if environ is None else environ).get("RECONCILE_BACKEND_CONFIG", "")
    raw = [p for p in re.split(r"[,\n]", env) if p.strip()] + raw
    out: dict[str, Any] = {}
    for pair in raw:
        key, sep, value = pair.strip().partition("=")
        if key == "encryption" and value == "off":
            out["encryption"] = "off"
            continue
        if sep and key.startswith("encryption.") and key.partition(".")[2] in SEALING_KEYS:
            block = out.get("encryption")
            out["encryption"] = {**(block if isinstance(block, dict) else {}), key.partition(".")[2]: value}
            continue
        if not sep or key not in KEYS:
            raise ReconcileError(f"--backend-config {pair!r}: write KEY=VALUE with KEY one of {', '.join(sorted(KEYS))}"
                                 ", encryption.passphrase_env, encryption.key_provider, encryption.key_id (or "
                                 "encryption=off)")
        out[key] = {"true": True, "false": False}.get(value.lower(), value) if key == "encrypt" else value
    return out


class StateBackend(Protocol):
    """A configured backend for one stack and workspace: what the engine and the commands use."""

    name: ClassVar[str]  # local | s3: what a saved plan records
    creates_on_open: ClassVar[bool]  # opening it writable makes a state that did not exist

    @property
    def location(self) -> str: ...

    @property
    def local_path(self) -> Path | None: ...  # the state file, for a local state

    def exists(self) -> bool: ...

    def open(self, *, writable: bool = False) -> AbstractContextManager[StateStore]: ...

    def lock(self, operation: str) -> AbstractContextManager[Any]: ...

    def force_unlock(self, lock_id: str) -> dict[str, Any]: ...

    def versions(self) -> list[StateVersion]: ...

    def restore(self, version: str) -> StateVersion: ...

    def workspaces(self) -> set[str]: ...

    def delete(self) -> None: ...

    @property
    def sealing(self) -> Sealing | None: ...  # how what it writes is encrypted (state.encryption), if it is

    def reading_with(self, reading: Sealing) -> StateBackend: ...  # the same, opening sealed bodies with `reading`

    def sealed_with(self, sealing: Sealing | None) -> StateBackend: ...  # the same, writing under `sealing`


# -- local ---------------------------------------------------------------------------------------------
def state_dir(spec_path: str | Path) -> Path:
    """`.reconcile/` beside the spec (in a directory spec, or beside a spec file)."""
    spec = Path(spec_path).absolute()
    return (spec if spec.is_dir() else spec.parent) / ".reconcile"


def recorded_stack_name(path: Path) -> str | None:
    """The stack name a local state file records (None: none recorded, or not a readable state)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'stack'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    if not row:
        return None
    import json

    try:
        return str(json.loads(row[0])["name"])
    except (ValueError, KeyError, TypeError):
        return None


def default_state_path(spec_path: str | Path, workspace: str = DEFAULT_WORKSPACE, stack: str | None = None,
                       one_stack_directory: bool = False) -> Path:
    """The local state of `stack` in `workspace` (see the module's docstring)."""
    base = state_dir(spec_path)
    legacy = base / "state.db" if workspace == DEFAULT_WORKSPACE else base / "workspaces" / workspace / "state.db"
    if stack is None or one_stack_directory:
        return legacy
    own = base / "stacks" / stack / ("state.db" if workspace == DEFAULT_WORKSPACE else f"workspaces/{workspace}/state.db")
    if not own.exists() and legacy.exists() and recorded_stack_name(legacy) in (None, stack):
        return legacy  # written before states were kept per stack: it is this stack's
    return own


@dataclass(frozen=True)
class LocalBackend:
    """The state as one SQLite file (mode 0600); its lock a flock on the file beside it."""

    name: ClassVar[str] = "local"
    creates_on_open: ClassVar[bool] = True
    path: Path
    workspace_paths: Callable[[], Mapping[str, Path]] = field(default=lambda: {}, compare=False)
    sealing: Sealing | None = None
    reading: Sealing | None = None

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def local_path(self) -> Path:
        return self.path

    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def open(self, *, writable: bool = False) -> Iterator[StateStore]:
        if self.sealing is None and self.reading is None and not sealed_on_disk(self.path):
            with SqliteStateStore(self.path, writable=writable) as store:
                yield store
            return
        with SealedStateStore(self.path, writable=writable, sealing=self.sealing, reading=self.reading) as sealed:
            yield sealed

    def reading_with(self, reading: Sealing) -> LocalBackend:
        return replace(self, reading=reading)

    def sealed_with(self, sealing: Sealing | None) -> LocalBackend:
        return replace(self, sealing=sealing)

    def lock(self, operation: str) -> StateLock:
        return StateLock(self.path, operation)

    def force_unlock(self, lock_id: str) -> dict[str, Any]:
        raise StateError("the local state's lock is held by a process and released by the kernel when it ends; "
                         "there is nothing to force")

    def versions(self) -> list[StateVersion]:
        return SqliteStateStore.versions_of(self.path)

    def restore(self, version: str) -> StateVersion:
        return SqliteStateStore.restore(self.path, version)

    def workspaces(self) -> set[str]:
        """The workspaces of this stack that have a state file."""
        return {name for name, path in self.workspace_paths().items() if path.exists()}

    def delete(self) -> None:
        """Remove this workspace's state, its backups and lock file (the caller holds the lock)."""
        if self.path.parent.parent.name != "workspaces" or not self.path.exists():
            raise StateError(f"refusing to delete {self.path}: not a workspace's own state")
        shutil.rmtree(self.path.parent)


# -- S3 ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class S3Backend:
    """The state as one JSON object in S3, written with conditional requests; see reconciler.state.s3."""

    name: ClassVar[str] = "s3"
    creates_on_open: ClassVar[bool] = False
    config: S3Config
    spec_dir: Path = Path(".")
    key_of: Callable[[str], str] = field(default=lambda workspace: "", compare=False)  # workspace -> its key

    @property
    def location(self) -> str:
        return str(self.config.location)

    @property
    def local_path(self) -> None:
        return None

    def exists(self) -> bool:
        with self.open(writable=False) as store:
            return not store.is_new

    @contextmanager
    def open(self, *, writable: bool = False) -> Iterator[StateStore]:
        with self._remote(writable) as remote:
            yield remote

    @contextmanager
    def _remote(self, writable: bool) -> Iterator[S3StateStore]:
        from reconciler.state.s3 import S3StateStore

        remote = S3StateStore(self.config, writable=writable, errored_dir=self.spec_dir)
        try:
            yield remote
        finally:
            remote.close()

    def lock(self, operation: str) -> AbstractContextManager[Any]:
        from reconciler.state.s3_locks import DynamoLock, S3Lock

        return DynamoLock(self.config, operation) if self.config.lock_table else S3Lock(self.config, operation)

    def force_unlock(self, lock_id: str) -> dict[str, Any]:
        from reconciler.state.s3_locks import DynamoLock, S3Lock

        lock = DynamoLock(self.config, "force-unlock") if self.config.lock_table else S3Lock(self.config, "force-unlock")
        return lock.force_unlock(lock_id)

    @property
    def sealing(self) -> Sealing | None:
        return self.config.sealing

    def reading_with(self, reading: Sealing) -> S3Backend:
        return replace(self, config=replace(self.config, reading=reading))

    def sealed_with(self, sealing: Sealing | None) -> S3Backend:
        return replace(self, config=replace(self.config, sealing=sealing))

    def versions(self) -> list[StateVersion]:
        with self._remote(writable=False) as store:
            return store.versions()

    def restore(self, version: str) -> StateVersion:
        with self._remote(writable=True) as store:
            return store.restore(version)

    def workspaces(self) -> set[str]:
        """The workspaces whose key holds a state: the keys the key template makes for any name."""
        from reconciler.state.s3_bucket import list_keys

        probe = "reconcile-workspace-probe"
        template = self.key_of(probe)
        if probe in template:
            prefix, _, suffix = template.partition(probe)
        else:
            prefix, suffix = f"{WORKSPACE_KEY_PREFIX}/", f"/{self.key_of(DEFAULT_WORKSPACE)}"
        found = {DEFAULT_WORKSPACE} if probe not in template and self.exists() else set()
        for key in list_keys(self.config, prefix):
            middle = key[len(prefix):len(key) - len(suffix)] if key.endswith(suffix) else ""
            if middle and "/" not in middle and not key.endswith((".lock", ".journal")):
                found.add(middle)
        return found

    def delete(self) -> None:
        from reconciler.state.s3_bucket import delete_state

        delete_state(self.config)


def make_backend(settings: Mapping[str, Any], spec_path: str | Path, workspace: str, state_path: str | Path | None = None,
                 *, stack: str | None = None, one_stack_directory: bool = False,
                 settings_of: Callable[[str], Mapping[str, Any]] | None = None) -> StateBackend:
    """The backend the (rendered) `state:` block and the overrides name; local unless they say s3.

    `settings_of(workspace)`: the same settings rendered for another workspace (how the key depends on it)."""
    spec = Path(spec_path).absolute()
    sealing = sealing_from(settings.get("encryption"), region=settings.get("region"),
                           endpoint_url=settings.get("endpoint_url"))
    if state_path is not None:
        return LocalBackend(Path(state_path), sealing=sealing)
    name = str(settings.get("backend") or LocalBackend.name)
    make = BACKENDS.get(name)
    if make is None:
        raise StateError(f"unknown state backend {name!r} (use {' or '.join(BACKENDS)})")
    where = BackendPlace(spec, workspace, stack, one_stack_directory, settings_of or (lambda _: settings))
    return make(settings, where, sealing)


@dataclass(frozen=True)
class BackendPlace:
    """What a backend is made for: the spec, the workspace and stack, and the settings of any workspace."""

    spec: Path
    workspace: str
    stack: str | None
    one_stack_directory: bool
    settings_of: Callable[[str], Mapping[str, Any]]

    @property
    def spec_dir(self) -> Path:
        return self.spec if self.spec.is_dir() else self.spec.parent


def local_backend(settings: Mapping[str, Any], where: BackendPlace, sealing: Sealing | None) -> LocalBackend:
    def local_path(name: str) -> Path:
        given = where.settings_of(name).get("path")
        if given:
            base = where.spec_dir / str(given)
            return base if name == DEFAULT_WORKSPACE else base.parent / "workspaces" / name / base.name
        return default_state_path(where.spec, name, where.stack, where.one_stack_directory)

    def workspace_paths() -> dict[str, Path]:
        names = {DEFAULT_WORKSPACE}
        for base in {local_path(DEFAULT_WORKSPACE).parent, state_dir(where.spec)}:
            if (base / "workspaces").is_dir():
                names |= {d.name for d in (base / "workspaces").iterdir() if d.is_dir()}
        return {n: local_path(n) for n in sorted(names)}

    return LocalBackend(local_path(where.workspace), workspace_paths, sealing)


def s3_backend(settings: Mapping[str, Any], where: BackendPlace, sealing: Sealing | None) -> S3Backend:
    def key_of(name: str) -> str:
        key = str(where.settings_of(name).get("key") or "")
        per_workspace = key != str(where.settings_of("reconcile-workspace-probe").get("key") or "")
        return key if per_workspace or name == DEFAULT_WORKSPACE else f"{WORKSPACE_KEY_PREFIX}/{name}/{key}"

    return S3Backend(replace(s3_config(settings, key_of(where.workspace)), sealing=sealing), where.spec_dir, key_of)


BACKENDS: dict[str, Callable[[Mapping[str, Any], BackendPlace, Sealing | None], StateBackend]] = {
    LocalBackend.name: local_backend, S3Backend.name: s3_backend}


def s3_config(settings: Mapping[str, Any], key: str) -> S3Config:
    from reconciler.state.s3_bucket import S3Config

    missing = [k for k in ("bucket", "key") if not settings.get(k)]
    if missing:
        raise StateError(f"the s3 state backend needs {' and '.join(missing)} (in `state:` or --backend-config)")
    region = str(settings.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    if not REGION.match(region):
        raise StateError(f"`state.region` {region!r} is not an AWS region name (like eu-west-1)")
    return S3Config(bucket=str(settings["bucket"]), key=key, region=region,
                    endpoint_url=settings.get("endpoint_url") or None, encrypt=bool(settings.get("encrypt", True)),
                    kms_key_id=settings.get("kms_key_id") or None, profile=settings.get("profile") or None,
                    lock_table=settings.get("lock_table") or None)
