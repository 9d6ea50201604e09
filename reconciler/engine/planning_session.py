"""What a run (an apply, a drift check) asks of the session it belongs to, as a Protocol: the runs are
their own objects and never import the session that makes them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, TypeVar

from reconciler.model import Plan, Selection
from reconciler.registry import Registry
from reconciler.secrets import Redactor
from reconciler.spec.validate import Validated
from reconciler.state.backend import StateBackend
from reconciler.state.interface import StateStore
from reconciler.targets import TargetPool

T = TypeVar("T")


class PlanningSession(Protocol):
    """What an apply or drift run asks of its session (reconciler.engine.session.Session): the spec's targets and
    state, plans, and the run's secrets."""

    spec_path: str | Path
    parallelism: int
    redactor: Redactor

    @property
    def type_registry(self) -> Registry: ...

    @property
    def backend(self) -> StateBackend: ...

    def targets(self) -> AbstractContextManager[TargetPool]: ...

    def check_owner(self, store: StateStore) -> None: ...

    def with_members(self, validated: Validated, pool: TargetPool, *, fresh: bool = False) -> Validated: ...

    def with_facts(self, validated: Validated, pool: TargetPool, selection: Selection = ...) -> Validated: ...

    def make_plan(self, validated: Validated, pool: TargetPool, store: StateStore, selection: Selection) -> Plan: ...

    def redacting(self, work: Callable[[], T]) -> T: ...

    def validate(self, *, unset_env_ok: bool = False) -> Validated: ...

    def state(self, *, writable: bool = False, lock: str | None = None) -> AbstractContextManager[StateStore]: ...
