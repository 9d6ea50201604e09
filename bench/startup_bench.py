"""Start-up benchmark: what every command pays before it does anything, side by side with the bare
interpreter and `terraform version` (when Terraform is installed), and a no-change `plan` of a 3-resource
local spec; then `python -X importtime`'s largest imports of `--version` and of that plan.

Usage: python bench/startup_bench.py [RUNS]   (median of RUNS runs, default 15)
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECONCILE = [sys.executable, "-m", "reconciler"]
# as an installed wheel runs: with its bytecode written once, not recompiled on every start
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
SPEC = """name: startup
resources:
  - {type: directory, name: d, path: "{{ root }}/d"}
  - {type: file, name: a, path: "{{ root }}/d/a.txt", content: "a\\n", depends_on: [directory.d]}
  - {type: file, name: b, path: "{{ root }}/d/b.txt", content: "b\\n", depends_on: [directory.d]}
"""


def median_seconds(argv: list[str], runs: int, cwd: Path | None = None) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def largest_imports(argv: list[str], cwd: Path | None = None, top: int = 8) -> list[tuple[int, str]]:
    """(cumulative µs, module) of the top-level imports `-X importtime` reports, largest first."""
    run = subprocess.run([sys.executable, "-X", "importtime", *argv[1:]], cwd=cwd, capture_output=True, text=True,
                         check=False, env=ENV)
    rows = []
    for line in run.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and len(m.group(2)) <= 1:  # top-level imports only
            rows.append((int(m.group(1)), m.group(3)))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec"
        spec.mkdir()
        (spec / "site.yaml").write_text(SPEC.replace("{{ root }}", tmp))
        env_ok = subprocess.run([*RECONCILE, "apply", "--auto-approve", str(spec)], capture_output=True, text=True,
                                env=ENV)
        if env_ok.returncode != 0:
            raise SystemExit(env_ok.stdout + env_ok.stderr)
        bare = median_seconds([sys.executable, "-c", "pass"], runs)
        rows = [("python -c pass", bare)]
        rows.append(("reconcile --version", median_seconds([*RECONCILE, "--version"], runs)))
        rows.append(("reconcile --help", median_seconds([*RECONCILE, "--help"], runs)))
        rows.append(("reconcile plan (3 resources, no change)", median_seconds([*RECONCILE, "plan", str(spec)], runs)))
        terraform = shutil.which("terraform")
        if terraform:
            rows.append(("terraform version", median_seconds([terraform, "version"], runs)))
        print(f"start-up, median of {runs} runs ({os.cpu_count()} cores)")
        for name, seconds in rows:
            print(f"  {name:<42} {seconds * 1000:7.1f} ms  {seconds / bare:5.1f}x the bare interpreter")
        for title, argv in (("--version", [*RECONCILE, "--version"]), ("plan", [*RECONCILE, "plan", str(spec)])):
            print(f"python -X importtime, reconcile {title}: the largest top-level imports (cumulative)")
            for micros, module in largest_imports(argv):
                print(f"  {micros / 1000:7.1f} ms  {module}")


if __name__ == "__main__":
    main()
