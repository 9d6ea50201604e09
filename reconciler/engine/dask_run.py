"""What the Dask client (engine.distributed) and its workers (engine.dask_worker) share about one run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.model import Spec
from reconciler.registry import TypeEntry

PLUGIN = "reconcile"
LOST = ("outcome unknown: the worker carrying it out was lost after it began changing the target; "
        "the next plan observes it again")


@dataclass(frozen=True)
class RunContext:
    """What a worker needs for one run: the types (as entry-point references) and how to reach targets."""

    run_id: str
    types: tuple[TypeEntry, ...]
    families: Mapping[str, str]
    data: tuple[TypeEntry, ...]
    spec: Spec  # without resources, data, outputs or the document's variables
    connections: int | None = None  # at most this many open at once per worker (the run's --parallelism)
