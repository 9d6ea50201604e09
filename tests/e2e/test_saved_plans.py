"""Saved plans are self-contained and never surprise: a plan records its selection (--target, --exclude,
--limit, --no-prune) and the command line's variables, applies on its own, and refuses flags that would
change it; --out, --html and --output never write over a file the spec reads. On real local files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Cli, write

SPEC = """name: saved
vars: {greeting: hello}
resources:
  - {type: file, name: a, path: "OUT/a", content: "{{ greeting }} a\\n"}
  - {type: file, name: b, path: "OUT/b", content: "{{ greeting }} b\\n"}
"""


@pytest.fixture
def out(spec_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    write(spec_dir / "site.yaml", SPEC.replace("OUT", str(out)))
    return out


def test_a_saved_plan_keeps_its_selection_and_refuses_other_flags(cli: Cli, spec_dir: Path, out: Path) -> None:
    cli("plan", "spec", "--target", "file.a", "--out", "a.plan", check=0)
    saved = json.loads((cli.cwd / "a.plan").read_text())
    assert saved["selection"]["targets"] == ["file.a"] and os.stat(cli.cwd / "a.plan").st_mode & 0o777 == 0o600
    for flags in (["--target", "file.b"], ["--no-prune"], ["--exclude", "file.a"], ["--limit", "local"],
                  ["--var", "greeting=bye"]):
        refused = cli("apply", "a.plan", *flags, check=1)
        assert refused.err.startswith("Error: ") and "cannot be given with a saved plan" in refused.err, refused.err
        assert len(refused.err.strip().splitlines()) == 1
    assert not any(out.iterdir())
    cli("apply", "a.plan", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["a"]  # only what the plan selected

    cli("plan", "spec", "--exclude", "file.a", "--out", "b.plan", check=0)
    cli("apply", "b.plan", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]


def test_a_saved_plan_with_a_var_file_applies_on_its_own(cli: Cli, spec_dir: Path, out: Path, tmp_path: Path) -> None:
    varfile = write(tmp_path / "prod.yaml", "greeting: bonjour\n")
    cli("plan", "spec", "--var-file", str(varfile), "--var", "extra=1", "--out", "p.plan", check=0)
    varfile.unlink()  # the plan does not need it any more
    applied = cli("apply", "p.plan", check=0)
    assert "stale" not in applied.text and "spec changed" not in applied.text
    assert (out / "a").read_text() == "bonjour a\n"
    assert "No changes." in cli("plan", "spec", "--var", "greeting=bonjour", check=0).out


def test_a_plan_made_in_one_workspace_is_not_applied_in_another(cli: Cli, spec_dir: Path, out: Path) -> None:
    cli("plan", "spec", "--workspace", "staging", "--out", "s.plan", check=0)
    refused = cli("apply", "s.plan", "--workspace", "prod", check=1)
    assert "made in workspace staging" in refused.err
    cli("apply", "s.plan", check=0)
    assert (out / "a").exists()


@pytest.mark.parametrize("command", [["plan", "--out"], ["plan", "--html"], ["drift", "--output"],
                                     ["drift", "--html"], ["graph", "--output"]])
@pytest.mark.parametrize("victim", ["spec/site.yaml", "spec/vars/default.yaml", "spec/templates/motd.j2",
                                    "spec/files/conf/app.conf"])
def test_outputs_never_overwrite_what_the_spec_reads(cli: Cli, spec_dir: Path, out: Path, command: list[str],
                                                     victim: str) -> None:
    write(spec_dir / "vars/default.yaml", "greeting: hi\n")
    write(spec_dir / "templates/motd.j2", "{{ greeting }} from the template\n")
    write(spec_dir / "files/conf/app.conf", "key = value\n")
    write(spec_dir / "more.yaml", f"""resources:
  - {{type: file, name: motd, path: "{out}/motd", template: templates/motd.j2}}
  - {{type: copy, name: conf, src: files/conf, dest: "{out}/conf"}}
""")
    before = {p: p.read_bytes() for p in spec_dir.rglob("*") if p.is_file()}
    run = cli(*command[:1], "spec", *command[1:], victim, check=1)
    assert f"refusing to write {victim}: the spec reads that file" in run.err, run.err
    assert {p: p.read_bytes() for p in spec_dir.rglob("*") if p.is_file()} == before
    assert not any(out.iterdir())
