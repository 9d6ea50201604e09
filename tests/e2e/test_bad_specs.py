"""The corpus of bad specs: each must fail with file:line and the expected message, and change nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Cli

CORPUS = sorted((Path(__file__).parent.parent / "bad_specs").glob("*.yaml"))


def expectation(spec: Path) -> tuple[str, int]:
    text = spec.read_text()
    message = re.search(r"^# expect: (.+)$", text, re.M)
    line = re.search(r"^# line: (\d+)$", text, re.M)
    assert message and line, f"{spec.name} needs '# expect:' and '# line:' headers"
    return message.group(1), int(line.group(1))


@pytest.mark.parametrize("spec", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_spec_is_refused_with_its_location(spec: Path, tmp_path: Path) -> None:
    message, line = expectation(spec)
    cli = Cli(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    cli.env["OUT"] = str(out)
    validated = cli("validate", str(spec))
    assert validated.rc == 1, validated.text
    assert f"{spec.name}:{line}:" in validated.text, validated.text
    assert message in validated.text, validated.text

    state = tmp_path / "state.db"
    for command in (["plan"], ["apply", "--auto-approve"]):
        run = cli(*command, "--state", str(state), str(spec))
        assert run.rc == 1, run.text
        assert f"{spec.name}:{line}:" in run.err and message in run.err, run.text
    assert list(out.iterdir()) == [] and not state.exists()


def test_the_corpus_covers_the_required_cases() -> None:
    names = {p.stem for p in CORPUS}
    assert {"syntax_error", "wrong_type", "missing_field", "unknown_type", "duplicate", "unknown_reference",
            "cycle", "undefined_variable", "sandbox_escape"} <= names
