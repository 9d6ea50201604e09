"""AWS benchmark: N resources on a moto server, reconcile's no-change plan (time and API calls) next to
`terraform plan` on the same resources against the same endpoint, in the same run. Terraform 1.11 with
the AWS provider from /opt/tf-plugins (a filesystem mirror; nothing is downloaded).

Usage: python bench/aws_bench.py [N] [KINDS]   KINDS: the resource kinds, split evenly, from
s3,sg,sqs,sns,logs (default s3,sg; `mixed` is all five).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.engine.plan import make_plan  # noqa: E402
from reconciler.engine.session import Session  # noqa: E402
from reconciler.registry import Registry  # noqa: E402
from reconciler.spec.validate import validate  # noqa: E402
from reconciler.state.store import SqliteStateStore  # noqa: E402
from reconciler.targets import TargetPool  # noqa: E402
from tests.harness.moto import MotoServer  # noqa: E402

RULE = "{protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0]}"


RECONCILE = {  # kind -> the resource entry of instance i
    "s3": lambda i: f"  - {{type: aws.s3_bucket, name: rc-bench-{i}, tags: {{bench: reconcile}}}}",
    "sg": lambda i: f"  - {{type: aws.security_group, name: rc-bench-{i}, description: bench, ingress: [{RULE}]}}",
    "sqs": lambda i: f"  - {{type: aws.sqs_queue, name: rc-bench-{i}, visibility_timeout: 60, tags: {{bench: reconcile}}}}",
    "sns": lambda i: f"  - {{type: aws.sns_topic, name: rc-bench-{i}, tags: {{bench: reconcile}}}}",
    "logs": lambda i: (f"  - {{type: aws.cloudwatch_log_group, name: rc-bench-{i}, retention_in_days: 14, "
                       "tags: {bench: reconcile}}"),
}


def reconcile_spec(n: int, url: str, kinds: list[str]) -> str:
    lines = [f'aws: {{region: us-east-1, endpoint_url: "{url}"}}', "resources:"]
    for kind in kinds:
        lines += [RECONCILE[kind](i) for i in range(n // len(kinds))]
    return "\n".join(lines) + "\n"


TERRAFORM = {
    "s3": """
        resource "aws_s3_bucket" "b" {{
          count  = {count}
          bucket = "tf-bench-${{count.index}}"
          tags   = {{ bench = "terraform" }}
        }}""",
    "sg": """
        resource "aws_security_group" "g" {{
          count       = {count}
          name        = "tf-bench-${{count.index}}"
          description = "bench"
          ingress {{
            protocol    = "tcp"
            from_port   = 443
            to_port     = 443
            cidr_blocks = ["0.0.0.0/0"]
          }}
        }}""",
    "sqs": """
        resource "aws_sqs_queue" "q" {{
          count                      = {count}
          name                       = "tf-bench-${{count.index}}"
          visibility_timeout_seconds = 60
          tags                       = {{ bench = "terraform" }}
        }}""",
    "sns": """
        resource "aws_sns_topic" "t" {{
          count = {count}
          name  = "tf-bench-${{count.index}}"
          tags  = {{ bench = "terraform" }}
        }}""",
    "logs": """
        resource "aws_cloudwatch_log_group" "l" {{
          count             = {count}
          name              = "tf-bench-${{count.index}}"
          retention_in_days = 14
          tags              = {{ bench = "terraform" }}
        }}""",
}


def terraform_config(n: int, url: str, kinds: list[str]) -> str:
    return textwrap.dedent(f"""
        terraform {{
          required_providers {{
            aws = {{ source = "hashicorp/aws", version = "5.100.0" }}
          }}
        }}
        provider "aws" {{
          region                      = "us-east-1"
          access_key                  = "testing"
          secret_key                  = "testing"
          skip_credentials_validation = true
          skip_requesting_account_id  = true
          skip_metadata_api_check     = true
          s3_use_path_style           = true
          endpoints {{
            s3  = "{url}"
            ec2 = "{url}"
            sts = "{url}"
            iam = "{url}"
            sqs = "{url}"
            sns = "{url}"
            logs = "{url}"
          }}
        }}
    """) + "".join(textwrap.dedent(TERRAFORM[k].format(count=n // len(kinds))) for k in kinds) + "\n"


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    chosen = sys.argv[2] if len(sys.argv) > 2 else "s3,sg"
    kinds = list(RECONCILE) if chosen == "mixed" else chosen.split(",")
    work = Path(tempfile.mkdtemp(prefix="aws-bench-"))
    moto = MotoServer(work)
    try:
        os.environ.update(moto.env)
        spec = work / "spec"
        spec.mkdir()
        (spec / "site.yaml").write_text(reconcile_spec(n, moto.url, kinds))
        env = {**moto.env, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
        rec = [sys.executable, "-m", "reconciler"]
        first = timed(rec + ["apply", "--auto-approve", "--parallelism", "20", str(spec)], work, env)
        plan_s = min(timed(rec + ["plan", str(spec)], work, env) for _ in range(3))
        registry = Registry.builtin()
        v = validate(spec, registry)
        with SqliteStateStore.open_readonly(Session(spec).state_file) as store, TargetPool(v.spec, registry.target_factories()) as pool:
            plan = make_plan(v.spec, v.graph, registry, pool, store)
            calls = dict(pool.get("aws", "us-east-1").calls)
        assert not plan.actionable

        tf = work / "tf"
        tf.mkdir()
        (tf / "main.tf").write_text(terraform_config(n, moto.url, kinds))
        (work / "tf.rc").write_text('provider_installation {\n  filesystem_mirror {\n    path = "/opt/tf-plugins"\n  }\n}\n')
        tf_env = {"TF_CLI_CONFIG_FILE": str(work / "tf.rc"), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        terraform = shutil.which("terraform") or "/usr/local/bin/terraform"
        timed([terraform, "init", "-input=false"], tf, tf_env)
        tf_first = timed([terraform, "apply", "-auto-approve", "-input=false", "-parallelism=20"], tf, tf_env)
        tf_plan = min(timed([terraform, "plan", "-input=false", "-detailed-exitcode"], tf, tf_env) for _ in range(2))
    finally:
        moto.stop()
    print(f"{n} resources ({' + '.join(f'{n // len(kinds)} {k}' for k in kinds)}) on moto; seconds")
    print(f"{'':>22} {'first apply':>12} {'no-change plan':>15}")
    print(f"{'reconcile':>22} {first:>12.2f} {plan_s:>15.2f}")
    print(f"{'terraform':>22} {tf_first:>12.2f} {tf_plan:>15.2f}")
    print(f"no-change plan: reconcile is {tf_plan / plan_s:.1f}x faster than terraform plan")
    print(f"reconcile API calls per no-change plan: {sum(calls.values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))})")


if __name__ == "__main__":
    main()
