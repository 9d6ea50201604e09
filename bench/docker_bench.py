"""Docker benchmark: N containers in one spec. First apply, no-change plan, plan after 5 drifted;
engine API calls per no-change plan, next to compose-style observation (one inspect per container).

Uses the test harness's engine (DOCKER_HOST, the default socket, or a private dockerd it starts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from reconciler.engine.plan import make_plan  # noqa: E402
from reconciler.engine.session import Session  # noqa: E402
from reconciler.registry import Registry  # noqa: E402
from reconciler.spec.validate import validate  # noqa: E402
from reconciler.state.store import SqliteStateStore  # noqa: E402
from reconciler.targets import TargetPool  # noqa: E402
from tests.harness.docker_engine import engine_url, stop_if_started  # noqa: E402
from tests.harness.images import ensure_busybox  # noqa: E402


def spec_text(n: int, prefix: str, image: str) -> str:
    lines = ["resources:"]
    for i in range(n):
        lines += ["  - type: docker.container", f"    name: {prefix}-{i}", f"    image: {image}",
                  '    command: ["sleep", "3600"]', "    stop_timeout: 1", f"    labels: {{bench: '{i}'}}"]
    return "\n".join(lines) + "\n"


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - start


def plan_calls(spec_dir: Path) -> tuple[int, float]:
    """Engine API calls made by one in-process no-change plan, and its wall time."""
    registry = Registry.builtin()
    start = time.perf_counter()
    v = validate(spec_dir, registry)
    with SqliteStateStore.open_readonly(Session(spec_dir).state_file) as store, TargetPool(v.spec, registry.target_factories()) as pool:
        plan = make_plan(v.spec, v.graph, registry, pool, store)
        calls = pool.get("docker", "local").calls
    assert not plan.actionable, [c.address for c in plan.actionable][:3]
    return calls, time.perf_counter() - start


def compose_style(client: docker.DockerClient, names: list[str]) -> tuple[int, float]:
    """What `docker compose` does to observe a project: list, then inspect every container."""
    start = time.perf_counter()
    listed = client.api.containers(all=True, filters={"label": "reconcile.spec"})
    for name in names:
        client.api.inspect_container(name)
    assert listed
    return 1 + len(names), time.perf_counter() - start


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10, 50]
    run_dir = Path(tempfile.mkdtemp(prefix="reconcile-bench-"))
    url = engine_url(run_dir)
    os.environ["DOCKER_HOST"] = url  # for the in-process plan that counts API calls
    client = docker.DockerClient(base_url=url, timeout=120)
    image = ensure_busybox(client)
    env = {**os.environ, "DOCKER_HOST": url, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    reconcile = [sys.executable, "-m", "reconciler"]
    print(f"{'containers':>10} {'first apply':>12} {'no-change plan':>15} {'(in-process)':>13} {'API calls':>10} "
          f"{'5 drifted plan':>15} {'compose-style observe':>22} {'its calls':>10}")
    try:
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                spec_dir = Path(tmp) / "spec"
                spec_dir.mkdir()
                prefix = f"bench{n}"
                (spec_dir / "site.yaml").write_text(spec_text(n, prefix, image))
                first = timed(reconcile + ["apply", "--auto-approve", str(spec_dir)], env)
                nochange = min(timed(reconcile + ["plan", str(spec_dir)], env) for _ in range(3))
                calls, inproc = min((plan_calls(spec_dir) for _ in range(3)), key=lambda r: r[1])
                names = [f"{prefix}-{i}" for i in range(n)]
                compose_calls, compose_s = min((compose_style(client, names) for _ in range(3)), key=lambda r: r[1])
                for name in names[:5]:
                    client.api.stop(name, timeout=1)
                drifted = timed(reconcile + ["plan", str(spec_dir)], env)
                print(f"{n:>10} {first:>11.2f}s {nochange:>14.2f}s {inproc:>12.3f}s {calls:>10} {drifted:>14.2f}s "
                      f"{compose_s:>21.3f}s {compose_calls:>10}")
                (spec_dir / "site.yaml").write_text("resources: []\n")
                timed(reconcile + ["apply", "--auto-approve", str(spec_dir)], env)
    finally:
        client.close()
        stop_if_started(run_dir)
    print("API calls per no-change plan: ping, one container list, one image list, whatever the count.")
    print("no-change plan = the `reconcile plan` command (process start included); in-process = validate+plan.")


if __name__ == "__main__":
    main()
