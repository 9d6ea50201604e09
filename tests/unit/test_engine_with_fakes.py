"""The engine's stages through the library API, on a recording fake module and an in-memory target:
the walk (skips, batch fallback, the two phases), unknown values, the state's scrubbing and comparison,
drift classes and the stale-plan check. No host, engine or cloud."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import Session
from reconciler.errors import ReconcileError
from reconciler.model import UNKNOWN, Action, Resource, Selection, Status
from reconciler.state.records import StateRecord, attributes_differ, scrub
from tests.unit.fakes.registry import fake_session
from tests.unit.fakes.world import World


@pytest.fixture
def world() -> World:
    return World()


def session(tmp_path: Path, world: World, body: str) -> Session:
    return fake_session(tmp_path, world, "resources:\n" + body)


def test_a_failure_skips_its_dependents_and_nothing_else(tmp_path: Path, world: World) -> None:
    s = session(tmp_path, world, """
  - {type: fake.thing, name: a, size: 1, fail: "no"}
  - {type: fake.thing, name: b, parent: "${fake.thing.a.id}"}
  - {type: fake.thing, name: c, parent: "${fake.thing.b.id}"}
  - {type: fake.thing, name: other, size: 2}
""")
    outcome = s.apply()
    status = {r.address: r.status for r in outcome.results}
    assert status == {"fake.thing.a": Status.FAILED, "fake.thing.b": Status.SKIPPED,
                      "fake.thing.c": Status.SKIPPED, "fake.thing.other": Status.OK}
    assert set(world.objects) == {"other"}
    assert ("apply", ("b",)) not in world.calls


def test_unknown_values_flow_to_dependents(tmp_path: Path, world: World) -> None:
    s = session(tmp_path, world, """
  - {type: fake.thing, name: a, size: 1}
  - {type: fake.thing, name: b, parent: "${fake.thing.a.id}"}
""")
    plan = s.plan()
    b = next(c for c in plan.changes if c.address == "fake.thing.b")
    assert b.action is Action.CREATE and b.resource is not None and b.resource.get("parent") is UNKNOWN
    assert world.calls == [("observe", ("a",))]  # b waits on a value nobody knows yet: nothing to observe
    s.apply()
    assert world.objects["b"]["parent"] == world.objects["a"]["id"]
    assert not session(tmp_path, world, """
  - {type: fake.thing, name: a, size: 1}
  - {type: fake.thing, name: b, parent: "${fake.thing.a.id}"}
""").plan().actionable


def test_a_failed_batch_is_retried_one_by_one(tmp_path: Path, world: World) -> None:
    s = session(tmp_path, world, """
  - {type: fake.batch, name: p1}
  - {type: fake.batch, name: p2, fail: "bad package"}
  - {type: fake.batch, name: p3}
""")
    outcome = s.apply()
    assert ("apply_many", ("p1", "p2", "p3")) in world.calls
    assert {r.address: r.status for r in outcome.results} == {
        "fake.batch.p1": Status.OK, "fake.batch.p2": Status.FAILED, "fake.batch.p3": Status.OK}
    assert "bad package" in next(r.error for r in outcome.results if r.status is Status.FAILED)


def test_destroys_run_first_in_reverse_order_then_creates(tmp_path: Path, world: World) -> None:
    body = """
  - {type: fake.thing, name: base}
  - {type: fake.thing, name: mid, parent: "${fake.thing.base.id}"}
  - {type: fake.thing, name: top, parent: "${fake.thing.mid.id}"}
"""
    session(tmp_path, world, body).apply()
    world.calls.clear()
    s = session(tmp_path, world, """
  - {type: fake.thing, name: fresh}
  - {type: fake.thing, name: base, kind: other}
""")
    plan = s.plan()
    assert {c.address: c.action for c in plan.actionable} == {
        "fake.thing.fresh": Action.CREATE, "fake.thing.base": Action.REPLACE,
        "fake.thing.mid": Action.DELETE, "fake.thing.top": Action.DELETE}
    world.calls.clear()
    s.apply(plan_selection := Selection())
    order = [c for c in world.calls if c[0] in ("apply", "delete")]
    assert order.index(("delete", ("top",))) < order.index(("delete", ("mid",))) < order.index(("delete", ("base",)))
    assert order.index(("delete", ("base",))) < order.index(("apply", ("base",)))
    assert plan_selection.prune


def test_scrub_and_attributes_differ() -> None:
    scrubbed = scrub({"content": "x" * 10, "password": "hunter2", "size": 3}, {"password"}, {"content"})
    assert scrubbed["size"] == 3 and "hunter2" not in str(scrubbed) and "x" * 10 not in str(scrubbed)
    record = StateRecord("fake.thing.a", "fake.thing", "a", "local", None, {}, scrubbed, {}, (), False, "", "created")
    same = Resource("fake.thing.a", "fake.thing", "a", "local",
                    attributes={"content": "x" * 10, "password": "hunter2", "size": 3})
    other = Resource("fake.thing.a", "fake.thing", "a", "local",
                     attributes={"content": "x" * 10, "password": "changed", "size": 3})
    assert not attributes_differ(record, same, {"password"}, {"content"})
    assert attributes_differ(record, other, {"password"}, {"content"})


def test_drift_classes(tmp_path: Path, world: World) -> None:
    body = """
  - {type: fake.thing, name: kept, size: 1}
  - {type: fake.thing, name: edited, size: 1}
  - {type: fake.thing, name: gone, size: 1}
"""
    session(tmp_path, world, body).apply()
    world.objects["edited"]["size"] = 99  # behind reconcile's back
    del world.objects["gone"]
    pending = session(tmp_path, world, body + "  - {type: fake.thing, name: new, size: 1}\n")
    report = pending.drift(record=False).report
    kinds = {item.address: item.kind for item in report.items}
    assert kinds == {"fake.thing.edited": "drifted", "fake.thing.gone": "missing", "fake.thing.new": "pending"}


def test_a_saved_plan_goes_stale_when_the_world_or_state_moves(tmp_path: Path, world: World) -> None:
    from reconciler.report.plan_text import plan_to_json
    from reconciler.state.planfile import saved_plan_body

    s = session(tmp_path, world, "  - {type: fake.thing, name: a, size: 1}\n")
    plan = s.plan()
    saved = saved_plan_body(plan_to_json(plan), plan, str(s.spec_path), str(s.state_file), Selection(), s.ws)
    saved |= {"backend": "local", "state_location": str(s.state_file)}
    world.objects["a"] = {"size": 5, "id": "made-by-hand"}  # the world moved after the plan was saved
    with pytest.raises(ReconcileError, match="stale|changed"):
        s.apply(saved=saved)
    assert world.objects["a"]["id"] == "made-by-hand"


def test_json_events_tick_with_an_injected_clock() -> None:
    import io
    import json

    from reconciler.model import Change, Result
    from reconciler.report.events import JsonEvents

    now = [100.0]
    out = io.StringIO()
    events = JsonEvents(out, every=10, clock=lambda: now[0], timestamp=lambda: "T")
    change = Change("fake.thing.a", "fake.thing", Action.CREATE)
    events.started(change)
    now[0] = 105.0
    events.tick()  # under `every`: nothing
    now[0] = 131.0
    events.tick()
    events.finished(Result("fake.thing.a", Action.CREATE, Status.OK, seconds=31.0))
    events.tick()  # finished: no more progress
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["type"] for e in lines] == ["started", "progress", "completed"]
    assert lines[1]["elapsed_seconds"] == 31.0 and lines[1]["timestamp"] == "T"
