"""`plan --json-stream` and `apply --json`: one JSON object per line, a machine's view of a run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.conftest import Cli, write


def events(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is a JSON object, nothing else


def test_plan_and_apply_events(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "site.yaml", f"""
        name: events
        resources:
          - {{type: file, name: a, path: "{out}/a", content: "hello\\n"}}
          - {{type: command, name: c, command: "touch {out}/ran", creates: "{out}/ran", depends_on: [file.a]}}
          - {{type: command, name: bad, command: "exit 3", creates: "{out}/never"}}
        """)
    os.makedirs(out)
    plan = events(cli("plan", "--json-stream", "spec", check=0).out)
    assert [e["type"] for e in plan] == ["version", "planned", "planned", "planned", "summary"]
    planned = {e["change"]["address"]: e["change"] for e in plan if e["type"] == "planned"}
    assert planned["file.a"]["action"] == "create" and planned["command.c"]["verb"] == "run"
    assert plan[-1]["changes"]["add"] == 1 and plan[-1]["operation"] == "plan"
    assert all(e["timestamp"].endswith("Z") for e in plan)
    assert not (out / "a").exists()  # plan changed nothing

    assert "cannot ask for approval" in cli("apply", "--json", "spec", check=1).err
    run = cli("apply", "--json", "--auto-approve", "spec", check=1)
    applied = events(run.out)
    kinds = [e["type"] for e in applied]
    assert kinds[0] == "version" and kinds[-1] == "summary"
    started = [e["address"] for e in applied if e["type"] == "started"]
    completed = {e["address"]: e for e in applied if e["type"] == "completed"}
    failed = {e["address"]: e for e in applied if e["type"] == "failed"}
    assert sorted(started) == ["command.bad", "command.c", "file.a"]
    assert set(completed) == {"file.a", "command.c"} and set(failed) == {"command.bad"}
    assert "exit" in failed["command.bad"]["error"] or "3" in failed["command.bad"]["error"]
    assert kinds.index("started") < kinds.index("completed")
    assert applied.index(completed["file.a"]) < [e.get("address") for e in applied].index("command.c")
    assert applied[-1]["added"] == 1 and applied[-1]["failed"] == 1
    assert (out / "a").read_text() == "hello\n" and (out / "ran").exists()


def test_errors_are_events_too(cli: Cli, spec_dir: Path) -> None:
    write(spec_dir / "site.yaml", "resources:\n  - {type: file, name: a, path: 5}\n")
    run = cli("plan", "--json-stream", "spec", check=1)
    (version, diagnostic) = events(run.out)
    assert diagnostic["type"] == "diagnostic" and diagnostic["severity"] == "error"
    assert diagnostic["location"] == {"file": "spec/site.yaml", "line": 2, "column": 27}
    assert "spec/site.yaml:2:27: error:" in run.err  # people still read the error on stderr


def test_secrets_stay_masked_in_events(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    cli.env["DB_PASSWORD"] = "hunter2-very-secret"
    write(spec_dir / "site.yaml", f"""
        vars_from_env: [DB_PASSWORD]
        resources:
          - {{type: file, name: s, path: "{tmp_path}/s", content: "{{{{ env.DB_PASSWORD }}}}", sensitive: [content]}}
        """)
    for args in (("plan", "--json-stream"), ("apply", "--json", "--auto-approve")):
        run = cli(*args, "spec", check=0)
        assert "hunter2" not in run.out + run.err
        assert events(run.out)[-1]["type"] == "summary"
