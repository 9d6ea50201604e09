"""Validation for CI and editors: SARIF, --strict lint rules, schema export, pre-commit hooks, the docs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT, Cli, write

BAD = ROOT / "tests/bad_specs"
DOCS = ROOT / "docs/examples"


def test_sarif_output(cli: Cli) -> None:
    run = cli("validate", "--format", "sarif", str(BAD / "unknown_type.yaml"))
    assert run.rc == 1
    sarif = json.loads(run.out)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"] == "reconcile"
    (result,) = sarif["runs"][0]["results"]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (9, 5) and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("unknown_type.yaml")


def test_github_commands_follow_the_workflow_syntax(cli: Cli, tmp_path: Path) -> None:
    spec = write(tmp_path / "s, odd: name.yaml", "resources:\n  - {type: file, name: a, path: rel, mode: 644}\n")
    run = cli("validate", "--format", "github", str(spec))
    lines = run.out.splitlines()
    assert run.rc == 1 and len(lines) == 2
    for line in lines:  # ::error file=F,line=L,col=C::MESSAGE with F's ',' and ':' escaped, no raw newlines
        m = re.fullmatch(r"::error file=((?:[^,:%]|%2C|%3A|%25)+),line=(\d+),col=(\d+)::(.+)", line)
        assert m, line
        assert "%2C" in m.group(1) and "%3A" in m.group(1)


def test_strict_lint_rules(cli: Cli, tmp_path: Path) -> None:
    spec = write(tmp_path / "site.yaml", """
vars_from_env: [DB_PASSWORD]
resources:
  - {type: directory, name: app, path: /srv/app}
  - {type: file, name: loose, path: /srv/app/conf}
  - {type: file, name: tied, path: /srv/app/tied, depends_on: [directory.app]}
  - {type: file, name: ref, path: "${directory.app.path}/ref"}
  - type: docker.container
    name: web
    image: nginx:latest
    env: {DB_PASSWORD: hunter2, FROM_ENV_PASSWORD: "{{ env.DB_PASSWORD }}"}
  - {type: docker.image, name: base, image: debian}
  - {type: docker.image, name: pinned, image: "debian:12.5"}
""")
    assert cli("validate", str(spec)).rc == 0  # valid: the lint rules are opt-in
    run = cli("validate", "--strict", str(spec))
    assert run.rc == 1
    assert "file.loose writes under /srv/app, which directory.app manages, but does not depend on it" in run.out
    assert "file.tied" not in run.out and "file.ref" not in run.out
    assert "env.DB_PASSWORD looks like a secret written in clear" in run.out
    assert "FROM_ENV_PASSWORD" not in run.out
    assert "image 'nginx:latest' uses the latest tag" in run.out
    assert "image 'debian' uses the implicit latest tag" in run.out and "debian:12.5" not in run.out
    assert run.out.count("error:") == 4


def test_schema_export_validates_specs_in_editors(cli: Cli, tmp_path: Path) -> None:
    run = cli("schema", "export", "out", check=0)
    assert "# yaml-language-server: $schema=" in run.out
    schema = json.loads((tmp_path / "out/reconcile.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load((ROOT / "specs/examples/local/site.yaml").read_text())
    assert list(validator.iter_errors(good)) == []
    bad = {"resources": [{"type": "file", "name": "a", "path": "/x", "mode": 644},
                         {"type": "docker.container", "name": "c"}, {"type": "nope", "name": "n"}]}
    messages = " | ".join(e.message for e in validator.iter_errors(bad))
    assert "644 is not of type 'string'" in messages and "'image' is a required property" in messages
    assert "'nope' is not one of" in messages
    assert (tmp_path / "out/resources/docker.container.json").exists()


def test_pre_commit_hooks_definition(cli: Cli, tmp_path: Path) -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    assert by_id["reconcile-validate"]["entry"] == "reconcile validate"
    assert by_id["reconcile-validate"]["language"] == "python" and by_id["reconcile-validate"]["pass_filenames"]
    assert re.search(by_id["reconcile-validate"]["files"], "specs/site.yaml")
    # what pre-commit runs for two changed files: the entry with the file names appended
    run = cli("validate", str(ROOT / "specs/examples/local/site.yaml"), str(BAD / "cycle.yaml"))
    assert run.rc == 1 and "cycle.yaml:5:5" in run.out


def test_docs_examples_parse() -> None:
    workflow = yaml.safe_load((DOCS / "ci/github-actions.yml").read_text())
    assert set(workflow["jobs"]) == {"validate", "drift"}
    assert any("reconcile drift" in step.get("run", "") for step in workflow["jobs"]["drift"]["steps"])
    cron_line = [line for line in (DOCS / "cron/reconcile-drift").read_text().splitlines()
                 if line and not line.startswith("#") and "=" not in line.split()[0]]
    (entry,) = cron_line
    fields = entry.split(None, 6)
    assert all(re.fullmatch(r"[0-9*/,-]+", f) for f in fields[:5]) and fields[5] == "root"
    assert fields[6].startswith("flock -n ") and "reconcile drift" in fields[6]
    assert "pipeline" in (DOCS / "ci/Jenkinsfile").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_units_verify(tmp_path: Path) -> None:
    reconcile = shutil.which("reconcile") or "/bin/true"
    service = (DOCS / "systemd/reconcile-drift.service").read_text().replace("/usr/local/bin/reconcile", reconcile)
    (tmp_path / "reconcile-drift.service").write_text(service)
    shutil.copy(DOCS / "systemd/reconcile-drift.timer", tmp_path)
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "reconcile-drift.service"),
                           str(tmp_path / "reconcile-drift.timer")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
