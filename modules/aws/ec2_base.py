"""The shared loop of the EC2 types (VPC, subnet, security group, instance, volume…): found by the id the
state recorded, else by their stack and address tags, with one paginated describe for every resource of
the type. A new EC2 type is one subclass naming its describe call and how it creates."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Action, AttrDiff, Change, Observed, Resource
from reconciler.module import Module
from reconciler.targets.aws import (
    OWNER_TAG,
    STACK_TAG,
    AwsSession,
)

from .common import (
    all_tags,
    api_errors,
    carries_marks,
    describe_owned,
    discover_tagged,
    not_ours,
    paginate,
    sync_ec2_tags,
    user_tags,
)


class Ec2Module(Module[AwsSession], TerraformForm, Discovers):
    """EC2 resources (VPC, subnet, security group, instance, volume): found by the id the state recorded,
    else by their stack and address tags, with one paginated describe for every resource of the type.

    Ownership tags that were removed or changed behind our back are drift (`owned`), repaired by
    tagging the object again; they never make reconcile lose track of it."""

    family = "aws"
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True
    describe: tuple[str, str, str, str]  # operation, result key, id key, id filter name

    def list_items(self, session: AwsSession, filters: list[dict[str, Any]]) -> list[Any]:
        operation, key, _, _ = self.describe
        return paginate(session.client("ec2"), operation, key, Filters=filters)

    def find(self, session: AwsSession, resources: Sequence[Resource]) -> dict[str, Any]:
        _, _, id_key, id_filter = self.describe
        return describe_owned(session, resources, lambda f: self.list_items(session, f), id_key, id_filter)

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_tagged(session, lambda f: self.list_items(session, f), self.describe[2])

    # Types whose objects carry a name AWS keeps unique (per account, or per VPC for security groups): the
    # describe filter of that name. A name the stack's own objects do not hold is looked up before the plan
    # says create (one call for all), so another stack's object, or one made by hand, is refused in the plan.
    name_filter: str | None = None
    name_kind = "object"

    def object_name(self, resource: Resource) -> str:
        """The unique name the spec gives the object (the type's `name_attribute`)."""
        return str(resource.get(str(self.name_attribute)) or "")

    def same_object(self, resource: Resource, item: Mapping[str, Any]) -> bool:
        """The described object holding the name is the one the resource would make (same scope)."""
        return True

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        out: dict[str, Any] = {}
        found = self.find(session, resources)
        for r in resources:
            item = found[r.address]
            if not isinstance(item, dict):
                out[r.address] = item  # None (absent) or Unobservable
                continue
            out[r.address] = self.observed(session, r, item, self.attributes(session, r, item))
        missing = [r for r in resources if out.get(r.address) is None and self.object_name(r)]
        if self.name_filter and missing:
            with api_errors():
                held = self.list_items(session, [{"Name": self.name_filter,
                                                  "Values": sorted({self.object_name(r) for r in missing})}])
            for r in missing:
                for item in held:
                    if self.name_of(item) == self.object_name(r) and self.same_object(r, item):
                        refused = not_ours(self.name_kind, self.object_name(r), all_tags(item.get("Tags")), r,
                                           session)
                        if refused is not None:
                            out[r.address] = refused
        return out

    def name_of(self, item: Mapping[str, Any]) -> str:
        """The unique name of a described object."""
        return ""

    def observed(self, session: AwsSession, resource: Resource, item: Mapping[str, Any],
                 attributes: Mapping[str, Any]) -> Observed:
        ident = item[self.describe[2]]
        tags = all_tags(item.get("Tags"))
        marked = carries_marks(tags, resource, session)
        extras = list(item.get("_duplicates") or [])
        return Observed({"id": ident, "tags": user_tags(item.get("Tags")), **attributes, "owned": marked,
                         "duplicates": extras},
                        identity={"id": ident, "tags": tags, "duplicates": extras}, ours=marked)

    def tagged_item(self, session: AwsSession, resource: Resource) -> dict[str, Any] | None:
        """The object already tagged as this resource of this stack, if a create whose answer was lost made it."""
        items = self.list_items(session, [{"Name": f"tag:{OWNER_TAG}", "Values": [resource.address]},
                                          {"Name": f"tag:{STACK_TAG}", "Values": [session.stack]}])
        old = resource.prior.get("id")  # the object being replaced is never "the new one"
        fresh = [i for i in items if i.get(self.describe[2]) != old]
        return dict(fresh[0]) if fresh else None

    def client_token(self, session: AwsSession, resource: Resource) -> str:
        """The same create of the same resource in one run is one object, where the API takes a token."""
        digest = hashlib.sha256(f"{session.stack}|{resource.address}|{session.run_id}".encode()).hexdigest()
        return digest[:64]

    def attributes(self, session: AwsSession, resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
        """The spec's view of one described object (id, tags and ownership are added by observe)."""
        raise NotImplementedError

    def refine_change(self, change: Change, resource: Resource, observed: Observed | None) -> Change:
        if observed is None or change.action not in (Action.NOOP, Action.UPDATE):
            return change
        extra: list[AttrDiff] = []
        if not observed.attributes.get("owned", True):  # tags stripped or changed behind our back: tag it again
            extra.append(AttrDiff("owned", False, True))
        if observed.attributes.get("duplicates"):  # copies made by a create whose answer was lost: removed
            extra.append(AttrDiff("duplicates", observed.attributes["duplicates"], []))
        if not extra:
            return change
        reason = "remove duplicates tagged as this resource" if len(extra) and extra[-1].name == "duplicates" else ""
        return dataclasses.replace(change, action=Action.UPDATE, diffs=change.diffs + tuple(extra),
                                   reason=change.reason or reason)

    def retag(self, session: AwsSession, change: Change, resource_id: str) -> None:
        """Make the object's tags the spec's plus the ownership tags, and remove duplicates of it, when the
        plan found them."""
        assert change.resource is not None and change.observed is not None
        changed = {d.name for d in change.diffs}
        if {"tags", "owned"} & changed:
            sync_ec2_tags(session.client("ec2"), resource_id, change.resource,
                          change.observed.identity.get("tags", {}), session)
        if "duplicates" in changed:
            for extra in change.observed.identity.get("duplicates") or []:
                self.delete(session, change.resource, Observed({"id": extra}, identity={"id": extra}))
