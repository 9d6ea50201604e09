"""CLI conformance: options where DESIGN.md puts them, clear answers for what a user may type."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, write


def test_global_options_after_the_subcommand_and_limit_by_group(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "site.yaml", f"""name: cli
inventory:
  hosts:
    a: {{address: 127.0.0.1, port: 9}}
    b: {{address: 127.0.0.1, port: 9}}
  groups:
    web: [a, b]
vars: {{out: {json.dumps(str(out))}}}
resources:
  - {{type: file, name: here, path: "{{{{ out }}}}/here", content: "x\\n"}}
  - {{type: file, name: there, on: web, path: /tmp/there, content: "x\\n"}}
""")
    for args in (["plan", "spec", "--no-color", "--limit", "local"], ["--no-color", "plan", "--limit", "local", "spec"]):
        run = cli(*args)
        assert run.rc == 0 and "\x1b[" not in run.out and "+ file.here" in run.out and "there" not in run.out
    grouped = cli("plan", "--limit", "web", "spec")  # a group stands for its hosts (both unreachable here)
    assert grouped.rc == 1 and "file.there[a]" in grouped.out and "file.there[b]" in grouped.out
    assert "file.here" not in grouped.out
    unknown = cli("plan", "--limit", "nope", "spec")
    assert unknown.rc == 1 and "--limit names no host or target of the spec: nope" in unknown.err


def test_strict_validation_warns_about_a_spec_without_a_name(cli: Cli, spec_dir: Path) -> None:
    write(spec_dir / "site.yaml", "resources: []\n")
    run = cli("validate", "--strict", "spec")
    assert run.rc == 0 and "warning: the spec has no `name:`, so its stack identity is the default spec/default" \
        in run.out
    write(spec_dir / "site.yaml", "name: shop\nresources: []\n")
    assert "warning" not in cli("validate", "--strict", "spec", check=0).out

