"""Start-up stays light: printing the version or any help imports none of the engine and none of the heavy
libraries a command needs (checked in sys.modules of a fresh interpreter; timings are for `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("reconciler.engine", "networkx", "jsonschema", "rich", "boto3", "botocore", "paramiko", "docker",
         "distributed", "jinja2")

PROBE = """
import json, sys
from reconciler.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = json.loads(sys.stdin.read())
print(json.dumps(sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules))),
      file=sys.stderr)
"""


def imported_by(*args: str) -> list[str]:
    run = subprocess.run([sys.executable, "-c", PROBE, *args], input=json.dumps(HEAVY), capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    return list(json.loads(run.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("plan", "--help"), ("apply", "--help"),
                                  ("drift", "--help"), ("state", "--help"), ("migrate", "--help")])
def test_the_command_table_imports_nothing_heavy(args: tuple[str, ...]) -> None:
    assert imported_by(*args) == []


def test_a_command_that_needs_the_engine_imports_it() -> None:
    """The probe sees imports at all: validating a spec does load the engine's stages. A valid spec is
    checked by the compiled quick check alone; jsonschema comes in only to say where a spec is wrong."""
    imported = imported_by("validate", str(ROOT / "specs/examples/local"))
    assert "networkx" in imported and "reconciler.engine" in imported and "jsonschema" not in imported
    assert "jsonschema" in imported_by("validate", str(ROOT / "tests/bad_specs/bad_name.yaml"))
