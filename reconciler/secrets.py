"""Keeping secrets out of every text reconcile prints or writes.

Modules and `sensitive:` say which attributes are secret, and the engine masks those wherever it shows
attributes. But a secret can also reach a message indirectly: a failing command line, an API error that
echoes a value, a schema error. The Redactor knows the run's secret values and replaces each occurrence
with `(sensitive)` in any text before it is shown, logged or stored.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.model import SENSITIVE, UNKNOWN, Resource

MIN_LENGTH = 3  # shorter values ("1", "on") would mask unrelated text; they are still masked as attributes


def secret_strings(value: Any) -> list[str]:
    """Every text a secret value can appear as: the value, its leaves, and their JSON/str forms."""
    if value is None or value is UNKNOWN or isinstance(value, bool):
        return []
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in secret_strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in secret_strings(v)]
    text = str(value)
    out = [text] + [line for line in text.splitlines() if line.strip()]
    return [s for s in out if len(s.strip()) >= MIN_LENGTH]


class Redactor:
    """Thread-safe: apply workers add the secrets they compute while others redact."""

    def __init__(self, values: Iterable[Any] = ()):
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        for value in values:
            self.add(value)

    def add(self, value: Any) -> None:
        found = [s for s in secret_strings(value) if s not in self._values]
        if found:
            with self._lock:
                self._values.update(found)
                self._pattern = None

    def add_resource(self, resource: Resource, secret: Iterable[str]) -> None:
        for name in secret:
            self.add(resource.attributes.get(name))

    def redact(self, text: str) -> str:
        if not self._values or not text:
            return text
        with self._lock:
            if self._pattern is None:
                longest_first = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in longest_first))
            pattern = self._pattern
        return pattern.sub(SENSITIVE, text)

    def __bool__(self) -> bool:
        return bool(self._values)
