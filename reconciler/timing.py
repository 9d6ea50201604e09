"""Stages logged with their timing (`-v`), and a compact form for the details of `-vv`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stage(log: logging.Logger, name: str, level: int = logging.INFO) -> Iterator[dict[str, object]]:
    """Log `name: WHAT in N ms` once the block is done; the block fills the returned dict's "what"."""
    said: dict[str, object] = {}
    started = time.monotonic()
    try:
        yield said
    finally:
        if log.isEnabledFor(level):
            what = f" {said['what']}" if said.get("what") else ""
            log.log(level, "%s:%s in %.0f ms", name, what, (time.monotonic() - started) * 1000)


def ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"
