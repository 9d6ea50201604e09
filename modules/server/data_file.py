"""data file: a file's content on a host (or the local machine), read in one round trip per host."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Resource, Unobservable
from reconciler.module import DataSource
from reconciler.targets.base import Target

MAX_BYTES = 1024 * 1024


class FileData(DataSource[Target]):
    type_name = "file"
    provides = frozenset({"content", "sha256", "size"})

    def read(self, target: Target, queries: Sequence[Resource]) -> Mapping[str, Mapping[str, Any] | Unobservable]:
        contents = target.read_many([str(q.get("path")) for q in queries], follow=True)
        out: dict[str, Mapping[str, Any] | Unobservable] = {}
        for q in queries:
            data = contents.get(str(q.get("path")))
            if data is None:
                out[q.address] = Unobservable(f"{q.get('path')} is not a regular file on {target.name}")
            elif len(data) > MAX_BYTES:
                out[q.address] = Unobservable(f"{q.get('path')} on {target.name} is larger than 1 MiB")
            else:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    out[q.address] = Unobservable(f"{q.get('path')} on {target.name} is not UTF-8 text")
                    continue
                out[q.address] = {"content": text, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        return out
