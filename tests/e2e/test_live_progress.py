"""Progress for people on a terminal (rich bars, a per-target table), plain lines everywhere else."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

from reconciler.model import Action, Result, Status
from reconciler.report.live import per_target_table
from tests.conftest import ROOT, write

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def spec(spec_dir: Path, out: Path) -> None:
    write(spec_dir / "site.yaml", f"""
        name: live
        resources:
          - {{type: directory, name: d, path: "{out}"}}
          - {{type: file, name: a, path: "${{directory.d.path}}/a", content: "a"}}
          - {{type: command, name: slow, command: "sleep 1.2", creates: "{out}/never", depends_on: [file.a]}}
        """)


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return {**base, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "100", **extra}


def on_a_terminal(args: list[str], cwd: Path) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env(), stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("no output for 60 s")
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_a_terminal_gets_live_bars(spec_dir: Path, tmp_path: Path) -> None:
    spec(spec_dir, tmp_path / "out")
    raw = on_a_terminal(["apply", "--auto-approve", "spec"], spec_dir.parent)
    text = ANSI.sub("", raw)
    assert "Observing 1 target…" in text
    assert "Applying…" in text and re.search(r"\d/3", text)  # the bar counts the changes
    assert "file.a: Creating..." in text and "command.slow: Running..." in text
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed, 1 run." in text
    assert "\x1b[" in raw  # coloured


def test_pipes_and_logs_keep_plain_lines(spec_dir: Path, tmp_path: Path) -> None:
    spec(spec_dir, tmp_path / "out")
    run = subprocess.run([sys.executable, "-m", "reconciler", "apply", "--auto-approve", "spec"], cwd=spec_dir.parent,
                         env=env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "\x1b[" not in run.stdout and "Observing" not in run.stdout
    lines = [re.sub(r"after \d+\.\ds", "after Ns", line) for line in run.stdout.splitlines()]
    tail = lines[lines.index("directory.d: Creating..."):]
    assert tail == [
        "directory.d: Creating...",
        "directory.d: Creation complete after Ns",
        "file.a: Creating...",
        "file.a: Creation complete after Ns",
        "command.slow: Running...",
        "command.slow: Run complete after Ns",
        "",
        "Apply complete! Resources: 2 added, 0 changed, 0 destroyed, 1 run.",
    ]


def test_the_per_target_table() -> None:
    results = [Result("file.a[web1]", Action.CREATE, Status.OK), Result("file.a[web2]", Action.CREATE, Status.FAILED),
               Result("file.b[web2]", Action.CREATE, Status.SKIPPED), Result("file.c[web1]", Action.NOOP, Status.NOOP)]
    out = io.StringIO()
    per_target_table(results, {"file.a[web1]": "web1", "file.c[web1]": "web1", "file.a[web2]": "web2",
                               "file.b[web2]": "web2"}, out=out, width=60)
    assert [line.rstrip() for line in out.getvalue().splitlines()] == [
        "Per target",
        "┏━━━━━━━━┳━━━━┳━━━━━━━━┳━━━━━━━━━┓",
        "┃ target ┃ ok ┃ failed ┃ skipped ┃",
        "┡━━━━━━━━╇━━━━╇━━━━━━━━╇━━━━━━━━━┩",
        "│ web1   │  1 │      0 │       0 │",
        "│ web2   │  0 │      1 │       1 │",
        "└────────┴────┴────────┴─────────┘",
    ]
