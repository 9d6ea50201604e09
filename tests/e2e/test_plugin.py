"""A third-party plugin (tests/plugins/reconcile-hello) installed with pip beside reconcile: its resource
type and its target family work end to end, found through the same entry points as the built-in ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cli, write

PLUGIN = ROOT / "tests/plugins/reconcile-hello"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("plugin") / "reconcile-hello"
    shutil.copytree(PLUGIN, source)  # pip builds in the source tree: keep the repository's copy clean
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True, timeout=300)
    assert (site / "reconcile_hello/greeting.json").is_file()
    return site


@pytest.fixture
def hcli(cli: Cli, plugin_site: Path, tmp_path: Path) -> Cli:
    cli.env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{plugin_site}"
    cli.env["HELLO_BOARD"] = str(tmp_path / "board")
    return cli


def test_a_plugin_type_end_to_end(hcli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    board = tmp_path / "board"
    listed = hcli("types", check=0).out
    assert any(line.split()[:3] == ["hello.greeting", "hello", "reconcile-hello"] for line in listed.splitlines())
    assert {"type": "file", "origin": "reconcile-iac"}.items() <= {
        **next(t for t in json.loads(hcli("types", "--json", check=0).out) if t["type"] == "file"),
        "origin": "reconcile-iac"}.items()

    exported = hcli("schema", "export", str(tmp_path / "schemas"), check=0)
    assert "hello.greeting" in exported.out
    whole = json.loads((tmp_path / "schemas/reconcile.schema.json").read_text())
    assert "hello.greeting" in json.dumps(whole)

    write(spec_dir / "site.yaml", """
        name: hello
        resources:
          - {type: hello.greeting, name: world, who: World, punctuation: "?"}
        """)
    bad = hcli("validate", "spec", check=1)
    assert "spec/site.yaml:3:" in bad.out and "punctuation" in bad.out  # the plugin's own schema, at the line

    write(spec_dir / "site.yaml", """
        name: hello
        resources:
          - {type: hello.greeting, name: world, who: World}
          - {type: hello.greeting, name: team, who: "${hello.greeting.world.who} and team", punctuation: "."}
        """)
    assert hcli("validate", "spec", check=0).out.strip() == "spec: ok"
    plan = hcli("plan", "spec", check=0).out
    assert "+ hello.greeting.world" in plan and "Plan: 2 to add" in plan
    assert not board.exists()
    assert "2 added" in hcli("apply", "--auto-approve", "spec", check=0).out
    assert (board / "world.card").read_text() == "Hello, World!\n"
    assert (board / "team.card").read_text() == "Hello, World and team.\n"
    assert "No changes." in hcli("plan", "spec", check=0).out

    (board / "world.card").write_text("Hello, Nobody!\n")  # behind reconcile's back
    drift = hcli("plan", "spec", check=0).out
    assert "~ hello.greeting.world" in drift and "Nobody" in drift
    hcli("apply", "--auto-approve", "spec", check=0)
    assert (board / "world.card").read_text() == "Hello, World!\n"

    write(spec_dir / "site.yaml", """
        name: hello
        resources:
          - {type: hello.greeting, name: world, who: World}
        """)
    assert "1 destroyed" in hcli("apply", "--auto-approve", "spec", check=0).out
    assert not (board / "team.card").exists() and (board / "world.card").exists()


def test_a_plugin_family_declares_its_own_settings_block(hcli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    """`hello:` is the plugin family's block: checked against the schema the family declares, rendered, and
    handed to its targets; reconcile's own spec schema names no family."""
    write(spec_dir / "site.yaml", """
        name: hello
        hello:
          salutaton: Hi
        resources:
          - {type: hello.greeting, name: world, who: World}
        """)
    bad = hcli("validate", "spec", check=1)
    assert "spec/site.yaml:3:3:" in bad.out and "did you mean 'salutation'" in bad.out
    write(spec_dir / "site.yaml", """
        name: hello
        vars: {word: Hi}
        hello:
          salutation: "{{ word }}"
        resources:
          - {type: hello.greeting, name: world, who: World}
        """)
    assert "1 added" in hcli("apply", "--auto-approve", "spec", check=0).out
    assert (tmp_path / "board/world.card").read_text() == "Hi, World!\n"
    assert "No changes." in hcli("plan", "spec", check=0).out
    hcli("schema", "export", str(tmp_path / "schemas"), check=0)
    exported = json.loads((tmp_path / "schemas/reconcile.schema.json").read_text())
    assert "salutation" in json.dumps(exported["properties"]["hello"])


def test_without_the_plugin_the_type_is_unknown(cli: Cli, spec_dir: Path) -> None:
    write(spec_dir / "site.yaml", "resources:\n  - {type: hello.greeting, name: w, who: W}\n")
    run = cli("validate", "spec", check=1)
    assert "spec/site.yaml:2:" in run.out and "hello.greeting" in run.out


BROKEN_PLUGIN = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "reconcile-broken"
        version = "0.1.0"

        [project.entry-points."reconcile.modules"]
        "broken.missing" = "reconcile_broken.missing:MissingModule"
        "broken.schema" = "reconcile_broken.schema:SchemaModule"

        [project.entry-points."reconcile.targets"]
        brokenfam = "reconcile_broken.nowhere:family"

        [tool.setuptools]
        packages = ["reconcile_broken"]

        [tool.setuptools.package-data]
        reconcile_broken = ["*.json"]
        """,
    "reconcile_broken/__init__.py": "",
    "reconcile_broken/missing.py": "import reconcile_broken_dependency_that_is_not_installed  # noqa\n",
    "reconcile_broken/schema.py": """
        from reconciler.module import Module


        class SchemaModule(Module):
            type_name = "broken.schema"
            family = "brokenfam"
        """,
    "reconcile_broken/schema.json": '{"type": "objectish", "properties": {"x": {"type": 7}}}\n',
}


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("broken-site")
    source = tmp_path_factory.mktemp("broken") / "reconcile-broken"
    for name, text in BROKEN_PLUGIN.items():
        write(source / name, text)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True, timeout=300)
    return site


def test_a_broken_plugin_is_reported_once_and_everything_else_works(cli: Cli, broken_site: Path, spec_dir: Path,
                                                                     tmp_path: Path) -> None:
    cli.env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{broken_site}"
    listed = cli("types", check=0)
    rows = {line.split()[0]: line for line in listed.out.splitlines()}
    assert "cannot be loaded: ModuleNotFoundError" in rows["broken.missing"]
    assert "cannot be loaded: SchemaError" in rows["broken.schema"]
    assert "file" in rows and "aws.vpc" in rows
    assert listed.err.count("broken.missing") == 1 and listed.err.count("broken.schema") == 1, listed.err
    assert "brokenfam" not in listed.out

    assert "path" in cli("docs", "file", check=0).out
    assert "broken.missing" not in cli("docs", check=0).out
    shown = cli("docs", "broken.schema", check=1)
    assert "reconcile-broken 0.1.0" in shown.err and "SchemaError" in shown.err

    exported = cli("schema", "export", str(tmp_path / "schemas"), check=0)
    assert "broken." not in (tmp_path / "schemas/reconcile.schema.json").read_text() and "wrote" in exported.out

    write(spec_dir / "site.yaml", f"""
        name: fine
        resources:
          - {{type: file, name: f, path: "{tmp_path}/out/f.txt", content: "built-in types still work\\n"}}
        """)
    run = cli("validate", "spec", check=0)
    assert run.out.strip() == "spec: ok"
    cli("apply", "--auto-approve", "spec", check=0)
    assert (tmp_path / "out/f.txt").read_text() == "built-in types still work\n"

    write(spec_dir / "site.yaml", """
        resources:
          - {type: broken.missing, name: m}
        """)
    run = cli("validate", "spec", check=1)
    assert "spec/site.yaml:2:" in run.out and "reconcile-broken 0.1.0" in run.out and "ModuleNotFoundError" in run.out
    for out in (listed, shown, exported, run):
        assert "internal error" not in out.text and "Traceback" not in out.text
