"""The observation of the AWS types whose objects belong to a parent and carry no tags (`ChildModule`),
against an in-memory service: one listing per parent, a child known by what the state recorded, one with
the same key but not recorded refused, and one that went away absent. The moto tests run the real types."""

from __future__ import annotations

from typing import Any

from reconcile_modules.aws.child_base import ChildModule

from reconciler.model import Observed, Resource, Unobservable
from tests.unit.fakes.aws_session import FakeAwsSession


class Mailboxes:
    """A parent's children: mailbox -> its subscribers (id, address)."""

    def __init__(self, boxes: dict[str, list[dict[str, str]]]):
        self.boxes, self.listed = boxes, []

    def subscribers(self, box: str) -> list[dict[str, str]]:
        self.listed.append(box)
        return list(self.boxes.get(box, []))


class SubscriberModule(ChildModule):
    type_name = "test.subscriber"
    service, parent_attribute = "mail", "box"

    def children(self, client: Any, parent: str) -> list[Any]:
        return list(client.subscribers(parent))

    def recorded(self, resource: Resource) -> str | None:
        return str(resource.prior.get("id") or resource.get("import") or "") or None

    def named(self, child: Any, name: str) -> bool:
        return bool(child["id"] == name)

    def same_key(self, resource: Resource, child: Any) -> bool:
        return bool(child["address"] == resource.get("address"))

    def refusal(self, resource: Resource, child: Any) -> str:
        return f"{child['address']} is subscribed already; set import: {child['id']} to take it over"

    def read(self, client: Any, resource: Resource, child: Any) -> Observed:
        return Observed({"box": self.parent_of(resource), "address": child["address"]}, identity={"id": child["id"]})


def subscriber(name: str, box: str, address: str, prior: dict[str, Any] | None = None, **more: Any) -> Resource:
    return Resource(f"test.subscriber.{name}", "test.subscriber", name, "us-east-1",
                    {"box": box, "address": address, **more}, prior=prior or {})


def test_one_listing_per_parent_and_each_child_found_by_what_the_state_recorded() -> None:
    service = Mailboxes({"ops": [{"id": "s1", "address": "a@x"}, {"id": "s2", "address": "b@x"}],
                         "dev": [{"id": "s3", "address": "c@x"}]})
    found = SubscriberModule().observe(FakeAwsSession(service), [
        subscriber("a", "ops", "a@x", {"id": "s1"}), subscriber("b", "ops", "b@x", {"id": "s2"}),
        subscriber("c", "dev", "c@x", {"id": "s3"})])
    assert sorted(service.listed) == ["dev", "ops"]
    assert {a: o.identity["id"] for a, o in found.items() if isinstance(o, Observed)} == {
        "test.subscriber.a": "s1", "test.subscriber.b": "s2", "test.subscriber.c": "s3"}


def test_a_child_with_the_same_key_not_recorded_is_refused_unless_imported() -> None:
    service = Mailboxes({"ops": [{"id": "s1", "address": "a@x"}]})
    module, session = SubscriberModule(), FakeAwsSession(service)
    refused = module.observe(session, [subscriber("a", "ops", "a@x")])["test.subscriber.a"]
    assert isinstance(refused, Unobservable) and "import: s1" in refused.reason
    taken = module.observe(session, [subscriber("a", "ops", "a@x", **{"import": "s1"})])["test.subscriber.a"]
    assert isinstance(taken, Observed) and taken.identity == {"id": "s1"}


def test_a_recorded_child_that_went_away_and_a_new_one_are_absent() -> None:
    service = Mailboxes({"ops": []})
    found = SubscriberModule().observe(FakeAwsSession(service), [subscriber("a", "ops", "a@x", {"id": "s1"}),
                                                          subscriber("b", "gone", "b@x")])
    assert found == {"test.subscriber.a": None, "test.subscriber.b": None}
