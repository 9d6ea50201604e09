"""Logging for the command: `-v`/`-vv` to stderr, `--log-file FILE` with tracebacks, `--debug`.

Every line passes through the run's Redactor first, so a secret never reaches a log either.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
THIRD_PARTY = ("paramiko", "urllib3", "docker", "botocore", "boto3", "s3transfer", "asyncio")
# botocore's DEBUG lines hold whole request and response bodies (a secret store's answer, a password sent),
# logged before reconcile can know the values to mask: never logged, at any level.
BODIES = ("botocore.parsers", "botocore.endpoint", "botocore.auth", "botocore.hooks", "botocore.retryhandler")
_SILENT = logging.NullHandler()
_SILENT._reconcile = True  # type: ignore[attr-defined]


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, redactor: Callable[[], Any]):
        super().__init__(fmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return str(self.redactor().redact(super().format(record)))


def configure_logging(verbose: int, log_file: str | None, debug: bool, redactor: Callable[[], Any]) -> None:
    """Configure the `reconciler` logger (idempotent: earlier handlers of this function are replaced)."""
    root = logging.getLogger("reconciler")
    for handler in list(root.handlers):
        if getattr(handler, "_reconcile", False):
            root.removeHandler(handler)
            handler.close()
    root.propagate = False
    level = logging.DEBUG if debug or verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(RedactingFormatter("%(levelname)s: %(message)s" if not debug else FORMAT, redactor))
    handlers: list[logging.Handler] = [console]
    if log_file:
        try:
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            from reconciler.errors import ReconcileError

            raise ReconcileError(f"cannot write the log file {log_file}: {exc.strerror}") from None
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(RedactingFormatter(FORMAT, redactor))
        handlers.append(file_handler)
    for handler in handlers:
        handler._reconcile = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(min(h.level for h in handlers))
    # Libraries log their own tracebacks and retries (paramiko's "Error reading SSH protocol banner", urllib3's
    # "Retrying"): those go to the log file, or to the terminal with --debug, never as raw text otherwise.
    for name in THIRD_PARTY:
        library = logging.getLogger(name)
        for handler in list(library.handlers):
            if getattr(handler, "_reconcile", False):
                library.removeHandler(handler)
        library.propagate = False
        library.setLevel(logging.DEBUG if debug or log_file else logging.CRITICAL + 1)
        for handler in (handlers if debug else handlers[1:]) or [_SILENT]:
            library.addHandler(handler)
    for name in BODIES:
        logging.getLogger(name).setLevel(logging.INFO)
    if not debug:  # an internal error is reported in one line; its traceback goes to the log file only
        console.addFilter(lambda record: not (record.levelno >= logging.CRITICAL and record.exc_info))
