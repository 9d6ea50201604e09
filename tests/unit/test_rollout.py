"""Rolling batches and gates as pure logic: batch sizes (count and percentage), order, gate placement,
and a dependency from an early batch onto a later one refused before anything runs."""

from __future__ import annotations

import networkx as nx
import pytest

from reconciler.engine.rollout import stages
from reconciler.errors import ReconcileError
from reconciler.inventory import Rollout
from reconciler.model import Action, Change, Resource


def change(name: str, host: str, action: Action = Action.UPDATE) -> Change:
    r = Resource(f"file.{name}[{host}]", "file", name, host, {}, host=host)
    return Change(r.address, "file", action, resource=r)


HOSTS = tuple(f"h{i}" for i in range(1, 8))


def test_batches_follow_serial_and_skip_hosts_without_changes() -> None:
    changes = [change("a", h) for h in HOSTS if h != "h2"] + [change("b", "h2", Action.NOOP)]
    found = stages({"web": Rollout("web", HOSTS, serial=2)}, changes, nx.DiGraph())
    assert [g.batch for g in found.gates.values()] == [("h1", "h3"), ("h4", "h5"), ("h6", "h7")]
    assert found.prerequisites["file.a[h4]"] == {"rollout.web[1]"}
    assert found.prerequisites["rollout.web[2]"] == {"file.a[h4]", "file.a[h5]", "rollout.web[1]"}
    assert found.gates["rollout.web[1]"].later == ("h4", "h5", "h6", "h7")
    assert "file.a[h1]" not in found.prerequisites  # the first batch waits for nothing


def test_a_percentage_is_of_the_whole_group_and_never_below_one() -> None:
    assert Rollout("web", HOSTS, serial="30%").batch_size() == 2
    assert Rollout("web", HOSTS, serial="1%").batch_size() == 1
    assert Rollout("web", HOSTS, serial="100%").batch_size() == 7


def test_an_early_batch_depending_on_a_later_one_is_refused() -> None:
    changes = [change("a", h) for h in ("h1", "h2")]
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_edge("file.a[h2]", "file.a[h1]")  # h1 (batch 1) waits for h2 (batch 2)
    with pytest.raises(ReconcileError, match=r"file.a\[h2\] \(on h2\)"):
        stages({"web": Rollout("web", ("h1", "h2"), serial=1)}, changes, graph)


def test_a_stopped_batch_is_checked_again_while_the_spec_still_puts_something_there() -> None:
    rollouts = {"web": Rollout("web", HOSTS, serial=1)}
    kept = stages(rollouts, [change("a", "h1", Action.NOOP)], nx.DiGraph(), resume={"web": ["h1"]})
    assert [g.batch for g in kept.gates.values()] == [("h1",)] and not kept.dropped
    gone = stages(rollouts, [], nx.DiGraph(), resume={"web": ["h1"]})  # everything on h1 left the spec
    assert not gone.gates and gone.dropped == {"web"}
