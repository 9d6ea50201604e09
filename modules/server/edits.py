"""Read-modify-write of shared files (several resources may edit one file or one crontab): one lock
per (target, file), so concurrent applies on the same file never lose each other's edits."""

from __future__ import annotations

import threading
from collections import defaultdict


class EditLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[int, str], threading.Lock] = defaultdict(threading.Lock)

    def lock(self, target: object, key: str) -> threading.Lock:
        with self._guard:
            return self._locks[(id(target), key)]
