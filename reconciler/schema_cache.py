"""fastjsonschema validators, compiled once per machine: the generated Python for a type's schema is
large (~200 KB; compiling it costs ~50 ms a type, each run), so its code object is kept in the user's
cache directory (XDG_CACHE_HOME, else ~/.cache/reconcile), keyed by the schema, fastjsonschema's version
and Python's. A cache that cannot be read or written only costs the compile."""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """reconcile's directory in the user's cache (XDG_CACHE_HOME, else ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reconcile"


def cache_dir() -> Path:
    return cache_root() / "schemas"


def compiled(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    """The validator of `schema` (raises fastjsonschema's exceptions on invalid data, as compile()'s)."""
    import fastjsonschema

    version = getattr(fastjsonschema, "VERSION", "?")
    key = hashlib.sha256(json.dumps([schema, version, sys.version], sort_keys=True, default=str).encode()).hexdigest()
    path = cache_dir() / f"{key[:32]}.bin"
    code = None
    try:
        code = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        source = fastjsonschema.compile_to_code(dict(schema), use_default=False)
        code = compile(source, f"<schema {key[:12]}>", "exec")
        store(path, marshal.dumps(code))
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - code fastjsonschema generated from our own schema
    if "$id" in schema:  # the entry function is named after the schema's URI then
        from fastjsonschema.ref_resolver import RefResolver

        return namespace[RefResolver.from_schema(dict(schema)).get_scope_name()]  # type: ignore[no-any-return]
    return namespace["validate"]  # type: ignore[no-any-return]


def store(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (a reader sees the whole file or none); failures are logged."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # code is loaded from here: the user's own
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as fh:
            fh.write(data)
        os.replace(fh.name, path)
    except OSError as exc:
        log.debug("schema cache not written (%s)", exc)
