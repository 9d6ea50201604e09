"""The machine reconcile runs on: filesystem operations are native calls (fsops), commands subprocesses."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import ModuleError
from reconciler.targets import fsops
from reconciler.targets.base import CommandResult, FsOp, Target

log = logging.getLogger(__name__)


class LocalTarget(Target):
    def __init__(self) -> None:
        super().__init__()
        self.name = "local"

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None, idempotent: bool = False,
        shown: str | None = None,
    ) -> CommandResult:
        full_env = None if env is None else {**os.environ, **env}
        started = time.monotonic()
        try:
            proc = subprocess.run(
                list(argv), input=stdin if stdin is not None else b"", capture_output=True,
                timeout=timeout, env=full_env, cwd=cwd,
            )
        except subprocess.TimeoutExpired as exc:
            raise ModuleError(f"`{' '.join(argv)}` timed out after {timeout}s", retryable=False) from exc
        except OSError as exc:
            raise ModuleError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
        log.debug("local: `%s` exited %d in %.0f ms", shown or shlex.join(argv), proc.returncode,
                  (time.monotonic() - started) * 1000)
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    def fs(self, ops: Sequence[FsOp]) -> list[dict[str, Any]]:
        started = time.monotonic()
        results: list[dict[str, Any]] = fsops.run_ops([(op, dict(args), data) for op, args, data in ops])  # type: ignore[no-untyped-call]
        log.debug("local: %d file operation(s) (%s) in %.0f ms", len(ops), ", ".join(sorted({op for op, _, _ in ops})),
                  (time.monotonic() - started) * 1000)
        return results
