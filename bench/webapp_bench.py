"""The web-app example (specs/examples/webapp: 35 objects of 25 types) against a moto server: reconcile's
no-change plan (time and API calls per type) next to `terraform plan` of a port of the same estate to
Terraform (bench/webapp.tf) on the same endpoint, in the same run. Both leave out the database (see
without_database).

Usage: python bench/webapp_bench.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from aws_bench import timed  # noqa: E402

from tests.harness.moto import MotoServer  # noqa: E402
from tests.harness.terraform import TerraformDir  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="webapp-bench-"))
    moto = MotoServer(work)
    try:
        os.environ.update(moto.env)
        import boto3

        image = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url).describe_images(
            Owners=["amazon"])["Images"][0]["ImageId"]
        spec = work / "webapp"
        shutil.copytree(ROOT / "specs/examples/webapp", spec)
        site = spec / "site.yaml"
        site.write_text(without_database(site.read_text().replace("http://127.0.0.1:5000", moto.url)))
        env = {**moto.env, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "DB_PASSWORD": "changeme1"}
        rec = [sys.executable, "-m", "reconciler", "--workspace", "bench", "--var", f"image={image}"]
        first = timed(rec + ["apply", "--auto-approve", str(spec)], work, env)
        plan_s = min(timed(rec + ["plan", "--detailed-exitcode", str(spec)], work, env) for _ in range(3))
        calls = in_process_calls(spec, image, env)

        tf = TerraformDir(work / "tf", moto.url, (ROOT / "bench/webapp.tf").read_text())
        with zipfile.ZipFile(tf.dir / "nightly.zip", "w") as z:
            z.write(spec / "functions/nightly/main.py", "main.py")
        tf.env["TF_VAR_image"] = image
        tf.init()
        tf_first = tf.apply()
        tf_plan = min(tf.plan() for _ in range(2))
        objects = subprocess.run([tf.binary, "state", "list"], cwd=tf.dir, env=tf.env, capture_output=True,
                                 text=True).stdout.split()
    finally:
        moto.stop()
    print(f"the web-app example without its database on moto (reconcile: 34 objects; terraform: {len(objects)} "
          "resources); seconds")
    print(f"{'':>12} {'first apply':>12} {'no-change plan':>15}")
    print(f"{'reconcile':>12} {first:>12.2f} {plan_s:>15.2f}")
    print(f"{'terraform':>12} {tf_first:>12.2f} {tf_plan:>15.2f}")
    print(f"no-change plan: reconcile is {tf_plan / plan_s:.1f}x faster than terraform plan")
    print(f"reconcile API calls per no-change plan: {sum(calls.values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))})")


def without_database(text: str) -> str:
    """The example without its RDS instance: the AWS provider reads a DB instance back by its resource id
    (filter dbi-resource-id), which moto does not answer, so Terraform cannot apply one here; both tools
    are measured without it."""
    head, rest = text.split("  - type: aws.rds_instance\n", 1)
    tail = rest[rest.index("  - type: aws.s3_bucket\n"):]
    return "\n".join(line for line in (head + tail).splitlines() if not line.startswith("  database:")) + "\n"


def in_process_calls(spec: Path, image: str, env: dict[str, str]) -> dict[str, int]:
    """The API calls of one no-change plan, counted by the session's client hooks."""
    from reconciler.engine.session import Session
    from reconciler.model import Selection
    from reconciler.spec.variables import VarOverrides

    os.environ.update(env)
    session = Session(spec, workspace="bench", var_overrides=VarOverrides((), {"image": image}))
    validated = session.validate()
    with session.state() as store, session.targets() as pool:
        plan = session.make_plan(validated, pool, store, Selection())  # noqa: SLF001 - the pool's counters
        assert not plan.actionable, [c.address for c in plan.actionable]
        return dict(pool.get("aws", "us-east-1").calls)


if __name__ == "__main__":
    main()
