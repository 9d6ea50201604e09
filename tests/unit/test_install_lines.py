"""Every documented way to install reconcile names our distribution, `reconcile-iac`, from a pinned source:
the PyPI name `reconcile` belongs to an unrelated project (a supply-chain trap)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*")), *sorted((ROOT / "specs").rglob("*.md"))]
PINNED = re.compile(r"reconcile-iac @ git\+https://\S+@[0-9a-f]{40}\b")


def install_lines() -> list[tuple[str, str]]:
    found = []
    for path in DOCUMENTS:
        if path.is_file() and path.suffix not in (".png", ".svg"):
            for line in path.read_text(errors="replace").splitlines():
                if re.search(r"\bpip3? install\b", line) or re.search(r"\bRECONCILE:\s", line):
                    found.append((str(path.relative_to(ROOT)), line.strip()))
    return found


def test_every_install_line_names_our_distribution_from_a_pinned_source() -> None:
    lines = install_lines()
    assert len(lines) >= 4  # the README, the drift guide, the GitHub and Jenkins examples
    for where, line in lines:
        assert not re.search(r"""pip3? install\s+(-\S+\s+)*["']?reconcile(?![-\w])""", line), (where, line)
        if "RECONCILE:" in line or "git+" in line:
            assert PINNED.search(line) or "<commit>" in line, (where, line)
        elif "reconcile" in line:
            assert "reconcile-iac" in line or "$RECONCILE" in line or "-e ." in line or "-e '." in line, (where, line)


def test_the_distribution_is_reconcile_iac_and_the_command_reconcile() -> None:
    from importlib.metadata import distribution

    dist = distribution("reconcile-iac")
    assert any(ep.name == "reconcile" and ep.group == "console_scripts" for ep in dist.entry_points)


def test_shell_completion() -> None:
    script = subprocess.run([sys.executable, "-m", "reconciler", "completion", "bash"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert script.returncode == 0 and "_RECONCILE_COMPLETE=bash_complete" in script.stdout
    asked = subprocess.run([sys.executable, "-m", "reconciler"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                           env={"_RECONCILE_COMPLETE": "bash_complete", "COMP_WORDS": "reconcile drift --for",
                                "COMP_CWORD": "2", "PATH": "/usr/bin:/bin"})
    assert "plain,--format" in asked.stdout.splitlines()
