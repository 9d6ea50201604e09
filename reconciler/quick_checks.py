"""Schema checks that only say "certainly valid": fastjsonschema's compiled code (~8x faster than jsonschema
on 10,000 resources), compiled once per schema and shared by threads. False means "ask jsonschema", which
says where and why; a schema fastjsonschema cannot compile is always asked. A `${…}` reference stands for
any value here, as it does for jsonschema's check (it is checked once resolved, at plan time)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from reconciler.schema_files import accept_references

log = logging.getLogger(__name__)


class QuickChecks:
    """One compiled check per schema key, made on first use."""

    def __init__(self) -> None:
        self._checks: dict[str, Any] = {}
        self._lock = threading.Lock()

    def check(self, key: str, schema: Callable[[], Any], instance: Any, references: bool = True) -> bool:
        """Whether `instance` is certainly valid against `schema()` (the schema of `key`)."""
        with self._lock:
            if key not in self._checks:
                try:
                    from reconciler.schema_cache import compiled

                    self._checks[key] = compiled(accept_references(schema()) if references else schema())
                except Exception as exc:  # noqa: BLE001 - any compile problem: fall back to jsonschema
                    log.debug("no quick check for %s: %s", key, exc, exc_info=True)
                    self._checks[key] = None
            check = self._checks[key]
        if check is None:
            return False
        try:
            check(instance)
        except Exception:  # noqa: BLE001 - JsonSchemaValueException and anything odd alike: ask jsonschema
            return False
        return True
