"""Scale simulation: N simulated hosts x 10 resources through the planner and each executor (the local
thread pool, and Dask on a LocalCluster of 2 worker processes), with a configurable per-round-trip
latency and failure rate. Reports the time to validate, plan and apply, the scheduling overhead per
resource (wall time beyond what the simulated round trips cost at the given parallelism) and the
client's peak memory, so that growth from 100 to 10,000 hosts is known before anyone tries it.

Usage: python bench/scale_sim.py [100 1000 10000]   SIM_LATENCY=0.02 SIM_FAILURE_RATE=0 PARALLELISM=100
       DASK_MAX_HOSTS=1000 (Dask runs one task per change: it is measured up to this many hosts)
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from reconciler.cli.main import tune_gc  # noqa: E402
from reconciler.engine.apply import Applier  # noqa: E402
from reconciler.engine.carry import LocalExecutor  # noqa: E402
from reconciler.engine.plan import make_plan  # noqa: E402
from reconciler.registry import Registry, TypeEntry  # noqa: E402
from reconciler.spec.validate import validate  # noqa: E402
from reconciler.state.store import SqliteStateStore  # noqa: E402
from reconciler.targets import TargetPool  # noqa: E402

PER_HOST = 10
PARALLELISM = int(os.environ.get("PARALLELISM", "100"))
LATENCY = float(os.environ.get("SIM_LATENCY", "0.02"))


def registry() -> Registry:
    installed = Registry.installed()
    return Registry([*installed.entries(), TypeEntry("sim.item", "simulation.item:SimItemModule", "bench")],
                    {**installed.family_references(), "sim": "simulation.item:SIM"}, installed.data_entries())


def spec_text(hosts: int) -> str:
    lines = ["name: sim", "resources:"]
    for h in range(hosts):
        for k in range(PER_HOST):
            lines.append(f"  - {{type: sim.item, name: h{h:05d}_i{k}, on: h{h:05d}, value: v{k}}}")
    return "\n".join(lines) + "\n"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(hosts: int, executor: str, cluster: Any = None) -> dict[str, float]:
    reg = registry()
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "spec.yaml"
        spec_file.write_text(spec_text(hosts))
        t0 = time.perf_counter()
        validated = validate(spec_file, reg)
        t1 = time.perf_counter()
        factories = {f: reg.target_factory(f) for f in reg.families}
        with SqliteStateStore(Path(tmp) / "state.db") as store, TargetPool(validated.spec, factories) as pool:
            plan = make_plan(validated.spec, validated.graph, reg, pool, store, parallelism=PARALLELISM)
            t2 = time.perf_counter()
            local = LocalExecutor(reg, pool)
            chosen: Any = local
            if executor == "dask":
                from reconciler.engine.distributed import DaskExecutor, connect

                client = connect(cluster.scheduler_address)
                chosen = DaskExecutor(client, validated.spec, reg, local,
                                      [("sim", c.resource.target) for c in plan.changes if c.resource])
            applier = Applier(validated.graph, reg, pool, store, PARALLELISM, executor=chosen)
            results = applier.apply(plan)
            t3 = time.perf_counter()
            chosen.close()
            if executor == "dask":
                client.close()
    resources = hosts * PER_HOST
    # the simulated round trips alone: plan = one per host, apply = one per resource, PARALLELISM at once
    ideal_plan = hosts * LATENCY / PARALLELISM
    ideal_apply = resources * LATENCY / PARALLELISM
    ok = sum(1 for r in results if r.status.value == "ok")
    return {"hosts": hosts, "resources": resources, "validate": t1 - t0, "plan": t2 - t1, "apply": t3 - t2,
            "plan_overhead_ms": (t2 - t1 - ideal_plan) / resources * 1000,
            "apply_overhead_ms": (t3 - t2 - ideal_apply) / resources * 1000, "ok": ok, "rss_mb": rss_mb()}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000, 10000]
    dask_max = int(os.environ.get("DASK_MAX_HOSTS", "1000"))
    tune_gc()
    print(f"{PER_HOST} resources per host, {LATENCY * 1000:.0f} ms per round trip, parallelism {PARALLELISM}")
    print(f"{'executor':>8} {'hosts':>6} {'resources':>9} {'validate s':>10} {'plan s':>7} {'apply s':>8} "
          f"{'plan ovh ms/res':>15} {'apply ovh ms/res':>16} {'ok':>7} {'client MB':>9}")
    rows = [("local", run(n, "local")) for n in sizes]
    for name, r in rows:
        show(name, r)
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=PARALLELISM // 2, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        for n in [s for s in sizes if s <= dask_max]:
            show("dask", run(n, "dask", cluster))


def show(name: str, r: dict[str, float]) -> None:
    print(f"{name:>8} {r['hosts']:>6.0f} {r['resources']:>9.0f} {r['validate']:>10.2f} {r['plan']:>7.2f} "
          f"{r['apply']:>8.2f} {r['plan_overhead_ms']:>15.3f} {r['apply_overhead_ms']:>16.3f} {r['ok']:>7.0f} "
          f"{r['rss_mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
