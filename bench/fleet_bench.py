"""Fleet benchmark: one controller, 5 to 100 SSH hosts (the harness's sshd containers), 30 resources per
host, converged by reconcile, ansible-core (forks 50, pipelining, ControlPersist) and pyinfra side by
side. For each tool and size: wall time, controller CPU seconds, peak RSS of the controller's process
tree, peak open sockets (its SSH connections) and, for reconcile, SSH round trips per host, for the first
converge and a no-change converge.

Usage: python bench/fleet_bench.py [5 20 50 100]   FLEET_REPEATS=2 (no-change runs; the fastest counts)
       FLEET_TOOLS=reconcile,ansible,pyinfra
(about 45 minutes for all four sizes, most of it Ansible's)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import docker  # noqa: E402
from ssh_bench import WORK, prepare, venv  # noqa: E402

from tests.harness.docker_engine import engine_url, stop_if_started  # noqa: E402
from tests.harness.ssh_hosts import start_hosts  # noqa: E402

PARALLELISM = 50  # reconcile --parallelism, ansible forks, pyinfra --parallel: the same bound for all
REPEATS = int(os.environ.get("FLEET_REPEATS", "2"))  # no-change runs per tool and size (the fastest counts)
TOOLS = os.environ.get("FLEET_TOOLS", "reconcile,ansible,pyinfra").split(",")


def _tree(root: int) -> list[int]:
    """The process and its descendants (from /proc/PID/task/TID/children: no scan of every process)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                todo += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return out


def _sample(pids: list[int]) -> tuple[int, int]:
    """(RSS in kB, open sockets) summed over `pids`."""
    rss = sockets = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"^VmRSS:\s+(\d+)", status, re.M)
            rss += int(match.group(1)) if match else 0
            sockets += sum(1 for fd in os.listdir(f"/proc/{pid}/fd")
                           if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"))
        except OSError:
            continue
    return rss, sockets


def ansible_failed(output: str) -> bool:
    """ansible-playbook exits 2 when a task failed: the recap says on which hosts."""
    return re.search(r"\b(failed|unreachable)=[1-9]", output) is not None


def measured(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run `argv`; its wall time, CPU seconds (with its children), peak tree RSS (MB), peak sockets."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak = {"rss": 0, "sockets": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            rss, sockets = _sample(_tree(proc.pid))
            peak["rss"], peak["sockets"] = max(peak["rss"], rss), max(peak["sockets"], sockets)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    if proc.returncode not in (0, 2) or ansible_failed(output):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{output[-3000:]}")
    trips = re.search(r"SSH: \d+ hosts, \d+ round trips \(([\d.]+) per host\)", output)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": peak["rss"] / 1024,
            "sockets": peak["sockets"], "trips": float(trips.group(1)) if trips else float("nan")}


def run_size(client: docker.DockerClient, n: int, ansible_bin: Path, pyinfra_bin: Path) -> dict[str, dict[str, float]]:
    hosts = start_hosts(client, f"bench-fleet-{os.getpid()}-{n}", n)
    try:
        workdir = prepare(hosts, f"fleet-bench-{n}-")
        cfg = workdir / "ansible.cfg"
        cfg.write_text(cfg.read_text().replace("forks = 20", f"forks = {PARALLELISM}"))
        rec = [sys.executable, "-m", "reconciler", "-v", "apply", "--auto-approve", "--parallelism", str(PARALLELISM),
               "spec"]
        env = {"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "HOME": str(workdir)}  # only the spec's known_hosts
        ans = [str(ansible_bin / "ansible-playbook"), "site.yml"]
        aenv = {"ANSIBLE_CONFIG": str(cfg)}
        pyi = [str(pyinfra_bin / "pyinfra"), "-y", "--parallel", str(PARALLELISM), "inventory.py", "deploy.py"]
        out: dict[str, dict[str, float]] = {}
        for tool, argv, tool_env in (("reconcile", rec, env), ("ansible", ans, aenv), ("pyinfra", pyi, None)):
            if tool not in TOOLS:
                continue
            out[f"{tool} first"] = measured(argv, workdir, tool_env)
            out[f"{tool} no-change"] = min((measured(argv, workdir, tool_env) for _ in range(REPEATS)),
                                           key=lambda m: m["wall"])
        return out
    finally:
        for h in hosts:
            h.container.remove(force=True)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [5, 20, 50, 100]
    WORK.mkdir(parents=True, exist_ok=True)
    ansible_bin = venv("ansible-playbook", "ansible-core")
    pyinfra_bin = venv("pyinfra", "pyinfra")
    run_dir = Path(tempfile.mkdtemp(prefix="reconcile-bench-run-"))
    client = docker.DockerClient(base_url=engine_url(run_dir), timeout=300)
    rows = {}
    try:
        for n in sizes:
            rows[n] = run_size(client, n, ansible_bin, pyinfra_bin)
            print_rows({n: rows[n]}, header=n == sizes[0])
    finally:
        client.close()
        stop_if_started(run_dir)
    base = min(rows)
    for n in sorted(rows)[1:]:
        rss = rows[n]["reconcile no-change"]["rss_mb"] - rows[base]["reconcile no-change"]["rss_mb"]
        print(f"reconcile controller memory from {base} to {n} hosts: +{rss:.0f} MB, "
              f"{rss / (n - base):.2f} MB per added host")
    for n in sorted(rows):
        r = rows[n]
        ours = r["reconcile no-change"]["wall"]
        peers = [f"{r[f'{p} no-change']['wall'] / ours:.1f}x faster than {p}" for p in ("pyinfra", "ansible")
                 if f"{p} no-change" in r]
        print(f"{n:>4} hosts, no-change converge: " + ", ".join(peers))


def print_rows(rows: dict[int, dict[str, dict[str, float]]], header: bool) -> None:
    if header:
        print(f"30 resources per host; --parallelism/forks/--parallel {PARALLELISM}")
        print(f"{'hosts':>5} {'run':<22} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12} {'peak sockets':>13} "
              f"{'round trips/host':>17}")
    for n, runs in rows.items():
        for name, m in runs.items():
            trips = "" if m["trips"] != m["trips"] else f"{m['trips']:.1f}"  # NaN: the tool does not say
            print(f"{n:>5} {name:<22} {m['wall']:>8.2f} {m['cpu']:>8.2f} {m['rss_mb']:>12.0f} {m['sockets']:>13.0f} "
                  f"{trips:>17}", flush=True)


if __name__ == "__main__":
    main()
