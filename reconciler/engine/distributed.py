"""The distributed executor: changes carried out by the workers of an existing Dask cluster.

`reconcile apply SPEC --executor dask --scheduler tcp://HOST:8786`. Nothing here is imported, and Dask
is not needed, unless that is asked for.

- The plan is made on the client, which stays the only writer of the state and the holder of the lock.
- The dependency walk runs on the client too: a change is submitted the moment its prerequisites have
  settled, so the graph's edges are kept exactly, across targets and workers alike.
- The targets are partitioned over the workers, in order (each host's, engine's or region's changes form
  a slice that one worker owns and reaches over one connection for the whole run). Resources on `local`
  targets (this machine, its Docker engine) are carried out here, never on a worker.
- A worker gets what it needs to reach its targets (the inventory and engine/region settings) once per
  run, and each change as it runs; no other resource, and so no other secret, leaves the client.
- Just before a change touches its target, its worker marks it started on the scheduler. If the worker is
  lost, Dask runs its unfinished changes on another worker: one that was not marked starts afresh; one
  that was is reported as failed with an unknown outcome instead of being applied twice, and the next
  plan re-observes it.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from reconciler.engine.carry import LocalExecutor
from reconciler.engine.dask_run import LOST, PLUGIN, RunContext
from reconciler.errors import ReconcileError
from reconciler.model import Change, Result, Spec, Status
from reconciler.registry import Registry

log = logging.getLogger(__name__)

LOCAL = "local"


def worker_spec(spec: Spec, settings_keys: Iterable[str]) -> Spec:
    """The spec a worker gets: the inventory and the families' settings blocks (`settings_keys`), nothing else."""
    kept = {"name", "inventory", *settings_keys}
    document = dataclasses.replace(
        spec.document, data={k: v for k, v in spec.document.data.items() if k in kept}, locations={}, texts={})
    settings = {k: v for k, v in spec.settings.items() if k != "state"}
    return dataclasses.replace(spec, document=document, resources=(), settings=settings, outputs=(), data=())


def connect(address: str, timeout: float = 10.0) -> Any:
    """A Dask client of the scheduler at `address`, checked: reachable, with workers, the same versions."""
    try:
        import distributed

        from reconciler.engine.dask_worker import ReconcilePlugin
    except ImportError:
        raise ReconcileError("--executor dask needs Dask distributed: pip install 'reconcile-iac[dask]'") from None
    make_client: Any = distributed.Client
    try:
        client: Any = make_client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ReconcileError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        client.get_versions(check=True)
        ours = _reconcile_version()
        theirs = client.run(installed_version)
        other = sorted({v for v in theirs.values() if v != ours})
        if other:
            raise ValueError(f"its workers run reconcile {', '.join(other)}; this client runs {ours}")
        if not client.scheduler_info().get("workers"):
            raise ValueError("it has no workers")
    except (ValueError, ReconcileError, OSError, TimeoutError) as exc:
        client.close()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReconcileError(f"the Dask cluster at {address} cannot run this apply: {first}") from None
    client.register_plugin(ReconcilePlugin(), name=PLUGIN)
    return client


def installed_version() -> str:
    """The version of reconcile installed where this runs (the client, or a worker)."""
    try:
        return str(metadata.version("reconcile-iac"))
    except metadata.PackageNotFoundError:
        return "unknown"


def _reconcile_version() -> str:
    return installed_version()


class DaskExecutor:
    """Changes carried out by the workers of a Dask cluster (see the module's docstring)."""

    remote = True

    def __init__(self, client: Any, spec: Spec, registry: Registry, local: LocalExecutor,
                 targets: Iterable[tuple[str, str]], connections: int | None = None):
        self.client = client
        self.local = local
        self.run_id = secrets.token_hex(8)
        context = RunContext(self.run_id, registry.entries(), registry.family_references(),
                             registry.data_entries(), worker_spec(spec, registry.settings_keys()),
                             connections)
        self.context = client.scatter(context, broadcast=True, hash=False)
        workers = sorted(client.scheduler_info()["workers"])
        remote = sorted({t for t in targets if t[1] != LOCAL})
        self.owners = {t: str(workers[i % len(workers)]) for i, t in enumerate(remote)}
        self.workers: list[str] = [str(w) for w in workers]
        self.count = 0

    def owner(self, family: str, target: str) -> str:
        return self.owners.get((family, target)) or self.workers[hash((family, target)) % len(self.workers)]

    def run(self, phase: str, changes: list[Change]) -> list[Result]:
        first = changes[0].resource
        assert first is not None
        family = self.local.registry.module_class(changes[0].type).family
        if first.target == LOCAL:
            return self.local.run(phase, changes)
        from reconciler.engine.dask_worker import remote_carry_out

        self.count += 1
        future = self.client.submit(
            remote_carry_out, self.context, phase, changes, workers=[self.owner(family, first.target)],
            allow_other_workers=True, pure=False, key=f"reconcile-{self.run_id}-{self.count}")
        try:
            results: list[Result] = future.result()
            return results
        except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: every change of the task is unknown
            log.warning("a Dask task failed: %s", type(exc).__name__, exc_info=True)
            return [Result(c.address, c.action, Status.FAILED, error=f"{LOST} ({type(exc).__name__})")
                    for c in changes]
        finally:
            future.release()

    def close(self) -> None:
        from reconciler.engine.dask_worker import close_run

        try:
            self.client.run(close_run, self.run_id)
            self.client.set_metadata([PLUGIN, self.run_id], {})
        except Exception:  # noqa: BLE001 - a lost cluster leaves nothing here to clean
            log.debug("closing run %s on the workers", self.run_id, exc_info=True)
