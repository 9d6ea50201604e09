"""Rolling updates: a group with `serial:` converges a batch of hosts at a time.

The hosts of a rolling group that have changes in the plan are cut into batches (in the group's order).
After each batch comes a gate, a node of the apply walk that every change on the batch's hosts leads
into and that every change on the next batch's hosts waits for. The gate counts the batch's failed
hosts, runs the group's health check (`wait_for:`) on the others, and fails when more than
`max_fail_percentage` of the batch is down: the next batches are then never started, so the hosts not
yet reached stay untouched and are reported as such. Changes on other targets are not held back
(unless they depend on a rolling host's changes).

Health checks: `http` (a GET from the controller answering `status`, default 200), `tcp` (a connection
from the controller) or `command` (run on the host, must exit 0), retried every `interval` seconds for
at most `timeout` (default 60).
"""

from __future__ import annotations

import logging
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from reconciler.errors import ReconcileError
from reconciler.inventory import Rollout
from reconciler.model import Action, Change, Result, Status
from reconciler.registry import Registry
from reconciler.targets import TargetPool

log = logging.getLogger(__name__)

PREFIX = "rollout."
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Gate:
    address: str  # rollout.GROUP[N]: the gate after batch N
    rollout: Rollout
    number: int  # the batch it follows (1-based)
    batches: int  # how many batches the rollout has
    batch: tuple[str, ...]  # the hosts it checks
    later: tuple[str, ...]  # the hosts of the batches after it: not reached when it fails

    def stopped(self, why: str) -> str:
        left = f"; not reached: {', '.join(self.later)}" if self.later else ""
        return f"the rollout of {self.rollout.group} stopped at batch {self.number} of {self.batches}: {why}{left}"


@dataclass(frozen=True)
class Stages:
    gates: Mapping[str, Gate]
    prerequisites: Mapping[str, frozenset[str]]  # node -> the gate or changes it waits for, beside its graph edges
    host_of: Mapping[str, str]  # change address -> its inventory host, for the changes of rolling hosts
    unreachable: Mapping[str, str] = field(default_factory=dict)  # host -> why it could not be observed
    dropped: frozenset[str] = frozenset()  # groups resumed at a batch whose hosts the spec no longer puts anything on


def stages(rollouts: Mapping[str, Rollout], changes: Sequence[Change], graph: nx.DiGraph[str],
           resume: Mapping[str, Sequence[str]] | None = None, unreachable: Mapping[str, str] | None = None) -> Stages:
    """The gates and extra prerequisites of a plan's create phase; a clear error when a change of an early
    batch depends on a change of a later one (the rollout could never finish).

    `resume`: group -> the hosts of the batch an earlier apply's gate stopped at: this rollout starts with that
    batch and checks its gate again, changed or not, before going on, unless the spec puts nothing on those
    hosts any more (then there is nothing to check: `dropped`). `unreachable`: hosts the plan could not
    observe: members of their batch, counted as failed."""
    resume, unreachable = resume or {}, unreachable or {}
    by_host: dict[str, list[str]] = defaultdict(list)
    placed: set[str] = set()  # hosts the spec puts anything on
    for c in changes:
        if c.resource is not None and c.resource.host:
            placed.add(c.resource.host)
            if c.action is not Action.NOOP:
                by_host[c.resource.host].append(c.address)
    dropped: set[str] = set()
    gates: dict[str, Gate] = {}
    extra: dict[str, set[str]] = defaultdict(set)
    host_of: dict[str, str] = {}
    for name in sorted(rollouts):
        rollout = rollouts[name]
        first = tuple(h for h in rollout.hosts if h in set(resume.get(name, ())) and h in placed)
        if resume.get(name) and not first:
            dropped.add(name)
        changed = [h for h in rollout.hosts if (by_host.get(h) or h in unreachable) and h not in first]
        if not changed and not first:
            continue
        size = rollout.batch_size()
        batches = ([first] if first else []) + [tuple(changed[i:i + size]) for i in range(0, len(changed), size)]
        before: str | None = None
        for n, batch in enumerate(batches, start=1):
            gate = Gate(f"{PREFIX}{name}[{n}]", rollout, n, len(batches), batch,
                        tuple(h for later in batches[n:] for h in later))
            gates[gate.address] = gate
            for host in batch:
                for address in by_host[host]:
                    host_of[address] = host
                    extra[gate.address].add(address)
                    if before is not None:
                        extra[address].add(before)
            if before is not None:
                extra[gate.address].add(before)
            before = gate.address
    _check_order(graph, extra, host_of)
    return Stages(gates, {k: frozenset(v) for k, v in extra.items()}, host_of, dict(unreachable), frozenset(dropped))


def _check_order(graph: nx.DiGraph[str], extra: Mapping[str, set[str]], host_of: Mapping[str, str]) -> None:
    combined: nx.DiGraph[str] = nx.DiGraph(graph)
    for node, needs in extra.items():
        for need in needs:
            combined.add_edge(need, node)
    try:
        cycle = nx.find_cycle(combined)
    except nx.NetworkXNoCycle:
        return
    hops = [u for u, _ in cycle if not u.startswith(PREFIX)]
    where = ", ".join(f"{a} (on {host_of[a]})" if a in host_of else a for a in hops)
    raise ReconcileError(f"the rollout cannot be ordered: a change of an early batch depends on a change of a "
                         f"later one ({where}); remove that dependency or take the host out of the rolling group")


class GateRunner:
    """Runs gates as the walk reaches them: failed hosts are counted from the settled results."""

    def __init__(self, stages: Stages, check_on_host: Callable[[str, str, float], tuple[bool, str]]):
        """`check_on_host(host, command, timeout)`: (passed, what it said) for a `command` check."""
        self.stages = stages
        self.check_on_host = check_on_host
        self.failed_hosts: dict[str, str] = {h: f"unreachable: {why}" for h, why in stages.unreachable.items()}

    def settled(self, result: Result) -> None:
        host = self.stages.host_of.get(result.address)
        if host is not None and result.status in (Status.FAILED, Status.SKIPPED):
            self.failed_hosts.setdefault(host, f"{result.address}: {result.error}")

    def run(self, address: str) -> Result:
        gate = self.stages.gates[address]
        started = time.monotonic()
        down = {h: self.failed_hosts[h] for h in gate.batch if h in self.failed_hosts}
        checks = gate.rollout.wait_for
        healthy = [h for h in gate.batch if h not in down]
        if checks and healthy and self._tolerable(gate, down):
            with ThreadPoolExecutor(max_workers=len(healthy), thread_name_prefix="health") as pool:
                verdicts = list(pool.map(lambda h: (h, self._check(h, checks.get(h) or {})), healthy))
            down.update({h: why for h, (ok, why) in verdicts if not ok})
        seconds = time.monotonic() - started
        if not self._tolerable(gate, down):
            failed = "; ".join(f"{h}: {why}" for h, why in sorted(down.items()))
            limit = gate.rollout.max_fail_percentage
            return Result(address, Action.NOOP, Status.FAILED, seconds=seconds, error=gate.stopped(
                f"{len(down)} of {len(gate.batch)} hosts failed (max_fail_percentage {limit:g}) - {failed}"))
        log.info("%s: batch %d of %d (%s) %s", gate.rollout.group, gate.number, gate.batches, ", ".join(gate.batch),
                 "healthy" if checks else "done")
        return Result(address, Action.NOOP, Status.OK, seconds=seconds)

    @staticmethod
    def _tolerable(gate: Gate, down: Mapping[str, str]) -> bool:
        return 100.0 * len(down) / len(gate.batch) <= gate.rollout.max_fail_percentage

    def _check(self, host: str, check: Mapping[str, Any]) -> tuple[bool, str]:
        timeout = float(check.get("timeout", DEFAULT_TIMEOUT))
        interval = float(check.get("interval", 1.0))
        deadline = time.monotonic() + timeout
        said = ""
        while True:
            left = max(0.5, deadline - time.monotonic())
            try:
                if "http" in check:
                    ok, said = _http(str(check["http"]), int(check.get("status", 200)), min(left, 10.0))
                elif "tcp" in check:
                    ok, said = _tcp(str(check["tcp"]), min(left, 10.0))
                else:
                    ok, said = self.check_on_host(host, str(check["command"]), min(left, 60.0))
            except Exception as exc:  # noqa: BLE001 - a check that cannot run is a failed check, said why
                log.debug("health check on %s failed", host, exc_info=True)
                ok, said = False, str(exc) or type(exc).__name__
            if ok:
                return True, said
            if time.monotonic() + interval > deadline:
                return False, f"health check failed after {timeout:g} s: {said}"
            time.sleep(interval)


def _http(url: str, status: int, timeout: float) -> tuple[bool, str]:
    import urllib.error  # only when a gate asks (http.client and ssl are a slow import for every run)
    import urllib.request

    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "reconcile health check"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the spec's own URL
            got = int(response.status)
    except urllib.error.HTTPError as exc:
        got = int(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url}: {reason}"
    return got == status, f"{url} answered {got}, wanted {status}"


def _tcp(where: str, timeout: float) -> tuple[bool, str]:
    host, _, port = where.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True, f"{where} accepts connections"
    except OSError as exc:
        return False, f"{where}: {exc.strerror or exc}"


def command_check(registry: Registry, targets: TargetPool, host: str, command: str,
                  timeout: float) -> tuple[bool, str]:
    """A rollout's `wait_for: {command: …}` on one of its hosts: (passed, what it said)."""
    family = registry.host_family()
    if family is None:
        raise ReconcileError("no installed target family reaches inventory hosts to run a rollout's check")
    target = targets.get(family, host)
    result = target.run(["sh", "-c", command], timeout=timeout)
    said = (result.stderr or result.stdout).decode(errors="replace").strip()[-300:]
    return result.ok, f"`{command}` exited {result.rc}" + (f": {said}" if said else "")
