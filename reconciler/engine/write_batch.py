"""One exchange per host and wave: the ready changes of Deferrable types, written down and sent together.

Each change's apply runs against a RecordingTarget (targets/recording.py), which turns its writes and
changing commands into fsops operations tagged with the change's group. Changes that read first (a line
in a file, a crontab) get their reads gathered in one batch beforehand (two, when a read depends on an
earlier one: a user's home, then the key file in it), so a wave costs two or three exchanges: the reads,
then every change. The host's helper runs the operations in order and skips the
rest of a group after one of its steps fails, so one bad change fails alone.

A change whose reads the batch cannot answer, or whose group failed, is carried out on its own
afterwards (the caller's `one`), which reports its real error. Types that also apply in batches (cron:
one crontab per user) are written down as one unit for all their changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from reconciler.capabilities import BatchApply
from reconciler.errors import ModuleError, ReconcileError
from reconciler.model import Change, Observed, Result, Status
from reconciler.registry import Registry
from reconciler.targets.base import FsOp, Target
from reconciler.targets.prefetch import Answers, Read, gather
from reconciler.targets.recording import NeedsRead, RecordingTarget, Written

log = logging.getLogger(__name__)

READ_ROUNDS = 2  # exchanges of reads before a wave's changes (an account, then a file in its home)


def merge(answers: Answers, more: Answers) -> None:
    answers.stats.update(more.stats)
    answers.contents.update(more.contents)
    answers.commands.update(more.commands)


@dataclass
class Unit:
    """One change, or all changes of one batch-applying type: what is written down as one group."""

    changes: list[Change]
    group: int
    ops: list[FsOp] = field(default_factory=list)
    observed: dict[str, Observed] = field(default_factory=dict)
    error: str = ""  # the module refused it while being written down
    lock_keys: list[str] = field(default_factory=list)
    joined: set[int] = field(default_factory=set)


def units_of(registry: Registry, changes: Sequence[Change]) -> list[Unit]:
    units: list[Unit] = []
    by_type: dict[str, Unit] = {}
    for change in changes:
        if isinstance(registry.module(change.type), BatchApply):
            if change.type not in by_type:
                by_type[change.type] = Unit([], len(units))
                units.append(by_type[change.type])
            by_type[change.type].changes.append(change)
        else:
            units.append(Unit([change], len(units)))
    return units


def _record(registry: Registry, target: Target, unit: Unit, answers: Answers, written: Written) -> None:
    """Write `unit` down (NeedsRead and module errors propagate; `written` is left as it was then)."""
    recorder = RecordingTarget(target, answers, written, unit.group)
    module = registry.module(unit.changes[0].type)
    unit.error, unit.ops, unit.observed = "", [], {}
    try:
        if len(unit.changes) > 1:
            assert isinstance(module, BatchApply)
            unit.observed = dict(module.apply_many(recorder, unit.changes))
        else:
            unit.observed = {unit.changes[0].address: module.apply(recorder, unit.changes[0])}
    except BaseException:
        recorder.undo()
        raise
    finally:
        unit.lock_keys = recorder.lock_keys
    unit.ops, unit.joined = recorder.ops, recorder.joined


def _pass(registry: Registry, target: Target, units: list[Unit], answers: Answers,
          reads: list[Read] | None) -> tuple[list[Unit], list[Unit]]:
    """Write every unit down: (the units written, those to carry out on their own). With `reads`, a read
    the batch can gather is added to it instead."""
    written: Written = Written()
    done: list[Unit] = []
    alone: list[Unit] = []
    for unit in units:
        try:
            _record(registry, target, unit, answers, written)
        except NeedsRead as needed:
            if reads is not None and needed.read is not None:
                reads.append(needed.read)
                done.append(unit)
            else:
                alone.append(unit)
        except (ModuleError, ReconcileError) as exc:
            unit.error = str(exc)
            done.append(unit)
        except Exception:  # noqa: BLE001 - a module bug: its change is carried out alone, which reports it
            log.debug("writing down %s failed; carried out alone", unit.changes[0].address, exc_info=True)
            alone.append(unit)
        else:
            done.append(unit)
    return done, alone


def _locked_only(units: list[Unit], held: set[str]) -> tuple[list[Unit], list[Unit]]:
    """(units, units to carry out alone): a unit that took a lock the batch did not hold from the start (its
    first read came later) read without it, as does any unit that read what such a one wrote."""
    late: set[int] = set()
    kept = []
    for unit in units:
        if set(unit.lock_keys) - held or unit.joined & late:
            late.add(unit.group)
        else:
            kept.append(unit)
    return kept, [u for u in units if u.group in late]


def _merge_groups(units: list[Unit]) -> None:
    """A change that read what an earlier one wrote goes with it: one group, failing together."""
    root = {u.group: u.group for u in units}

    def find(g: int) -> int:
        while root.get(g, g) != g:
            g = root[g]
        return g

    for unit in units:
        for other in unit.joined:
            root[find(unit.group)] = find(other)
    for unit in units:
        group = find(unit.group)
        if group != unit.group:
            unit.ops = [(op, {**args, "batch_group": group}, data) for op, args, data in unit.ops]


def carry_deferred(registry: Registry, target: Target, changes: Sequence[Change],
                   one: Callable[[Change], Result]) -> list[Result]:
    """Carry out `changes` (Deferrable types, one target) in one exchange, after one or two of their reads."""
    started = time.monotonic()
    units = units_of(registry, changes)
    reads: list[Read] = []
    ready, alone = _pass(registry, target, units, Answers(), reads)
    keys = sorted({k for u in ready for k in u.lock_keys})
    with ExitStack() as held:
        for key in keys:  # the edits' read-modify-write stays whole against this host's other jobs
            held.enter_context(target.lock(key))
        try:
            answers = Answers()
            for round_ in range(1, READ_ROUNDS + 1):  # a read that depends on an earlier one: another round
                if not reads:
                    break
                merge(answers, gather(target, reads))
                reads = []
                ready, more_alone = _pass(registry, target, ready, answers, reads if round_ < READ_ROUNDS else None)
                alone += more_alone
            ready, unlocked = _locked_only(ready, set(keys))
            alone += unlocked
            sent = [u for u in ready if not u.error and u.ops]
            in_exchange = {id(u) for u in sent}
            _merge_groups(sent)
            ops = [op for u in sent for op in u.ops]
            outcomes = target.fs(ops) if ops else []
        except Exception as exc:  # noqa: BLE001 - carried out one by one, which retries and reports each
            log.info("a batch of %d changes on %s failed (%s); carrying them out one by one", len(changes),
                     target.name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return [one(c) for c in changes]
    seconds = time.monotonic() - started
    results: list[Result] = []
    at = 0
    for unit in ready:
        if unit.error:
            results += [Result(c.address, c.action, Status.FAILED, error=unit.error, seconds=seconds)
                        for c in unit.changes]
            continue
        mine = outcomes[at:at + len(unit.ops)] if id(unit) in in_exchange else []
        at += len(mine)
        if any("error" in o for o in mine):
            alone.append(unit)  # carried out on its own: the real error, or success once an earlier group's is fixed
            continue
        results += [Result(c.address, c.action, Status.OK, observed=unit.observed[c.address], seconds=seconds)
                    for c in unit.changes]
    log.info("%s: %d change(s) in one exchange, %d carried out alone", target.name, len(results),
              sum(len(u.changes) for u in alone))
    return results + [one(c) for u in alone for c in u.changes]

