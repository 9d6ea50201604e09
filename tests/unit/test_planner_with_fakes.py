"""The planner's edge cases on the fake world (tests/unit/fakes/world.py), through the library API: moved and
removed entries, what becomes of resources that leave the spec (ghosts), data-loss hazards, an empty spec,
handlers, and a dependency that could not be observed. Each asserts on the plan and on the fake world's calls
and objects; the end-to-end suites cover the same rules on real targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler import Session
from reconciler.model import Action, Selection, Status
from reconciler.state.operations import adopt
from tests.unit.fakes.registry import fake_session
from tests.unit.fakes.world import World


@pytest.fixture
def world() -> World:
    return World()


def session(tmp_path: Path, world: World, body: str) -> Session:
    return fake_session(tmp_path, world, body)


def by_address(plan: Any) -> dict[str, Any]:
    return {c.address: c for c in plan.changes}


def test_moved_hands_the_record_over_and_touches_nothing(tmp_path: Path, world: World) -> None:
    session(tmp_path, world, "resources:\n  - {type: fake.thing, name: old, size: 1}\n").apply()
    world.calls.clear()
    s = session(tmp_path, world, """resources:
  - {type: fake.thing, name: new, size: 1}
moved:
  - {from: fake.thing.old, to: fake.thing.new}
""")
    plan = s.plan()
    change = by_address(plan)["fake.thing.new"]
    assert change.moved_from == "fake.thing.old" and not plan.blockers
    assert "fake.thing.old" not in by_address(plan)  # not a ghost: its record moved


def test_a_moved_entry_that_names_nothing_blocks_the_plan(tmp_path: Path, world: World) -> None:
    session(tmp_path, world, "resources:\n  - {type: fake.thing, name: web, size: 1}\n").apply()
    plan = session(tmp_path, world, """resources:
  - {type: fake.thing, name: web2, size: 1}
moved:
  - {from: fake.thing.wbe, to: fake.thing.web2}
""").plan()
    assert any("moved: fake.thing.wbe names nothing in the state (did you mean fake.thing.web?)" in b
               for b in plan.blockers)


@pytest.mark.parametrize(("destroy", "action", "stays"), [(False, Action.FORGET, True), (True, Action.DELETE, False)])
def test_removed_says_whether_the_object_goes(tmp_path: Path, world: World, destroy: bool, action: Action,
                                              stays: bool) -> None:
    session(tmp_path, world, "resources:\n  - {type: fake.thing, name: a, size: 1}\n"
            "  - {type: fake.thing, name: b, size: 2}\n").apply()
    s = session(tmp_path, world, "resources:\n  - {type: fake.thing, name: b, size: 2}\n"
                f"removed:\n  - {{address: fake.thing.a, destroy: {str(destroy).lower()}}}\n")
    assert by_address(s.plan())["fake.thing.a"].action is action
    s.apply()
    assert ("a" in world.objects) is stays
    with s.state() as store:
        assert "fake.thing.a" not in store.records()  # forgotten either way


def test_what_reconcile_created_is_pruned_and_what_it_adopted_stays(tmp_path: Path, world: World) -> None:
    world.objects["found"] = {"size": 5, "id": world.new_id()}  # made by someone else
    s = session(tmp_path, world, "resources:\n  - {type: fake.thing, name: made, size: 1}\n"
                "  - {type: fake.thing, name: found, size: 5}\n")
    s.plan()
    with s.state(lock="test") as store:
        adopt(store, next(r for r in s.validate().spec.resources if r.name == "found"), {"id": "found"})
    s.apply()
    s = session(tmp_path, world, "resources: []\n")
    plan = by_address(s.plan())
    assert plan["fake.thing.made"].action is Action.DELETE
    found = plan["fake.thing.found"]
    assert found.action is Action.FORGET and "existed before reconcile" in found.reason
    s.apply()
    assert set(world.objects) == {"found"}


def test_a_spec_without_resources_does_not_destroy_the_stack_unless_asked(tmp_path: Path, world: World) -> None:
    session(tmp_path, world, "resources:\n  - {type: fake.thing, name: a, size: 1}\n").apply()
    s = session(tmp_path, world, "vars: {}\n")  # the resources: key itself is missing (a truncated file)
    plan = s.plan()
    assert any("has no resources" in b and "--allow-empty" in b for b in plan.blockers)
    with pytest.raises(Exception, match="has no resources"):
        s.apply()
    assert "a" in world.objects
    s.apply(Selection(allow_empty=True))
    assert "a" not in world.objects


def test_destroying_data_is_a_hazard_that_blocks_the_plan(tmp_path: Path, world: World) -> None:
    session(tmp_path, world, "resources:\n  - {type: fake.volume, name: data, size: 3}\n"
            "  - {type: fake.volume, name: empty, size: 0}\n").apply()
    s = session(tmp_path, world, "resources: []\n")
    plan = s.plan()
    assert any("fake.volume.data" in b and "holds 3 units of data" in b for b in plan.blockers)
    assert not any("fake.volume.empty" in b for b in plan.blockers)  # nothing to lose
    with pytest.raises(Exception, match="holds 3 units"):
        s.apply()
    assert {"data", "empty"} <= set(world.objects)  # nothing was destroyed
    s.apply(Selection(allow_data_loss=True))
    assert not world.objects


def test_a_handler_acts_only_when_its_cause_changes(tmp_path: Path, world: World) -> None:
    def spec(size: int) -> str:
        return ("resources:\n"
                f"  - {{type: fake.thing, name: config, size: {size}, notify: [fake.handler.reload]}}\n"
                "  - {type: fake.handler, name: reload, size: 1}\n")

    session(tmp_path, world, spec(1)).apply()
    unchanged = by_address(session(tmp_path, world, spec(1)).plan())["fake.handler.reload"]
    assert unchanged.action is Action.NOOP
    plan = by_address(session(tmp_path, world, spec(2)).plan())
    rerun = plan["fake.handler.reload"]
    assert rerun.action is Action.UPDATE and rerun.verb == "rerun" and rerun.triggered_by == ("fake.thing.config",)
    world.calls.clear()
    session(tmp_path, world, spec(2)).apply()
    assert world.calls.index(("apply", ("config",))) < world.calls.index(("apply", ("reload",)))  # cause first


def test_a_resource_that_cannot_be_observed_is_not_planned_and_its_dependents_wait(tmp_path: Path,
                                                                                    world: World) -> None:
    from reconciler.errors import ModuleError

    s = session(tmp_path, world, "resources:\n  - {type: fake.thing, name: a, size: 1}\n"
                "  - {type: fake.thing, name: b, parent: \"${fake.thing.a.id}\"}\n")
    original = World.record

    def refuse_a(self: World, call: str, *names: str) -> None:
        original(self, call, *names)
        if call == "observe" and "a" in names:
            raise ModuleError("the world is unreachable")

    World.record = refuse_a  # type: ignore[method-assign]
    try:
        plan = s.plan()
    finally:
        World.record = original  # type: ignore[method-assign]
    changes = by_address(plan)
    assert "fake.thing.a" in plan.failures and changes["fake.thing.a"].action is Action.NOOP
    assert changes["fake.thing.b"].action is Action.CREATE  # planned on an unknown parent, never applied alone
    outcome = s.apply()
    assert all(r.status is Status.OK for r in outcome.results)  # the world is reachable again
