"""Shared helpers: run the real `reconcile` command as a subprocess, write specs into temp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Cli:
    """Runs `python -m reconciler …` in a working directory, as a user would run `reconcile`."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}

    def __call__(self, *args: str, stdin: str | None = None, check: int | None = None) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", *map(str, args)], cwd=self.cwd, env=self.env,
            input=stdin if stdin is not None else "", capture_output=True, text=True, timeout=120,
        )
        run = Run(proc.returncode, proc.stdout, proc.stderr)
        if check is not None:
            assert run.rc == check, f"exit {run.rc}, wanted {check}:\n{run.text}"
        return run

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "reconciler", *args], cwd=self.cwd, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    d = tmp_path / "spec"
    d.mkdir()
    return d
