"""The HTML drift report and plan page, opened in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import Cli, write

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
SECRET = "s3cr3t-token-value-1234"


def browse(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is not installed (make test installs it)"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=120)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.fixture
def drifted(cli: Cli, spec_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    cli.env["API_TOKEN"] = SECRET
    write(spec_dir / "site.yaml", f"""
        name: report
        vars_from_env: [API_TOKEN]
        resources:
          - {{type: directory, name: d, path: "{out}"}}
          - {{type: file, name: conf, path: "${{directory.d.path}}/app.conf", content: "port = 80\\n"}}
          - {{type: file, name: token, path: "${{directory.d.path}}/token", content: "{{{{ env.API_TOKEN }}}}",
              sensitive: [content]}}
          - {{type: file, name: gone, path: "${{directory.d.path}}/gone", content: "x"}}
        """)
    cli("apply", "--auto-approve", "spec", check=0)
    cli("drift", "spec", check=0)  # a first, clean run for the history
    (out / "app.conf").write_text("port = 81\n")
    (out / "token").write_text("changed")
    (out / "gone").unlink()
    return out


def test_the_drift_page_renders_and_matches_the_json_report(cli: Cli, spec_dir: Path, tmp_path: Path,
                                                            drifted: Path) -> None:
    page = tmp_path / "drift.html"
    cli("drift", "spec", "--format", "html", "--output", str(page), check=2)
    source = page.read_text()
    assert SECRET not in source
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", source)  # nothing fetched from the network
    expected = json.loads(cli("drift", "spec", "--format", "json", check=2).out)["counts"]

    shown = browse(page.as_uri(), "--dump-dom")
    assert 'data-ready="1"' in shown.stdout, shown.stderr[-2000:]  # the script ran to its end
    assert not console_errors(shown.stderr)
    counts = {k: int(n) for k, n in re.findall(r'data-kind="(\w+)">(\d+)<', shown.stdout)}
    assert counts == expected and counts["drifted"] == 2 and counts["missing"] == 1
    graph = shown.stdout[shown.stdout.index('id="graph"'):]
    assert "<svg" in graph and "file.conf" in graph and "directory.d" in graph
    assert 'id="sparkline"' in shown.stdout and "last 2 runs" in shown.stdout
    assert "(sensitive)" in shown.stdout and SECRET not in shown.stdout
    # a file rewritten by hand: the line-by-line difference, read from the host for the page only
    assert '<span class="del">-port = 81</span>' in shown.stdout and '<span class="add">+port = 80</span>' in shown.stdout
    assert "-changed" not in shown.stdout  # never for a sensitive file
    only_missing = browse(page.as_uri() + "#cls=missing", "--dump-dom").stdout
    rows = re.findall(r'<tr data-family="server" data-target="local" data-cls="(\w+)"( class="hidden")?', only_missing)
    assert sorted(rows) == [("drifted", ' class="hidden"'), ("drifted", ' class="hidden"'), ("missing", "")]

    shot = tmp_path / "drift.png"
    browse(page.as_uri(), "--window-size=1200,1400", f"--screenshot={shot}")
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000


def test_the_plan_page(cli: Cli, spec_dir: Path, tmp_path: Path, drifted: Path) -> None:
    page = tmp_path / "plan.html"
    cli("plan", "spec", "--html", str(page), check=0)
    shown = browse(page.as_uri(), "--dump-dom")
    assert 'data-ready="1"' in shown.stdout and not console_errors(shown.stderr)
    counts = {k: int(n) for k, n in re.findall(r'data-kind="(\w+)">(\d+)<', shown.stdout)}
    assert counts["update"] == 2 and counts["create"] == 1
    assert '<span class="add">+port = 80</span>' in shown.stdout
    assert SECRET not in page.read_text()
