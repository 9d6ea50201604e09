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
    members = set(nodes)
    waiting = {n: {p for p in prerequisites.get(n, ()) if p in members and p != n} for n in nodes}
    dependents: dict[str, list[str]] = {n: [] for n in nodes}
    for node, prereqs in waiting.items():
        for p in prereqs:
            dependents[p].append(node)
    results: dict[str, Result] = {}
    ready: deque[str] = deque(n for n in nodes if not waiting[n])
    running: dict[Future[list[Result]], list[str]] = {}

    def record(result: Result) -> None:
        results[result.address] = result
        settle(result)
        for child in dependents.get(result.address, ()):
            waiting[child].discard(result.address)
            if not waiting[child]:
                ready.append(child)

    def failed_prerequisite(node: str) -> str | None:
        for p in sorted(prerequisites.get(node, ())):
            if p in results and results[p].status in (Status.FAILED, Status.SKIPPED) and not tolerates(node, p):
                return p
        return None

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        while ready or running:
            batches: dict[Hashable, list[str]] = {}
            while ready:
                node = ready.popleft()
                if node in results:
                    continue
                blocker = failed_prerequisite(node)
                if blocker is not None:
                    record(Result(node, action_of(node), Status.SKIPPED,
                                  error=skipped_because(blocker, results[blocker].status)))
                    continue
                early = before(node)
                if early is not None:
                    record(early)
                    continue
                key = batch_key(node)
                if key is None:
                    running[pool.submit(job, [node])] = [node]
                else:
                    batches.setdefault(key, []).append(node)
            for group in batches.values():
                running[pool.submit(job, group)] = group
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                group = running.pop(future)
                for result in future.result():
                    record(result)
                for node in group:  # a job that returned nothing for a node still settles it
                    if node not in results:
                        record(Result(node, action_of(node), Status.FAILED, error="no result"))
    for node in nodes:  # only a cycle leaves nodes that never became ready
        if node not in results:
            results[node] = Result(node, action_of(node), Status.FAILED,
                                   error="not started: it waits on a dependency cycle")
            settle(results[node])
    return results

