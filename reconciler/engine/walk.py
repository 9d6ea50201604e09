"""A bounded parallel walk over a dependency graph: each node starts once all its prerequisites are done;
a failed or skipped node skips its dependents and nothing else.

Nodes that become ready together and share a batch key (e.g. the packages of one host) are handed to
one job. Results are settled on the calling thread, in completion order, so the caller can write its
state from one thread only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from reconciler.model import Action, Result, Status

# Runs `nodes` (one, or a batch) and returns one Result per node. Must not raise.
Job = Callable[[list[str]], list[Result]]


def walk(
    nodes: Sequence[str],
    prerequisites: Mapping[str, Collection[str]],
    job: Job,
    *,
    parallelism: int,
    before: Callable[[str], Result | None] = lambda node: None,
    settle: Callable[[Result], object] = lambda result: None,
    batch_key: Callable[[str], Hashable | None] = lambda node: None,
    action_of: Callable[[str], Action] = lambda node: Action.NOOP,
    tolerates: Callable[[str, str], bool] = lambda node, prerequisite: False,
    skipped_because: Callable[[str, Status], str] = lambda blocker, status: f"skipped: dependency {blocker} {status.value}",
) -> dict[str, Result]:
    """Run `job` over `nodes` in dependency order. `before(node)` may settle a node without running it
    (a no-op, a known failure); prerequisites outside `nodes` are ignored. A node runs even after a failed
    prerequisite when `tolerates(node, prerequisite)` (a rollout's gate counts its batch's failures);
    `skipped_because(blocker, its status)` says why a node was skipped."""
    state = _Walk(nodes, prerequisites, settle, tolerates, action_of)
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        while state.ready or state.running:
            for group in state.start_ready(before, batch_key, skipped_because):
                state.running[pool.submit(job, group)] = group
            if not state.running:
                break
            state.collect()
    state.fail_unstarted()
    return state.results


class _Walk:
    """A walk in progress: what each node still waits for, what is ready, running and settled."""

    def __init__(self, nodes: Sequence[str], prerequisites: Mapping[str, Collection[str]],
                 settle: Callable[[Result], object], tolerates: Callable[[str, str], bool],
                 action_of: Callable[[str], Action]):
        self.nodes, self.prerequisites = nodes, prerequisites
        self.settle, self.tolerates, self.action_of = settle, tolerates, action_of
        members = set(nodes)
        self.waiting = {n: {p for p in prerequisites.get(n, ()) if p in members and p != n} for n in nodes}
        self.dependents: dict[str, list[str]] = {n: [] for n in nodes}
        for node, prereqs in self.waiting.items():
            for p in prereqs:
                self.dependents[p].append(node)
        self.results: dict[str, Result] = {}
        self.ready: deque[str] = deque(n for n in nodes if not self.waiting[n])
        self.running: dict[Future[list[Result]], list[str]] = {}

    def record(self, result: Result) -> None:
        self.results[result.address] = result
        self.settle(result)
        for child in self.dependents.get(result.address, ()):
            self.waiting[child].discard(result.address)
            if not self.waiting[child]:
                self.ready.append(child)

    def failed_prerequisite(self, node: str) -> str | None:
        for p in sorted(self.prerequisites.get(node, ())):
            if p in self.results and self.results[p].status in (Status.FAILED, Status.SKIPPED) \
                    and not self.tolerates(node, p):
                return p
        return None

    def start_ready(self, before: Callable[[str], Result | None], batch_key: Callable[[str], Hashable | None],
                    skipped_because: Callable[[str, Status], str]) -> list[list[str]]:
        """The groups of ready nodes to run now (one node, or a batch sharing a key); nodes a failed
        prerequisite skips, or that `before` settles, are settled here instead."""
        groups: list[list[str]] = []
        batches: dict[Hashable, list[str]] = {}
        while self.ready:
            node = self.ready.popleft()
            if node in self.results:
                continue
            blocker = self.failed_prerequisite(node)
            if blocker is not None:
                self.record(Result(node, self.action_of(node), Status.SKIPPED,
                                   error=skipped_because(blocker, self.results[blocker].status)))
                continue
            early = before(node)
            if early is not None:
                self.record(early)
                continue
            key = batch_key(node)
            if key is None:
                groups.append([node])
            else:
                batches.setdefault(key, []).append(node)
        return groups + list(batches.values())

    def collect(self) -> None:
        """Wait for at least one job, and settle what it returned."""
        done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        for future in done:
            group = self.running.pop(future)
            for result in future.result():
                self.record(result)
            for node in group:  # a job that returned nothing for a node still settles it
                if node not in self.results:
                    self.record(Result(node, self.action_of(node), Status.FAILED, error="no result"))

    def fail_unstarted(self) -> None:
        """Only a cycle leaves nodes that never became ready."""
        for node in self.nodes:
            if node not in self.results:
                self.results[node] = Result(node, self.action_of(node), Status.FAILED,
                                            error="not started: it waits on a dependency cycle")
                self.settle(self.results[node])
