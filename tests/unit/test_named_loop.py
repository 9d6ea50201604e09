"""The named loop of the AWS types (`NamedModule`) against a small in-memory service: one list call for
every resource of the type, another stack's object refused, a lost create answer taken back instead of
made twice, and tags repaired in place. The moto end-to-end tests run each real type through it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError
from reconcile_modules.aws.common import desired_tags
from reconcile_modules.aws.named_base import NamedModule

from reconciler.engine.diff import compute_change
from reconciler.errors import ModuleError
from reconciler.model import Action, Observed, Resource, Unobservable
from reconciler.targets.aws import OWNER_TAG, STACK_TAG
from tests.unit.fakes.aws_session import FakeAwsSession


class Notebooks:
    """A service keeping named notebooks: list (paginated), create, resize, tag."""

    def __init__(self) -> None:
        self.notebooks: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.lose_next_create_answer = False

    def get_paginator(self, operation: str) -> Any:
        service = self

        class Pages:
            def paginate(self, **_: Any) -> Iterable[dict[str, Any]]:
                service.calls.append(operation)
                yield {"Notebooks": [{"Name": n, "Arn": f"arn:nb:{n}", "Size": v["Size"]}
                                     for n, v in service.notebooks.items()]}
        return Pages()

    def list_tags(self, Arn: str) -> dict[str, Any]:
        self.calls.append("list_tags")
        return {"Tags": dict(self.notebooks[Arn.removeprefix("arn:nb:")]["Tags"])}

    def create_notebook(self, Name: str, Size: int, Tags: Mapping[str, str]) -> dict[str, Any]:
        self.calls.append("create_notebook")
        if Name in self.notebooks:
            raise ClientError({"Error": {"Code": "EntityAlreadyExists", "Message": "exists"}}, "CreateNotebook")
        self.notebooks[Name] = {"Size": Size, "Tags": dict(Tags)}
        if self.lose_next_create_answer:
            self.lose_next_create_answer = False
            raise ClientError({"Error": {"Code": "InternalError", "Message": "lost"},
                               "ResponseMetadata": {"HTTPStatusCode": 503}}, "CreateNotebook")
        return {"Arn": f"arn:nb:{Name}"}

    def resize(self, Name: str, Size: int) -> None:
        self.calls.append("resize")
        self.notebooks[Name]["Size"] = Size

    def tag(self, Name: str, Tags: Mapping[str, str]) -> None:
        self.calls.append("tag")
        self.notebooks[Name]["Tags"].update(Tags)

    def untag(self, Name: str, Keys: list[str]) -> None:
        self.calls.append("untag")
        for key in Keys:
            self.notebooks[Name]["Tags"].pop(key, None)


class NotebookModule(NamedModule):
    type_name = "test.notebook"
    name_attribute = "notebook_name"
    computed = frozenset({"arn"})
    service, kind = "notebooks", "notebook"
    listing, list_key = ("list_notebooks", "Notebooks"), "Name"

    def desired(self, resource: Resource) -> dict[str, Any]:
        return {"notebook_name": self.object_name(resource), "size": int(resource.get("size") or 1), "owned": True,
                "tags": desired_tags(resource)}

    def read_tags(self, client: Any, item: Any) -> dict[str, str]:
        return dict(client.list_tags(Arn=item["Arn"])["Tags"])

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"arn": item["Arn"], "size": item["Size"]}, {"arn": item["Arn"]}

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        return {"arn": client.create_notebook(Name=want["notebook_name"], Size=want["size"], Tags=tags)["Arn"]}

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> Mapping[str, Any] | None:
        if "size" in changed:
            client.resize(Name=want["notebook_name"], Size=want["size"])
        return None

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.tag(Name=identity["notebook_name"], Tags=tags)

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.untag(Name=identity["notebook_name"], Keys=keys)


def notebook(name: str, **attributes: Any) -> Resource:
    return Resource(f"test.notebook.{name}", "test.notebook", name, "us-east-1", attributes)


def ours(name: str, stack: str = "prod") -> dict[str, str]:
    return {OWNER_TAG: f"test.notebook.{name}", STACK_TAG: stack}


def test_one_list_call_for_every_resource_and_another_stacks_object_is_refused() -> None:
    service = Notebooks()
    service.notebooks = {"a": {"Size": 1, "Tags": ours("a")}, "b": {"Size": 2, "Tags": ours("b", "staging")}}
    found = NotebookModule().observe(FakeAwsSession(service), [notebook("a"), notebook("b"), notebook("c")])
    assert service.calls.count("list_notebooks") == 1
    assert isinstance(found["test.notebook.a"], Observed) and found["test.notebook.a"].ours
    assert found["test.notebook.a"].attributes["size"] == 1
    assert isinstance(found["test.notebook.b"], Unobservable)
    assert "staging" in found["test.notebook.b"].reason
    assert found["test.notebook.c"] is None


def test_an_object_made_by_hand_is_refused_unless_imported() -> None:
    service = Notebooks()
    service.notebooks = {"a": {"Size": 1, "Tags": {}}}
    module, session = NotebookModule(), FakeAwsSession(service)
    refused = module.observe(session, [notebook("a")])["test.notebook.a"]
    assert isinstance(refused, Unobservable) and "import: a" in refused.reason
    adopted = module.observe(session, [notebook("a", **{"import": "a"})])["test.notebook.a"]
    assert isinstance(adopted, Observed) and not adopted.ours


def test_a_lost_create_answer_takes_the_object_back_instead_of_making_a_second() -> None:
    service = Notebooks()
    service.lose_next_create_answer = True
    module, session, resource = NotebookModule(), FakeAwsSession(service), notebook("a", size=3)
    change = compute_change(module, resource, None)
    assert change.action is Action.CREATE
    made = module.apply(session, change)
    assert service.calls.count("create_notebook") == 1  # found by its marks: never sent again
    assert made.attributes["arn"] == "arn:nb:a" and made.identity["notebook_name"] == "a"
    assert service.notebooks["a"]["Tags"] == ours("a")


def test_a_name_taken_by_another_is_an_error_after_a_lost_answer() -> None:
    service = Notebooks()
    service.notebooks = {"a": {"Size": 1, "Tags": {"team": "other"}}}
    with pytest.raises(ModuleError, match="exists"):
        NotebookModule().apply(FakeAwsSession(service), compute_change(NotebookModule(), notebook("a"), None))
    assert service.notebooks["a"]["Tags"] == {"team": "other"}


def test_settings_and_tags_changed_behind_our_back_are_repaired_in_place() -> None:
    service = Notebooks()
    service.notebooks = {"a": {"Size": 1, "Tags": {**ours("a"), "extra": "by hand"}}}
    module, session = NotebookModule(), FakeAwsSession(service)
    resource = notebook("a", size=2, tags={"team": "data"})
    observed = module.observe(session, [resource])["test.notebook.a"]
    change = compute_change(module, resource, observed)
    assert change.action is Action.UPDATE
    assert {d.name for d in change.diffs} == {"size", "tags"}
    module.apply(session, change)
    assert service.notebooks["a"] == {"Size": 2, "Tags": {**ours("a"), "team": "data"}}
    again = module.observe(session, [resource])["test.notebook.a"]
    assert compute_change(module, resource, again).action is Action.NOOP
