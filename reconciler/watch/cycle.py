"""One watch run: observe (all, or the resources that are due), classify the drift, repair what may be repaired
automatically within the blast radius, and say what happened as a value."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.drift import DriftReport
from reconciler.engine.session import Session
from reconciler.errors import ReconcileError, StateLockedError
from reconciler.model import Action, Plan, Resource, Selection, Status
from reconciler.words import plural

log = logging.getLogger(__name__)

REPAIRABLE = ("drifted", "missing")  # what a remediation puts back; pending changes wait for a person's apply
RISKY = (Action.DELETE, Action.REPLACE)


@dataclass(frozen=True)
class Held:
    """A remediation the blast radius stopped: applied by nobody until a person applies."""

    addresses: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class RunRecord:
    number: int
    started: float  # Unix time
    took: float  # seconds
    result: str  # clean | drift | remediated | held | failed
    observed: int  # resources this run covered
    report: DriftReport | None = None
    repaired: tuple[str, ...] = ()
    held: Held | None = None
    error: str = ""
    partial: bool = False  # only the resources whose own cadence was due

    def to_json(self) -> dict[str, Any]:
        return {"run": self.number, "started_at": self.started, "duration_seconds": round(self.took, 3),
                "result": self.result, "observed": self.observed, "partial": self.partial,
                "drift": dict(self.report.counts()) if self.report else {}, "repaired": list(self.repaired),
                "held": {"addresses": list(self.held.addresses), "why": self.held.why} if self.held else None,
                "error": self.error}


@dataclass
class Remediation:
    """The blast radius: asked by apply to approve the repair plan it made under the lock."""

    max_changes: int
    held: Held | None = None
    planned: tuple[str, ...] = field(default_factory=tuple)

    def approve(self, plan: Plan) -> bool:
        changes = plan.actionable
        self.planned = tuple(c.address for c in changes)
        risky = [c for c in changes if c.action in RISKY]
        if risky:
            self.held = Held(self.planned, "it would " + ", ".join(f"{c.action.value} {c.address}" for c in risky))
        elif len(changes) > self.max_changes:
            self.held = Held(self.planned, f"{plural(len(changes), 'change')} is more than max_changes "
                                           f"({self.max_changes})")
        return self.held is None


def run_once(session: Session, number: int, max_changes: int, due: Collection[str] | None = None) -> RunRecord:
    """`due`: only these addresses are observed (None: everything). Never raises: a failure is the record's."""
    started, clock = time.time(), time.monotonic()
    try:
        resources = session.validate().spec.resources
        targets: Sequence[str] = sorted(due) if due is not None else ()
        outcome = session.drift(record=False, targets=targets)
        report = outcome.report
        automatic = {r.address for r in resources if r.drift.automatic}
        wanted = [i.address for i in report.items if i.kind in REPAIRABLE and i.address in automatic]
        repaired: tuple[str, ...] = ()
        held = None
        if wanted:
            repaired, held = _remediate(session, wanted, max_changes)
        result = ("held" if held else "remediated" if repaired else
                  "drift" if report.found else "failed" if report.errors else "clean")
        return RunRecord(number, started, time.monotonic() - clock, result,
                         len(resources) if due is None else len(due), report, repaired, held,
                         "; ".join(f"{a}: {m}" for a, m in sorted(report.errors.items())), due is not None)
    except ReconcileError as exc:
        return RunRecord(number, started, time.monotonic() - clock, "failed", 0, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - recorded, counted and retried at the next interval; never fatal
        log.exception("watch run %d failed", number)
        return RunRecord(number, started, time.monotonic() - clock, "failed", 0, error=f"{type(exc).__name__}: {exc}")


def _remediate(session: Session, addresses: Sequence[str], max_changes: int) -> tuple[tuple[str, ...], Held | None]:
    """Apply the repair of these resources' drift under the state lock (taken now, released on return)."""
    gate = Remediation(max_changes)
    try:
        outcome = session.apply(Selection(targets=tuple(addresses)), approve=gate.approve, only_drifted=True)
    except StateLockedError as exc:  # someone (a person, another replica) is applying: theirs to finish
        log.info("remediation left for later: %s", exc)
        return (), None
    except ReconcileError:
        if gate.held is not None:
            return (), gate.held
        raise
    failed = [r for r in outcome.results if r.status is Status.FAILED]
    if failed:
        raise ReconcileError("remediation failed: " + "; ".join(f"{r.address}: {r.error}" for r in failed))
    done = {r.address for r in outcome.results if r.status is Status.OK and r.action is not Action.NOOP}
    return tuple(a for a in addresses if a in done), None


def due_addresses(resources: Sequence[Resource], interval: float, last_seen: dict[str, float],
                  now: float) -> set[str] | None:
    """The addresses whose cadence (their own `every`, else the interval) has come; None when every one has."""
    due = {r.address for r in resources
           if now - last_seen.get(r.address, float("-inf")) >= (r.drift.every or interval) - 0.01}
    return None if len(due) == len(resources) else due
