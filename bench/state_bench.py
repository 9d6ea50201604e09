"""State backend benchmark: the cost of a shared state. N local files planned with the state in a local
SQLite file and in S3 (moto server over HTTP), time and S3 requests per no-change plan; next to it,
Terraform's own S3 backend (with its S3 lock file) planning N `terraform_data` resources against the
same endpoint, in the same run. Usage: python bench/state_bench.py [N]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.fault_proxy import FaultProxy, Faults  # noqa: E402
from tests.harness.moto import MotoServer  # noqa: E402


def spec_text(n: int, out: Path, state: str) -> str:
    lines = ["name: bench", state, "resources:"]
    lines += [f'  - {{type: file, name: f{i}, path: "{out}/f{i}", content: "{i}\\n"}}' for i in range(n)]
    return "\n".join(lines) + "\n"


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def counted(url: str, run: Callable[[str], float]) -> tuple[float, int]:
    faults = Faults()
    proxy = FaultProxy(url, faults)
    try:
        seconds = run(proxy.url)
    finally:
        proxy.stop()
    return seconds, faults.counts["requests"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    work = Path(tempfile.mkdtemp(prefix="state-bench-"))
    moto = MotoServer(work)
    try:
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        s3.create_bucket(Bucket="bench-state")
        s3.put_bucket_versioning(Bucket="bench-state", VersioningConfiguration={"Status": "Enabled"})
        env = {**moto.env, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
        rec = [sys.executable, "-m", "reconciler"]
        results = {}
        for kind in ("local", "s3"):
            spec = work / kind
            spec.mkdir()
            state = "" if kind == "local" else (
                f"state: {{backend: s3, bucket: bench-state, key: bench.state, endpoint_url: \"{moto.url}\"}}")
            (spec / "site.yaml").write_text(spec_text(n, work / f"out-{kind}", state))
            timed(rec + ["apply", "--auto-approve", str(spec)], work, env)
            if kind == "local":
                results[kind] = (min(timed(rec + ["plan", str(spec)], work, env) for _ in range(3)), 0)
            else:
                def plan(url: str, spec: Path = spec) -> float:
                    return timed(rec + ["plan", str(spec), f"--backend-config=endpoint_url={url}"], work, env)

                runs = [counted(moto.url, plan) for _ in range(3)]
                results[kind] = (min(r[0] for r in runs), runs[0][1])

        tf = work / "tf"
        tf.mkdir()
        (tf / "main.tf").write_text(textwrap.dedent(f"""
            terraform {{
              backend "s3" {{
                bucket = "bench-state"
                key    = "tf.state"
                region = "us-east-1"
                use_lockfile = true
                skip_credentials_validation = true
                skip_requesting_account_id  = true
                skip_metadata_api_check     = true
                skip_region_validation      = true
                use_path_style = true
              }}
            }}
            resource "terraform_data" "f" {{
              count = {n}
              input = "${{count.index}}"
            }}
        """))
        tf_env = {**moto.env, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        terraform = shutil.which("terraform") or "/usr/local/bin/terraform"

        def tf_run(url: str, *args: str) -> float:
            return timed([terraform, *args], tf, {**tf_env, "AWS_ENDPOINT_URL_S3": url})

        tf_run(moto.url, "init", "-input=false", "-reconfigure")
        tf_run(moto.url, "apply", "-auto-approve", "-input=false")
        tf_runs = [counted(moto.url, lambda url: tf_run(url, "plan", "-input=false", "-detailed-exitcode"))
                   for _ in range(2)]
        results["terraform s3"] = (min(r[0] for r in tf_runs), tf_runs[0][1])
    finally:
        moto.stop()
    print(f"{n} resources, no-change plan: seconds (best of the runs) and S3 requests")
    for name, (seconds, requests) in results.items():
        print(f"{name:>14} {seconds:8.2f} s {requests:4d} requests")


if __name__ == "__main__":
    main()
