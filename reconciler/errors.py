"""Errors as values: diagnostics are collected and raised together."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.diagnostics import Diagnostic


class ReconcileError(Exception):
    """A failure the user must act on; the CLI prints it and exits 1."""


class SpecError(ReconcileError):
    """One or more problems in the spec, each with its source location."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class StateLockedError(ReconcileError):
    pass


class StateError(ReconcileError):
    """The state cannot be read or written (permissions, a missing directory, a backend refusing)."""


class StateDamaged(StateError):
    """The state exists but is not readable as a state: corrupt, truncated, empty, or of another kind."""


class StateConflict(StateError):
    """Someone else changed the state since it was read (lineage, serial or ETag no longer match)."""


class StalePlanError(ReconcileError):
    pass


class ModuleError(ReconcileError):
    """A module failed to observe or change a resource. `retryable` says if trying again may help."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable
