"""The Lambda code zip is the same bytes for the same files, whatever their timestamps or the order
they were written in, and keeps only the executable bit."""

from __future__ import annotations

import os
import zipfile
from io import BytesIO
from pathlib import Path

from modules.aws.lambda_zip import code_sha256, deterministic_zip


def test_same_files_same_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "b.py", tmp_path / "a.py"
    a.write_text("B = 2\n")
    b.write_text("A = 1\n")
    files = {"b.py": {"path": str(a), "mode": "0644"}, "a.py": {"path": str(b), "mode": "0755"}}
    first = deterministic_zip(files)
    os.utime(a, (1, 1))
    b.write_text("A = 1\n")  # rewritten: a new mtime, the same content
    assert deterministic_zip(dict(reversed(list(files.items())))) == first
    archive = zipfile.ZipFile(BytesIO(first))
    assert archive.namelist() == ["a.py", "b.py"]
    assert [(i.external_attr >> 16) & 0o777 for i in archive.infolist()] == [0o755, 0o644]
    assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    a.write_text("B = 3\n")
    assert code_sha256(deterministic_zip(files)) != code_sha256(first)
