"""Soak benchmark of `reconcile watch`: 1,000 local files observed every second for SECONDS (default 600), with
drift made every 20 s (half of it repaired automatically, half reported), the dashboard and /metrics read every
5 s. Samples the process's resident memory and open file descriptors every 30 s from /proc; passes when neither
grows after the warm-up (the first 2 minutes): RSS by more than 10 %, descriptors at all (the fewest open in
the last samples against the fewest in the first ones: a run holds its state database open for a moment).

Usage: python bench/watch_soak.py [SECONDS] [FILES]
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 120.0


def rss_kib(pid: int) -> int:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def main() -> int:
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory(prefix="watch-soak-") as tmp:
        root = Path(tmp)
        out = root / "out"
        lines = [f'  - {{type: file, name: f{i}, path: "{out}/f{i}", content: "{i}\\n"'
                 + (", drift: {remediate: auto}" if i % 2 == 0 else "") + "}" for i in range(files)]
        (root / "site.yaml").write_text("name: soak\nwatch: {interval: 1s, max_changes: 50}\nresources:\n"
                                        + "\n".join(lines) + "\n")
        env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
        reconcile = [sys.executable, "-m", "reconciler"]
        subprocess.run([*reconcile, "apply", "--auto-approve", "."], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        log = (root / "watch.log").open("w")
        proc = subprocess.Popen([*reconcile, "watch", ".", "--listen", "127.0.0.1:0"], cwd=root, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        url = ""
        while not url:
            time.sleep(0.2)
            found = re.search(r"http://127\.0\.0\.1:\d+", (root / "watch.log").read_text())
            url = found.group(0) if found else ""
        start, samples, last_drift, last_read = time.monotonic(), [], 0.0, 0.0
        rounds = 0
        while (now := time.monotonic() - start) < duration:
            if now - last_drift >= 20:
                start_at = (rounds % 25) * 2
                for i in range(start_at, files, 50):  # 20 even files: repaired by the watch
                    (out / f"f{i}").write_text("drift\n")
                for i in range(start_at + 1, files, 50):  # 20 odd files: reported, then fixed by hand next round
                    (out / f"f{i}").write_text("drift\n")
                if rounds:
                    for i in range(((rounds - 1) % 25) * 2 + 1, files, 50):
                        (out / f"f{i}").write_text(f"{i}\n")
                rounds, last_drift = rounds + 1, now
            if now - last_read >= 5:
                for path in ("/", "/metrics", "/api/status"):
                    with urllib.request.urlopen(url + path, timeout=30) as response:
                        response.read()
                last_read = now
            if not samples or now - samples[-1]["t"] >= 30:
                status = json.loads(urllib.request.urlopen(url + "/api/status", timeout=30).read())
                samples.append({"t": round(now), "rss_mib": round(rss_kib(proc.pid) / 1024, 1),
                                "fds": open_fds(proc.pid), "runs": status["runs"][0]["run"] if status["runs"] else 0})
                print(json.dumps(samples[-1]), flush=True)
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        text = (root / "watch.log").read_text()
    runs = [line for line in text.splitlines() if line.startswith("run ")]
    after = [s for s in samples if s["t"] >= WARM_UP] or samples
    base = after[0]
    # growth, not a run's passing use: the last samples against the first ones after the warm-up (a sample taken
    # during a run sees its state database and an HTTP connection open for a moment)
    rss_growth = max(s["rss_mib"] for s in after[-3:]) / base["rss_mib"] - 1
    fd_growth = min(s["fds"] for s in after[-3:]) - min(s["fds"] for s in after[:3])
    failed = sum(" failed" in line for line in runs)
    print(f"\nwatch over {files} files, interval 1s, {duration:.0f} s: {len(runs)} runs "
          f"({sum('remediated' in r for r in runs)} remediated, {failed} failed); exit {code}")
    print(f"RSS after warm-up: {base['rss_mib']} MiB -> {after[-1]['rss_mib']} MiB at the end ({rss_growth:+.1%}); "
          f"open fds at rest: {min(s['fds'] for s in after[:3])} -> {min(s['fds'] for s in after[-3:])} "
          f"(at most {max(s['fds'] for s in after)} during a run)")
    ok = code == 0 and rss_growth <= 0.10 and fd_growth <= 0 and failed == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
