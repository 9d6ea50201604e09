"""The deterministic zip of a Lambda function's code: the same files give the same bytes (entries in path
order, a fixed timestamp, only the executable bit of the mode kept), so the SHA-256 Lambda reports for
the code it holds can be compared with the spec's, and a no-change plan stays no-change."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def deterministic_zip(files: Mapping[str, Mapping[str, Any]]) -> bytes:
    """`files`: name in the archive -> {"path": local file, "mode": "0755"…}."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in sorted(files):
            entry = files[name]
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            executable = int(str(entry.get("mode") or "0644"), 8) & 0o111
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the mode above is read
            archive.writestr(info, Path(str(entry["path"])).read_bytes(), compresslevel=9)
    return out.getvalue()


ARCHIVE = "(archive)"  # the one entry of `files` when the source is a zip archive, deployed as it is


def code_of(files: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The bytes Lambda is given: a source zip archive as it is, else the deterministic zip of the files."""
    if set(files) == {ARCHIVE}:
        return Path(str(files[ARCHIVE]["path"])).read_bytes()
    return deterministic_zip(files)


def is_archive(path: Path) -> bool:
    """A source file that is itself the function's zip (as Terraform's `filename` is)."""
    return path.suffix.lower() == ".zip" and zipfile.is_zipfile(path)


def code_sha256(data: bytes) -> str:
    """As Lambda reports it: the base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
