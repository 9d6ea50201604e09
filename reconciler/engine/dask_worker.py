"""The worker side of the distributed executor (see reconciler.engine.distributed): imported by Dask
workers, and on the client only when `--executor dask` is asked for."""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin, get_client, get_worker

from reconciler.engine.carry import carry_out
from reconciler.engine.dask_run import LOST, PLUGIN, RunContext
from reconciler.model import Change, Result
from reconciler.registry import Registry
from reconciler.targets import TargetPool


class ReconcilePlugin(WorkerPlugin):
    """Per worker: each run's registry and target pool (one connection per target), closed at the end."""

    def __init__(self) -> None:
        self.runs: dict[str, tuple[Registry, TargetPool]] = {}

    def setup(self, worker: Any) -> None:
        self.runs = {}

    def teardown(self, worker: Any) -> None:
        for _, pool in self.runs.values():
            pool.close()
        self.runs.clear()

    def run(self, context: RunContext) -> tuple[Registry, TargetPool]:
        if context.run_id not in self.runs:
            registry = Registry(context.types, context.families, context.data)
            factories = {f: registry.target_factory(f) for f in registry.families}
            self.runs[context.run_id] = (registry, TargetPool(context.spec, factories, context.connections))
        return self.runs[context.run_id]


def remote_carry_out(context: RunContext, phase: str, changes: list[Change]) -> list[Result]:
    """A Dask task: carry out `changes` on this worker, marking each started on the scheduler first."""
    worker: Any = get_worker()
    plugin: ReconcilePlugin = worker.plugins[PLUGIN]
    registry, pool = plugin.run(context)
    client: Any = get_client()
    started_key = [PLUGIN, context.run_id, "started", str(worker.get_current_task())]
    # a retry of a task whose worker was lost after it began: what it had marked is of unknown outcome
    lost = set(client.get_metadata(started_key, None) or ())
    marked = False

    def before_mutating(change: Change) -> str | None:
        """The first change about to touch its target marks every change of the task started, in one
        scheduler round trip: a retry after this worker is lost reports them as of unknown outcome rather
        than applying any of them twice (one not yet begun is then observed again by the next plan)."""
        nonlocal marked
        if change.address in lost:
            return LOST
        if not marked:
            client.set_metadata(started_key, [c.address for c in changes])  # the lost ones stay marked
            marked = True
        worker.log_event(PLUGIN, {"run": context.run_id, "address": change.address, "worker": worker.address})
        return None

    return carry_out(registry, pool, phase, changes, before_mutating)


def close_run(run_id: str, dask_worker: Any = None) -> None:
    plugin = dask_worker.plugins.get(PLUGIN) if dask_worker is not None else None
    if plugin is not None and run_id in plugin.runs:
        plugin.runs.pop(run_id)[1].close()
