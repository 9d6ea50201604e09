"""The pieces of one exchange per host and wave: the helper's change groups, and the recording target."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.targets import fsops
from reconciler.targets.local import LocalTarget
from reconciler.targets.prefetch import Answers, ContentRead
from reconciler.targets.recording import NeedsRead, RecordingTarget, Written


def test_a_failed_step_skips_the_rest_of_its_change_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("a file, not a directory")
    missing = tmp_path / "plain" / "f"
    results = fsops.run_ops([  # type: ignore[no-untyped-call]
        ("write", {"path": str(missing), "batch_group": 0}, b"x"),
        ("chattr", {"path": str(missing), "mode": "0600", "batch_group": 0}, None),
        ("write", {"path": str(tmp_path / "ok"), "batch_group": 1}, b"y"),
        ("command", {"argv": ["sh", "-c", "cat > \"$0\"", str(tmp_path / "piped")], "batch_group": 2}, b"z"),
        ("command", {"argv": ["false"], "batch_group": 3}, None),
    ])
    assert results[0]["error"]["kind"] == "ENOTDIR" and results[1]["error"]["kind"] == "ESKIPPED"
    assert "ok" in results[2] and (tmp_path / "ok").read_bytes() == b"y"
    assert "ok" in results[3] and (tmp_path / "piped").read_bytes() == b"z"
    assert results[4]["error"]["kind"] == "ECOMMAND" and "`false` exited 1" in results[4]["error"]["message"]


def recorder(written: Written, group: int, answers: Answers | None = None) -> RecordingTarget:
    return RecordingTarget(LocalTarget(), answers or Answers(), written, group)


def test_writes_are_written_down_and_a_later_change_reads_them() -> None:
    written = Written()
    first = recorder(written, 0)
    with pytest.raises(NeedsRead) as needed:
        first.read_many(["/etc/x"], follow=True)
    assert needed.value.read == ContentRead(("/etc/x",), True)
    answers = Answers(contents={("/etc/x", True): None})
    first = recorder(written, 0, answers)
    assert first.read_many(["/etc/x"], follow=True) == {"/etc/x": None}
    first.write_file("/etc/x", b"a\n", follow=True)
    assert first.ops[0][0] == "write" and first.ops[0][1]["batch_group"] == 0
    second = recorder(written, 1, answers)
    assert second.read_many(["/etc/x"], follow=True) == {"/etc/x": b"a\n"} and second.joined == {0}
    with pytest.raises(NeedsRead):  # its mode or owner is not known before the batch runs
        second.stat_many(["/etc/x"])


def test_a_read_after_a_command_or_of_a_rolled_back_change_is_not_answered() -> None:
    written = Written()
    answers = Answers(contents={("/etc/passwd", False): None})
    user = recorder(written, 0, answers)
    assert user.run(["useradd", "--", "alice"]).ok
    with pytest.raises(NeedsRead):  # useradd may have changed it
        user.read_many(["/etc/passwd"])
    rolled = recorder(written, 1, answers)
    rolled.write_file("/etc/y", b"b")
    rolled.undo()
    assert written.touched == {} and written.contents == {}
