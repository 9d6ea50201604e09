"""Observing ahead (engine/early_observe.py): a waiting resource is resolved with the state's values, and
its observation serves only the very same resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.engine.early_observe import Ahead
from reconciler.engine.observe import Observation
from reconciler.model import Observed, Resource
from reconciler.state.records import StateRecord


def record(address: str, **observed: Any) -> StateRecord:
    kind, name = address.rsplit(".", 1)
    return StateRecord(address, kind, name, "r", None, {}, {}, observed, (), False, "now")


def subnet(vpc_id: str) -> Resource:
    return Resource("net.subnet.a", "net.subnet", "a", "r", {"vpc_id": vpc_id, "cidr": "10.0.1.0/24"})


def resolve(address: str, known: Mapping[str, Mapping[str, Any]]) -> Resource:
    return subnet(str(known["net.vpc.main"]["id"]))


def referenced(address: str) -> list[str]:
    return ["net.vpc.main"] if address == "net.subnet.a" else []


def test_a_waiting_resource_is_resolved_with_what_the_state_recorded() -> None:
    ahead = Ahead()
    chosen = ahead.choose(["net.subnet.a"], referenced, {}, {"net.vpc.main": record("net.vpc.main", id="vpc-1")},
                          resolve)
    assert chosen == [subnet("vpc-1")]
    wave = Observation({"net.subnet.a": Observed({"cidr": "10.0.1.0/24"}), "net.vpc.main": None}, {})
    assert ahead.keep(wave) == Observation({"net.vpc.main": None}, {})  # the wave's own, apart
    assert ahead.take(subnet("vpc-1")) == Observed({"cidr": "10.0.1.0/24"}) and ahead.used == 1


def test_its_observation_does_not_serve_a_resource_resolved_otherwise_or_not_found() -> None:
    ahead = Ahead()
    records = {"net.vpc.main": record("net.vpc.main", id="vpc-1")}
    ahead.choose(["net.subnet.a"], referenced, {}, records, resolve)
    ahead.keep(Observation({"net.subnet.a": Observed({"cidr": "10.0.1.0/24"})}, {}))
    assert ahead.take(subnet("vpc-2")) is None  # the VPC was replaced: observed again in its wave
    ahead = Ahead()
    ahead.choose(["net.subnet.a"], referenced, {}, records, resolve)
    ahead.keep(Observation({"net.subnet.a": None}, {}))
    assert ahead.take(subnet("vpc-1")) is None  # not found ahead: looked for again, resolved for real
    ahead = Ahead()
    ahead.choose(["net.subnet.a"], referenced, {}, records, resolve)
    ahead.keep(Observation({}, {"net.subnet.a": "throttled"}))
    assert ahead.take(subnet("vpc-1")) is None and ahead.used == 0


def test_a_resource_reading_what_the_state_does_not_hold_waits_for_its_turn() -> None:
    ahead = Ahead()
    assert ahead.choose(["net.subnet.a"], referenced, {}, {}, resolve) == []

    def failing(address: str, known: Mapping[str, Mapping[str, Any]]) -> Resource:
        raise KeyError("id")

    records = {"net.vpc.main": record("net.vpc.main")}
    assert ahead.choose(["net.subnet.a"], referenced, {}, records, failing) == []
