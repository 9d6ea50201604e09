"""Terraform (the peer) against a moto endpoint: provider wiring shared by the comparison test and the
benchmark. Terraform and the AWS provider are on this machine (DESIGN.md section 4), nothing is downloaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

PROVIDER = """terraform {{
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
    s3       = "{url}"
    ec2      = "{url}"
    sts      = "{url}"
    iam      = "{url}"
    dynamodb = "{url}"
    rds      = "{url}"
    sqs      = "{url}"
    sns      = "{url}"
    lambda   = "{url}"
    logs     = "{url}"
    cloudwatch  = "{url}"
    autoscaling = "{url}"
    elbv2    = "{url}"
    route53  = "{url}"
    acm      = "{url}"
    kms      = "{url}"
    events   = "{url}"
  }}
}}
"""


def terraform() -> str | None:
    return shutil.which("terraform") or ("/usr/local/bin/terraform" if Path("/usr/local/bin/terraform").exists()
                                         else None)


class TerraformDir:
    """A Terraform working directory with the provider pointed at `url`."""

    def __init__(self, directory: Path, url: str, config: str):
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "main.tf").write_text(PROVIDER.format(url=url) + config)
        rc = directory / "tf.rc"
        rc.write_text('provider_installation {\n  filesystem_mirror {\n    path = "/opt/tf-plugins"\n  }\n}\n')
        self.env = {**os.environ, "TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        self.binary = terraform() or "terraform"

    def run(self, *args: str, ok: tuple[int, ...] = (0,)) -> float:
        """Run `terraform ARGS`; the seconds it took."""
        started = time.perf_counter()
        proc = subprocess.run([self.binary, *args], cwd=self.dir, env=self.env, capture_output=True, text=True)
        if proc.returncode not in ok:
            raise RuntimeError(f"terraform {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return time.perf_counter() - started

    def init(self) -> None:
        self.run("init", "-input=false")

    def apply(self, parallelism: int = 10) -> float:
        return self.run("apply", "-auto-approve", "-input=false", f"-parallelism={parallelism}")

    def plan(self) -> float:
        return self.run("plan", "-input=false", "-detailed-exitcode", ok=(0, 2))

    def destroy(self) -> None:
        self.run("destroy", "-auto-approve", "-input=false")
