"""Crashes and damage: a killed apply is recorded as interrupted and the next apply converges; a damaged
state (corrupt, truncated, empty, unreadable) is a clear error, never a traceback or an empty state, and a
backup taken before the last write restores it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import Cli, state_path, write


def spec(spec_dir: Path, out: Path, extra: str = "") -> None:
    write(spec_dir / "site.yaml", f"""name: crash
vars: {{out: {json.dumps(str(out))}}}
resources:
  - {{type: directory, name: d, path: "{{{{ out }}}}/d"}}
  - {{type: file, name: a, path: "${{directory.d.path}}/a", content: "a\\n"}}
  - {{type: command, name: slow, command: "sleep 30 && touch {{{{ out }}}}/slow-done", creates: "{{{{ out }}}}/slow-done",
      depends_on: [file.a]}}
  - {{type: file, name: z, path: "{{{{ out }}}}/z", content: "z\\n", depends_on: [command.slow]}}
{extra}""")


def test_a_killed_apply_is_interrupted_and_the_next_one_converges(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec(spec_dir, out)
    proc = cli.popen("apply", "--auto-approve", "spec")
    assert proc.stdout is not None
    deadline = time.time() + 60
    seen = ""
    while "command.slow: Running..." not in seen:
        line = proc.stdout.readline()
        seen += line
        assert line and time.time() < deadline, seen
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup, no finish_run
    proc.wait(10)
    subprocess.run(["pkill", "-f", f"touch {out}/slow-done"], check=False)
    assert (out / "d" / "a").read_text() == "a\n" and not (out / "z").exists()

    history = cli("history", "--spec", "spec", check=0).out
    assert " interrupted " in history
    with_state = cli("state", "list", "--spec", "spec", check=0).out.split()
    assert "file.a" in with_state and "file.z" not in with_state  # what completed was recorded

    spec(spec_dir, out)
    write(spec_dir / "site.yaml", (spec_dir / "site.yaml").read_text().replace("sleep 30 && ", ""))
    cli("apply", "--auto-approve", "spec", check=0)
    assert (out / "z").read_text() == "z\n"
    assert cli("plan", "--detailed-exitcode", "spec").rc == 0
    runs = cli("history", "--spec", "spec", check=0).out.splitlines()
    assert " ok " in runs[0] and " interrupted " in runs[1]  # the record stayed "interrupted" for good


def test_damaged_states_are_errors_and_backups_restore_them(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec(spec_dir, out)
    write(spec_dir / "site.yaml", (spec_dir / "site.yaml").read_text().replace("sleep 30 && ", ""))
    cli("apply", "--auto-approve", "spec", check=0)
    write(spec_dir / "site.yaml", (spec_dir / "site.yaml").read_text().replace('"z\\n"', '"zz\\n"'))
    cli("apply", "--auto-approve", "spec", check=0)  # a second write: the state before it was backed up
    state = state_path(spec_dir)
    good = state.read_bytes()
    for suffix in ("-wal", "-shm"):
        Path(str(state) + suffix).unlink(missing_ok=True)

    for damage, expected in ((b"", "is empty (0 bytes)"), (b"garbage" * 100, "cannot be read as a reconcile state"),
                             (good[: len(good) // 3], "cannot be read as a reconcile state")):
        state.write_bytes(damage)
        for command in (["plan", "spec"], ["apply", "--auto-approve", "spec"], ["state", "list", "--spec", "spec"],
                        ["history", "--spec", "spec"], ["drift", "spec"]):
            run = cli(*command)
            assert run.rc == 1 and "Traceback" not in run.text, run.text
            assert expected in run.err and "reconcile state versions" in run.err, run.text
        assert state.read_bytes() == damage  # nothing was written over it

    versions = cli("state", "versions", "--spec", "spec", check=0).out.splitlines()
    assert versions[0].startswith("current") and len(versions) >= 2
    backup = versions[1].split()[0]
    cli("state", "restore", backup, "--yes", "--spec", "spec", check=0)
    assert "file.z" in cli("state", "list", "--spec", "spec", check=0).out
    assert "No changes." in cli("plan", "spec", check=0).out  # a working state again (the world did not change)
    assert cli("apply", "--auto-approve", "spec").rc == 0


def test_unreadable_and_misplaced_states_are_clear_errors(cli: Cli, tmp_path: Path) -> None:
    shared = Path("/tmp") / f"reconcile-crash-{os.getpid()}-{time.time_ns()}"
    try:
        (shared / "spec").mkdir(parents=True)
        shared.chmod(0o755)
        (shared / "spec").chmod(0o755)
        write(shared / "spec" / "site.yaml", "name: x\nresources: []\n")
        (shared / "spec" / "site.yaml").chmod(0o644)
        state = shared / "state.db"
        state.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
        state.chmod(0o000)
        env = {**cli.env, "HOME": str(shared)}
        run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", cli.python, "-m",
                              "reconciler", "plan", "--state", str(state), str(shared / "spec")],
                             env=env, cwd=shared, capture_output=True, text=True, timeout=60)
        assert run.returncode == 1 and "Traceback" not in run.stderr + run.stdout
        assert f"cannot read the state {state}: permission denied" in run.stderr
    finally:
        shutil.rmtree(shared, ignore_errors=True)

    spec_dir = tmp_path / "spec"
    write(spec_dir / "site.yaml", "name: x\nresources: []\n")
    (tmp_path / "a-dir").mkdir()
    for args, expected in (
        (["plan", "--state", str(tmp_path / "a-dir"), "spec"], "is a directory"),
        (["plan", "--out", str(tmp_path / "missing" / "p.json"), "spec"], "cannot write"),
        (["drift", "--output", str(tmp_path / "missing" / "d.txt"), "spec"], "cannot write"),
        (["schema", "export", "/proc/reconcile-schemas"], "cannot write the schemas"),
        (["history", "--spec", "spec"], "no state found for workspace default: looked for"),
        (["state", "list", "--spec", "spec"], "no state found for workspace default: looked for"),
        (["apply", "--auto-approve", str(tmp_path / "a-dir" / "p.json")], "does not exist"),
    ):
        run = cli(*args)
        assert run.rc == 1 and "Traceback" not in run.text and expected in run.text, (args, run.text)
    (tmp_path / "bad.json").write_text('{"kind": "reconcile-plan", "spec_hash": 1}')
    run = cli("apply", str(tmp_path / "bad.json"))
    assert run.rc == 1 and "the saved plan" in run.err and "is damaged" in run.err


def test_kill_9_mid_apply_never_turns_created_objects_into_found_ones(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    """A for_each apply of a few hundred files killed (SIGKILL) at random points, again and again: whatever the
    killed runs made is still recorded as created, never as found, so that a later prune removes it all."""
    import random
    import sqlite3

    out = tmp_path / "out"
    out.mkdir()
    count = 300
    write(spec_dir / "site.yaml", f"""name: crash9
resources:
  - type: file
    name: f
    count: {count}
    path: "{out}/f{{{{ count.index }}}}"
    content: "{{{{ count.index }}}}\\n"
""")
    rng = random.Random(9)
    killed = 0
    for _ in range(6):
        made = len(made_files(out))
        if made >= count:
            break
        goal = made + rng.randint(1, max(1, (count - made) // 2))
        proc = subprocess.Popen([cli.python, "-m", "reconciler", "apply", "--auto-approve", "--parallelism", "2",
                                 "spec"], cwd=cli.cwd, env=cli.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while proc.poll() is None and len(made_files(out)) < goal and time.time() < deadline:
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(30)
        state = state_path(spec_dir)
        if state.exists():
            with sqlite3.connect(state) as db:
                found = [a for (a,) in db.execute("SELECT address FROM resources WHERE origin = 'found'")]
            assert not found, f"objects reconcile made are recorded as found: {found[:5]}"
    assert killed >= 2, "the applies finished before they could be killed"
    plan = cli("plan", "spec", check=0).out
    assert "stopped before it recorded the outcome" in plan or "to add" in plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert len(made_files(out)) == count
    listed = cli("state", "list", "--spec", "spec", check=0).out.splitlines()
    assert len(listed) == count and not [line for line in listed if "(found)" in line]
    assert "No changes." in cli("plan", "spec", check=0).out  # the journal settled

    write(spec_dir / "site.yaml", "name: crash9\nresources: []\n")
    cli("apply", "--auto-approve", "spec", check=0)
    assert not made_files(out), "a file reconcile made was left behind as found"


def test_a_lost_state_is_rebuilt_and_written_by_a_no_change_apply(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write(spec_dir / "site.yaml", f'name: lost\nresources:\n  - {{type: file, name: f, path: "{out}/f", content: "f\\n"}}\n')
    cli("apply", "--auto-approve", "spec", check=0)
    state = state_path(spec_dir)
    shutil.rmtree(state.parent)  # the state is lost; the file stays
    cli("apply", "--auto-approve", "spec", check=0)  # nothing to change, but the state is written again
    assert state.exists() and cli("state", "list", "--spec", "spec", check=0).out.split() == ["file.f", "(found)"]


def made_files(out: Path) -> list[Path]:
    """The files of the spec (a write killed midway leaves only its own `.reconcile.*` temporary file)."""
    files = list(out.iterdir())
    assert all(p.name.startswith(("f", ".reconcile.")) for p in files), files
    return [p for p in files if not p.name.startswith(".")]
