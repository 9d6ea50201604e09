"""botocore's service models, parsed once per machine.

Creating a client parses the service's JSON model (EC2's alone takes ~0.1 s, with an OrderedDict made for
every object), and a plan creates one client per service it touches: for a spec of many AWS types that
was a third of a no-change plan. The parsed files are kept as marshal data in the user's cache
directory, keyed by the model file's path, size and modification time and by Python's version; any
problem reading or writing the cache falls back to botocore's own loading."""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from botocore.loaders import JSONFileLoader, Loader

from reconciler.schema_cache import cache_root, store

log = logging.getLogger(__name__)


def plain(value: Any) -> Any:
    """JSON data with OrderedDicts made plain dicts (marshal takes exact types; the order is kept)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class CachedModelFiles(JSONFileLoader):  # type: ignore[misc]
    def __init__(self, directory: Path | None = None):
        self.directory = directory or cache_root() / "botocore"

    def load_file(self, file_path: str) -> Any:
        for ext in (".json", ".json.gz"):
            try:
                st = os.stat(file_path + ext)
            except OSError:
                continue
            key = hashlib.sha256(f"{file_path}{ext}:{st.st_size}:{st.st_mtime_ns}:{sys.version}".encode()).hexdigest()
            cached = self.directory / f"{key[:32]}.bin"
            try:
                return marshal.loads(cached.read_bytes())
            except (OSError, EOFError, ValueError, TypeError):
                pass
            data = super().load_file(file_path)
            if data is not None:
                try:
                    store(cached, marshal.dumps(plain(data)))
                except ValueError as exc:  # a value marshal does not take: load it from JSON each time
                    log.debug("botocore model %s not cached: %s", file_path, exc)
            return data
        return None


def caching_loader(data_path: str | None) -> Loader:
    """botocore's Loader (with AWS_DATA_PATH's extra paths, as botocore makes it), reading through the cache."""
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
    return Loader(extra_search_paths=extra, file_loader=CachedModelFiles())
