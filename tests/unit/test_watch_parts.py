"""`watch`'s parts on their own: durations, dotted ignore_changes and co-managed attributes in the diff, the
drift ledger, the blast radius on the fake world, the settings, and the HTTP side (routes, token, fuzzed
requests) in process. The end-to-end suite (tests/e2e/test_watch.py) runs the real service."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.durations import seconds, spoken
from reconciler.engine.diff import change_for
from reconciler.engine.drift import DriftItem, DriftReport
from reconciler.errors import ReconcileError
from reconciler.model import Action, Lifecycle, Observed, Resource
from reconciler.module import Module
from reconciler.watch.cycle import run_once
from reconciler.watch.ledger import DriftLedger
from reconciler.watch.metrics import WatchMetrics
from reconciler.watch.server import Service, make_server
from reconciler.watch.settings import listen_address, watch_settings
from reconciler.watch.status import WatchStatus
from tests.unit.fakes.registry import fake_session
from tests.unit.fakes.world import World


def test_durations() -> None:
    assert [seconds(v) for v in ("90", "30s", "5m", "1h30m", "500ms", 2, 0.5)] == [90, 30, 300, 5400, 0.5, 2, 0.5]
    for bad in ("soon", "", "5 m", "-1s", True, -3):
        with pytest.raises(ValueError):
            seconds(bad)  # type: ignore[arg-type]
    assert [spoken(v) for v in (0.5, 30, 600, 5400)] == ["0.5s", "30s", "10m", "1h30m"]


class Tagged(Module):  # type: ignore[type-arg]
    type_name = "tagged"
    co_managed: ClassVar[frozenset[str]] = frozenset({"capacity"})


NO_LIFECYCLE = Lifecycle()


def tagged(lifecycle: Lifecycle = NO_LIFECYCLE, **attrs: object) -> Resource:
    return Resource("tagged.a", "tagged", "a", "local", attrs, lifecycle=lifecycle)


def test_dotted_ignore_changes_leave_one_key_to_the_world() -> None:
    ignoring = Lifecycle(ignore_changes=frozenset({"tags.LastSeen"}))
    found = Observed({"tags": {"team": "data", "LastSeen": "monday"}})
    assert change_for(Tagged(), tagged(ignoring, tags={"team": "data"}), found).action is Action.NOOP
    assert change_for(Tagged(), tagged(tags={"team": "data"}), found).action is Action.UPDATE
    update = change_for(Tagged(), tagged(ignoring, tags={"team": "ops"}), found)
    assert update.action is Action.UPDATE
    assert update.resource is not None and update.resource.attributes["tags"] == {"team": "ops", "LastSeen": "monday"}
    nested = Lifecycle(ignore_changes=frozenset({"labels.a.b"}))
    assert change_for(Tagged(), tagged(nested, labels={"a": {"b": 1, "c": 2}}),
                      Observed({"labels": {"a": {"b": 9, "c": 2}}})).action is Action.NOOP


def test_co_managed_attributes_are_drift_only_when_the_spec_sets_them() -> None:
    found = Observed({"capacity": 7, "size": 1})
    assert change_for(Tagged(), tagged(size=1), found).action is Action.NOOP
    assert change_for(Tagged(), tagged(size=1, capacity=3), found).action is Action.UPDATE


def item(address: str, kind: str = "drifted") -> DriftItem:
    return DriftItem(address, "fake.thing", kind, "update", ({"name": "size", "actual": 1, "wanted": 2},))


def test_the_ledger_says_each_drift_once_and_its_end_once() -> None:
    ledger = DriftLedger()
    first = ledger.observe(DriftReport((item("a"), item("b"))))
    assert [i.address for i in first.new] == ["a", "b"] and not first.resolved
    again = ledger.observe(DriftReport((item("a"), item("b"))))
    assert not again.new and not again.resolved
    partial = ledger.observe(DriftReport(()), observed={"a"})  # b was not looked at: its drift stays
    assert [i.address for i in partial.resolved] == ["a"] and set(ledger.current) == {"b"}
    failing = ledger.observe(DriftReport((), errors={"b": "unreachable"}))
    assert not failing.resolved and set(ledger.current) == {"b"}
    assert [i.address for i in ledger.repaired(["b", "c"])] == ["b"] and not ledger.current


def test_the_blast_radius_on_the_fake_world(tmp_path: Path) -> None:
    world = World()
    spec = """resources:
  - {type: fake.thing, name: a, size: 1, drift: {remediate: auto}}
  - {type: fake.thing, name: b, size: 1, drift: {remediate: auto}}
  - {type: fake.thing, name: c, size: 1}
"""
    fake_session(tmp_path, world, spec).apply()
    for name in "abc":
        world.objects[name]["size"] = 5
    held = run_once(fake_session(tmp_path, world, spec), 1, max_changes=1)
    assert held.result == "held" and held.held is not None and "max_changes (1)" in held.held.why
    assert all(world.objects[n]["size"] == 5 for n in "abc")  # applied by nobody
    repaired = run_once(fake_session(tmp_path, world, spec), 2, max_changes=2)
    assert repaired.result == "remediated" and repaired.repaired == ("fake.thing.a", "fake.thing.b")
    assert [world.objects[n]["size"] for n in "abc"] == [1, 1, 5]  # c's policy is report
    kinds = spec.replace("name: a, size: 1", "name: a, size: 1, kind: k")
    fake_session(tmp_path, world, kinds).apply()
    world.objects["a"]["kind"] = "other"  # repairing it is a replacement: never automatic
    risky = run_once(fake_session(tmp_path, world, kinds), 3, max_changes=10)
    assert risky.result == "held" and risky.held is not None and "replace fake.thing.a" in risky.held.why
    assert world.objects["a"]["kind"] == "other"
    broken = run_once(fake_session(tmp_path, world, "resources: [{type: fake.thing}]\n"), 4, max_changes=1)
    assert broken.result == "failed" and "name" in broken.error


def test_settings_and_listen_addresses() -> None:
    s = watch_settings({"interval": "5m", "max_changes": 3, "notify": ["http://127.0.0.1:1/h"]})
    assert (s.interval, s.max_changes, s.notify) == (300, 3, ("http://127.0.0.1:1/h",))
    s = watch_settings({"interval": "5m"}, interval="30s", max_changes=0, notify=["http://x/"])
    assert (s.interval, s.max_changes, s.notify) == (30, 0, ("http://x/",))
    assert watch_settings(None).interval == 600
    for bad in ("soon", "0"):
        with pytest.raises(ReconcileError):
            watch_settings(None, interval=bad)
    assert listen_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert listen_address("9000") == ("127.0.0.1", 9000)
    assert listen_address("[::1]:80") == ("::1", 80)
    with pytest.raises(ReconcileError):
        listen_address("localhost:http")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, threading.Event]]:
    wake = threading.Event()
    server = make_server(Service(WatchStatus("site", 60, 3), WatchMetrics(), wake, lambda text: text, "tok"),
                         "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", wake
    server.shutdown()
    server.server_close()


def call(url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None) -> int:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_routes_methods_and_the_token(served: tuple[str, threading.Event]) -> None:
    url, wake = served
    assert [call(url + p) for p in ("/", "/metrics", "/api/status", "/api/status?x=1")] == [200] * 4
    assert call(url + "/run", "POST", body=b"") == 401
    assert not wake.is_set()
    assert call(url + "/run", "POST", {"Authorization": "Bearer tok"}, b"") == 202 and wake.is_set()
    assert call(url + "/run") == 405 and call(url + "/", "PUT", body=b"x") == 405
    assert call(url + "/../etc/passwd") == 404 and call(url + "/metrics/") == 404


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
       path=st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="#%"), max_size=40),
       body=st.binary(max_size=200))
def test_no_request_makes_the_server_fail(served: tuple[str, threading.Event], method: str, path: str,
                                          body: bytes) -> None:
    url, _ = served
    code = call(url + "/" + path.lstrip("/"), method, body=body if method in ("POST", "PUT", "PATCH") else None)
    assert code in (200, 202, 401, 404, 405, 413)
