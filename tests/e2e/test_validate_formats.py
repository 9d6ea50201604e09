from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import ROOT, Cli

BAD = ROOT / "tests/bad_specs"
GOOD = ROOT / "specs/examples/local"


def test_several_paths_text_format(cli: Cli) -> None:
    run = cli("validate", str(GOOD), str(BAD / "cycle.yaml"))
    assert run.rc == 1
    assert "cycle.yaml:5:5: error: dependency cycle" in run.out
    assert f"{GOOD}: ok" in run.out
    assert cli("validate", str(GOOD)).rc == 0


def test_json_format(cli: Cli) -> None:
    run = cli("validate", "--format", "json", str(BAD / "unknown_type.yaml"), str(GOOD))
    body = json.loads(run.out)
    assert run.rc == 1 and body["valid"] is False
    (error,) = body["errors"]
    assert error["file"].endswith("unknown_type.yaml") and error["line"] == 9 and error["col"] == 5
    assert error["path"] == "$.resources[1].type" and "flie" in error["message"]


def test_github_format_is_workflow_commands(cli: Cli) -> None:
    run = cli("validate", "--format", "github", str(BAD / "missing_field.yaml"))
    assert run.rc == 1
    line = run.out.strip()
    assert re.fullmatch(r"::error file=[^,:]+missing_field\.yaml,line=5,col=5::[^\n]+", line), line
    assert "\n" not in line


def test_junit_format_parses(cli: Cli, tmp_path: Path) -> None:
    run = cli("validate", "--format", "junit", str(BAD / "duplicate.yaml"), str(GOOD))
    root = ET.fromstring(run.out.split("?>", 1)[1])
    cases = root.findall(".//testcase")
    assert len(cases) == 2
    failures = root.findall(".//failure")
    assert len(failures) == 1 and "duplicate resource file.a" in (failures[0].text or "")


def test_validate_contacts_nothing(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "inventory:\n  hosts:\n    far: {address: 192.0.2.1, port: 22}\n"
        "resources:\n  - {type: file, name: a, on: far, path: /etc/x}\n"
    )
    run = cli("validate", str(spec))  # an unroutable host: validation must not try to reach it
    assert run.rc == 0, run.text


def test_every_example_spec_validates_as_in_ci(cli: Cli) -> None:
    examples = sorted(p for p in (ROOT / "specs/examples").iterdir() if p.is_dir())
    assert len(examples) >= 3
    run = cli("validate", *map(str, examples), "--strict")
    assert run.rc == 0, run.text
