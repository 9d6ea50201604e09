"""A host's ready changes travel in one exchange (engine/write_batch.py), and still fail one at a time:
a change that fails reports its own error, and the others of its batch are made."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import Cli, write


def spec(spec_dir: Path, out: Path, resources: str) -> None:
    write(spec_dir / "site.yaml", f"vars:\n  out: {json.dumps(str(out))}\nresources:\n{resources}")


def test_one_failing_change_fails_alone_and_the_rest_of_its_batch_is_made(cli: Cli, spec_dir: Path,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "blocker").write_text("a file where a directory is expected\n")
    spec(spec_dir, out, """
  - {type: file, name: a, path: "{{ out }}/a.conf", content: "a\\n", mode: "0640"}
  - {type: file, name: bad, path: "{{ out }}/blocker/b.conf", content: "b\\n"}
  - {type: directory, name: d, path: "{{ out }}/d", mode: "0700"}
  - {type: line_in_file, name: l1, path: "{{ out }}/lines", line: "one=1", create: true}
  - {type: line_in_file, name: l2, path: "{{ out }}/lines", line: "two=2", create: true}
  - {type: symlink, name: s, path: "{{ out }}/s", target: "{{ out }}/a.conf"}
""")
    applied = cli("-v", "apply", "--auto-approve", "spec", check=1)
    assert "file.bad" in applied.out and "a parent is not a directory" in applied.out, applied.text
    assert "5 added" in applied.out and "1 failed" in applied.out, applied.text
    assert (out / "a.conf").read_text() == "a\n" and oct((out / "a.conf").stat().st_mode & 0o777) == "0o640"
    assert oct((out / "d").stat().st_mode & 0o777) == "0o700"
    assert (out / "lines").read_text() == "one=1\ntwo=2\n"  # both edits of one file, none lost
    assert os.readlink(out / "s") == str(out / "a.conf")
    assert "change(s) in one exchange" in applied.err
    listed = cli("state", "list", "--spec", "spec", check=0).out.split()
    assert "file.a" in listed and "line_in_file.l2" in listed and "file.bad" not in listed, listed

    (out / "blocker").unlink()
    (out / "blocker").mkdir()
    fixed = cli("apply", "--auto-approve", "spec", check=0)
    assert "1 added" in fixed.out and (out / "blocker" / "b.conf").read_text() == "b\n", fixed.text


def test_edits_of_one_file_in_one_batch_build_on_each_other_and_rerun_clean(cli: Cli, spec_dir: Path,
                                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec(spec_dir, out, "\n".join(
        f'  - {{type: line_in_file, name: l{k}, path: "{{{{ out }}}}/many.conf", line: "k{k}=v{k}", create: true}}'
        for k in range(20)) + """
  - {type: block_in_file, name: b, path: "{{ out }}/many.conf", block: "managed=yes", create: true}
""")
    plan = cli("plan", "spec", check=0)
    assert "21 to add" in plan.out, plan.text
    cli("apply", "--auto-approve", "spec", check=0)
    text = (out / "many.conf").read_text()
    assert all(f"k{k}=v{k}\n" in text for k in range(20)) and "managed=yes" in text, text
    assert cli("plan", "spec", check=0).out.count("No changes.") == 1
