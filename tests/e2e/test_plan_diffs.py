"""Readable plans: a changed text file shows a unified diff of its content (read from the real SSH host),
binary and large files their sizes and digests, sensitive ones nothing but `(sensitive)`; `--diff-context`
and `--diff-lines` shape it; a saved plan shows it again (`reconcile show FILE`) and carries it in JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli, SSHFleet, write


@pytest.fixture
def scli(cli: Cli) -> Cli:
    cli.env["HOME"] = str(cli.cwd)
    return cli


def test_plan_shows_what_a_file_change_does_to_its_content(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet,
                                                           uid: str) -> None:
    h0 = ssh_hosts.hosts[0]
    base = f"/srv/{uid}"
    old = "".join(f"line {i}\n" for i in range(1, 21))
    new = old.replace("line 10\n", "line ten\n")
    h0.exec(f"mkdir -p {base} && printf '%s' '{old}' > {base}/app.conf && head -c 200 /dev/urandom > {base}/blob"
            f" && seq 1 20000 > {base}/big && echo hunter1 > {base}/secret")
    big = "".join(f"{i}\n" for i in range(1, 20001)).replace("\n777\n", "\nseven\n")
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"""
resources:
  - {{type: file, name: conf, on: h0, path: {base}/app.conf, content: {json.dumps(new)}}}
  - {{type: file, name: blob, on: h0, path: {base}/blob, content: "text now\\n"}}
  - {{type: file, name: big, on: h0, path: {base}/big, content: {json.dumps(big)}}}
  - {{type: file, name: secret, on: h0, path: {base}/secret, content: "hunter2\\n", sensitive: [content]}}
  - {{type: file, name: fresh, on: h0, path: {base}/fresh, content: "a\\nb\\n"}}
""")
    plan = scli("plan", "spec", "--out", "saved.plan", check=0).out
    block = plan.split("~ file.conf  (path ", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
    assert block.splitlines()[1:] == [
        f"        --- {base}/app.conf (on h0)",
        f"        +++ {base}/app.conf (the spec)",
        "        @@ -7,7 +7,7 @@",
        "         line 7",
        "         line 8",
        "         line 9",
        "        -line 10",
        "        +line ten",
        "         line 11",
        "         line 12",
        "         line 13",
    ], block
    assert "content (binary): 200 bytes (sha256:" in plan and "-> 9 bytes (sha256:" in plan
    assert "content (too large to show): 108894 bytes" in plan
    secret_block = plan.split("~ file.secret  (path ", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
    assert "(sensitive)" in secret_block and "hunter" not in plan and "@@" not in secret_block
    assert "--- /dev/null" in plan and "        +a\n        +b\n" in plan

    narrow = scli("plan", "spec", "--diff-context", "0", check=0).out
    assert "@@ -10 +10 @@\n         -line 10\n         +line ten\n".replace("\n         ", "\n        ") in narrow
    short = scli("plan", "spec", "--diff-lines", "3", check=0).out
    assert "        ... 8 more lines of diff (--diff-lines 11 shows them)" in short
    assert "@@" not in scli("plan", "spec", "--diff-lines", "0", check=0).out

    # the saved plan shows the same again, without contacting the host, and carries the diffs in its JSON
    h0.container.pause()
    try:
        shown = scli("show", "saved.plan", check=0).out
    finally:
        h0.container.unpause()
    assert block in shown and "Plan: 1 to add, 4 to change, 0 to destroy." in shown
    changes = {c["address"]: c for c in json.loads(scli("show", "saved.plan", "--json", check=0).out)["changes"]}
    assert "-line 10\n+line ten\n" in changes["file.conf"]["content_diff"]
    assert changes["file.secret"]["content_diff"] is None
    as_json = {c["address"]: c for c in json.loads(scli("plan", "spec", "--json", check=0).out)["changes"]}
    assert as_json["file.conf"]["content_diff"] == changes["file.conf"]["content_diff"]

    scli("apply", "saved.plan", check=0)
    assert h0.exec(f"cat {base}/app.conf")[1] == new
    assert "No changes." in scli("plan", "spec", check=0).out
