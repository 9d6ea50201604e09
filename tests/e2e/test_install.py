"""What users install, not the checkout: the sdist, the wheel built from it, installed (not editable) into a
fresh virtual environment, and a third-party plugin installed beside it. Every command here runs from that
environment's `bin/`, in a directory outside the checkout, with no PYTHONPATH."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, write

VERSION = re.search(r'^__version__ = "([^"]+)"', (ROOT / "reconciler/__init__.py").read_text(), re.M).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build`: the sdist, then the wheel built from the unpacked sdist (as a release is)."""
    source = tmp_path_factory.mktemp("source")
    # build from a copy of what git tracks plus the working tree's files, so build/ and egg-info stay out of ROOT
    shutil.copytree(ROOT, source / "reconcile", ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", ".ruff_cache", ".mypy_cache",
        ".hypothesis", ".reconcile", ".sandbox", "tests", "bench"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(source / "reconcile")], check=True,
                   capture_output=True, timeout=600)
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=300)
    wheel = next(dist.glob("*.whl"))
    subprocess.run([str(home / "bin/pip"), "install", "--quiet", str(wheel)], check=True, capture_output=True,
                   timeout=900)
    return home


def run(venv: Path, *args: str, cwd: Path, env: dict[str, str] | None = None, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ |= {"NO_COLOR": "1", "PATH": f"{venv / 'bin'}{os.pathsep}{environ.get('PATH', '')}", **(env or {})}
    done = subprocess.run([str(venv / "bin/reconcile"), *args], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=300)
    if check is not None:
        assert done.returncode == check, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    return done


def test_the_sdist_carries_a_rebuild_and_the_wheel_every_package(dist: Path) -> None:
    sdist = next(dist.glob("*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "MANIFEST.in",
                   "schemas/plan.json", "reconciler/spec/spec.json", "modules/server/file.json"):
        assert needed in names, f"the sdist lacks {needed}"

    wheel = next(dist.glob("*.whl"))
    assert wheel.name.startswith(f"reconcile_iac-{VERSION}-")
    with zipfile.ZipFile(wheel) as whl:
        inside = set(whl.namelist())
    packages = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("reconciler/**/__init__.py")}
    for init in (ROOT / "modules").glob("**/__init__.py"):
        below = init.parent.relative_to(ROOT / "modules")
        packages.add("reconcile_modules" if str(below) == "." else f"reconcile_modules/{below}")
    for package in packages:
        assert f"{package}/__init__.py" in inside, f"the wheel lacks the package {package}"
    data = {str(p.relative_to(ROOT)) for p in ROOT.glob("reconciler/**/*.json")}
    data |= {"reconcile_modules/" + str(p.relative_to(ROOT / "modules")) for p in (ROOT / "modules").glob("**/*.json")}
    assert data and not data - inside, f"the wheel lacks {sorted(data - inside)[:5]}"
    assert not any(n.startswith(("tests/", "modules/", "bench/")) for n in inside)


def test_every_command_answers_help_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    version = run(venv, "--version", cwd=tmp_path).stdout.strip()
    assert version == f"reconcile {VERSION}", version  # no commit: not a checkout

    # every command path, as the installed click tree lists them (the installed package, not the checkout)
    listing = subprocess.run(
        [str(venv / "bin/python"), "-c",
         "import click, json\nfrom reconciler.cli import cli\n"
         "def walk(cmd, path):\n"
         "    yield path\n"
         "    if isinstance(cmd, click.Group):\n"
         "        for name, sub in sorted(cmd.commands.items()):\n"
         "            yield from walk(sub, path + [name])\n"
         "print(json.dumps(list(walk(cli, []))))\n"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    paths = json.loads(listing.stdout)
    assert ["migrate", "terraform"] in paths and ["state", "list"] in paths and len(paths) > 30
    for path in paths:
        shown = run(venv, *path, "--help", cwd=tmp_path).stdout
        assert shown.startswith("Usage: reconcile"), (path, shown[:200])


def test_types_docs_schema_and_migrate_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    listed = run(venv, "types", "--json", cwd=tmp_path).stdout
    types = {t["type"]: t for t in json.loads(listed)}
    assert len(types) >= 63 and types["file"]["origin"] == f"reconcile-iac {VERSION}"
    assert "cannot be loaded" not in listed
    page = run(venv, "docs", "aws.security_group", cwd=tmp_path).stdout
    assert "ingress" in page
    run(venv, "schema", "export", str(tmp_path / "schemas"), cwd=tmp_path)
    whole = json.loads((tmp_path / "schemas/reconcile.schema.json").read_text())
    assert "aws.vpc" in json.dumps(whole)
    assert "terraform" in run(venv, "migrate", "--help", cwd=tmp_path).stdout


def test_the_local_example_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "specs/examples/local", tmp_path / "local")
    demo = tmp_path / "demo"
    demo.mkdir()
    env = {"DEMO_ROOT": str(demo)}
    assert "ok" in run(venv, "validate", "local", cwd=tmp_path, env=env).stdout
    planned = run(venv, "plan", "local", cwd=tmp_path, env=env).stdout
    assert "Plan:" in planned and "to add" in planned
    run(venv, "apply", "--auto-approve", "local", cwd=tmp_path, env=env)
    assert (demo / "etc/hello/config.yml").is_file()
    assert "No changes." in run(venv, "plan", "--detailed-exitcode", "local", cwd=tmp_path, env=env).stdout
    assert (tmp_path / "local/.reconcile").is_dir()


def test_a_third_party_plugin_beside_the_wheel(venv: Path, tmp_path: Path) -> None:
    source = tmp_path / "reconcile-hello"
    shutil.copytree(ROOT / "tests/plugins/reconcile-hello", source)  # pip builds in the source tree
    subprocess.run([str(venv / "bin/pip"), "install", "--quiet", "--no-deps", str(source)], check=True,
                   capture_output=True, timeout=300)
    try:
        listed = run(venv, "types", cwd=tmp_path).stdout
        assert any(line.split()[:3] == ["hello.greeting", "hello", "reconcile-hello"] for line in listed.splitlines())
        write(tmp_path / "spec/site.yaml", """
            name: hello
            resources:
              - {type: hello.greeting, name: world, who: World}
            """)
        board = tmp_path / "board"
        env = {"HELLO_BOARD": str(board)}
        run(venv, "apply", "--auto-approve", "spec", cwd=tmp_path, env=env)
        assert (board / "world.card").read_text() == "Hello, World!\n"
        assert "No changes." in run(venv, "plan", "spec", cwd=tmp_path, env=env).stdout
    finally:
        subprocess.run([str(venv / "bin/pip"), "uninstall", "--quiet", "--yes", "reconcile-hello"], check=True,
                       capture_output=True, timeout=300)
