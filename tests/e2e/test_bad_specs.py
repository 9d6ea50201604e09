"""The corpus of bad specs: each must fail with file:line and the expected message, never a traceback, and
change nothing. `# stage: plan` (or apply) marks problems only observation (or applying) can reveal: the
earlier commands pass, the later ones fail the same way."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import Cli

CORPUS = sorted((Path(__file__).parent.parent / "bad_specs").glob("*.yaml"))
STAGES = ("validate", "plan", "apply")


def expectation(spec: Path) -> tuple[str, int, str]:
    text = spec.read_bytes().decode("latin-1")
    message = re.search(r"^# expect: (.+)$", text, re.M)
    line = re.search(r"^# line: (\d+)$", text, re.M)
    stage = re.search(r"^# stage: (\w+)$", text, re.M)
    assert message and line, f"{spec.name} needs '# expect:' and '# line:' headers"
    return message.group(1), int(line.group(1)), stage.group(1) if stage else "validate"


@pytest.mark.parametrize("spec", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_spec_is_refused_with_its_location(spec: Path, tmp_path: Path) -> None:
    message, line, stage = expectation(spec)
    cli = Cli(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    cli.env["OUT"] = str(out)
    state = tmp_path / "state.db"
    commands = {"validate": ["validate", str(spec)], "plan": ["plan", "--state", str(state), str(spec)],
                "apply": ["apply", "--auto-approve", "--state", str(state), str(spec)]}
    for name in STAGES:
        run = cli(*commands[name])
        assert "Traceback" not in run.text, run.text
        if STAGES.index(name) < STAGES.index(stage):
            assert run.rc == 0, f"{name} should pass; the problem shows at {stage}:\n{run.text}"
            continue
        assert run.rc == 1, run.text
        assert f"{spec.name}:{line}:" in run.text, run.text
        assert message in run.text, run.text
    assert list(out.iterdir()) == []
    if stage != "apply":
        assert not state.exists()


def test_the_corpus_covers_the_required_cases() -> None:
    names = {p.stem for p in CORPUS}
    assert len(names) >= 40
    assert {"syntax_error", "wrong_type", "missing_field", "unknown_type", "duplicate", "unknown_reference",
            "cycle", "undefined_variable", "sandbox_escape", "alias_bomb", "template_outside_the_spec",
            "unknown_yaml_tag", "jinja_zero_division", "value_through_a_reference"} <= names


VAR_FILES = sorted((Path(__file__).parent.parent / "bad_specs/var_files").glob("*.yaml"))
GOOD = 'name: good\nvars_from_env: [OUT]\nvars: {x: 1}\nresources:\n  - {type: file, name: f, path: "{{ env.OUT }}/f", content: "{{ x }}"}\n'


@pytest.mark.parametrize("var_file", VAR_FILES, ids=[p.stem for p in VAR_FILES])
def test_bad_var_file_is_refused_at_its_own_line(var_file: Path, tmp_path: Path) -> None:
    message, line, _ = expectation(var_file)
    cli = Cli(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    cli.env["OUT"] = str(out)
    (tmp_path / "site.yaml").write_text(GOOD)
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        run = cli(*command, "--var-file", str(var_file), "site.yaml")
        assert run.rc == 1 and "Traceback" not in run.text, run.text
        assert f"{var_file.name}:{line}:" in run.text and message in run.text, run.text
        assert "site.yaml:1:" not in run.text  # never blamed on the spec
    assert not any(out.iterdir()) and not (tmp_path / ".reconcile").exists()


def test_a_fifo_or_a_device_as_a_var_file_never_hangs(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    (tmp_path / "site.yaml").write_text(GOOD.replace('"{{ env.OUT }}/f"', f'"{tmp_path}/f"'))
    os.mkfifo(tmp_path / "vars.yaml")
    for var_file in (str(tmp_path / "vars.yaml"), "/dev/zero"):
        run = cli("validate", "--var-file", var_file, "site.yaml")
        assert run.rc == 1 and "is not a regular file" in run.text, run.text
