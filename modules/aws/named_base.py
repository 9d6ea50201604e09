"""The shared loop of the AWS types whose objects are known by a name unique in the account (log groups,
topics, queues, rules, alarms, DB groups, IAM objects…): one paginated list for every resource of the
type, the names the spec and the state give, the stack's ownership tags in one Tagging API call, each
listed object read (several at once), refused when another stack or a hand holds the name, created once
with its ownership tags even when an answer is lost, and retagged. A new named type is one subclass saying
its service, its list call and name key, and how one object is read, created, changed and tagged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Module
from reconciler.targets.aws import AwsSession

from .common import (
    api_errors,
    carries_marks,
    create_once,
    discover_named,
    not_ours,
    ours_now,
    ownership_tags,
    paginate,
    read_each,
    remembered,
    retag,
    stack_tags,
    visible_tags,
    with_snapshot,
)


class NamedModule(Module[AwsSession], TerraformForm):
    """An AWS object found by its name: the spec's (`name_attribute`, else the resource's name), or the one
    the state recorded when the spec renamed it (the plan then replaces it)."""

    family = "aws"
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True
    service: str  # the botocore client: "logs"
    kind: str  # what the object is called in messages: "log group"
    listing: tuple[str, str]  # the paginated list operation and its result key
    list_arguments: tuple[tuple[str, Any], ...] = ()  # and its arguments: (("Scope", "Local"),)
    list_key: str  # the name key of a listed object
    tagging: str | None = None  # the Tagging API's type: the stack's ownership tags come from one call of it
    snapshots = False  # no batch read: a no-change plan trusts the state's snapshot when the tags match
    fresh_only: frozenset[str] = frozenset()  # identity keys never taken from a snapshot (a message count)
    arn_field = ""  # the listed object's ARN key, for services whose tag calls take an ARN and Key/Value pairs
    arn_param = "ResourceARN"  # how those calls name the ARN

    def object_name(self, resource: Resource) -> str:
        return str(resource.get(str(self.name_attribute)) or resource.name)

    def listed_name(self, item: Any) -> str:
        return str(item[self.list_key])

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {str(self.name_attribute): object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"{self.kind} {self.object_name(resource)}"

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {str(self.name_attribute): self.object_name(resource)}

    # What each type says: how one listed object's tags and settings are read, and how it is created,
    # changed and tagged.
    def known_tags(self, session: AwsSession, client: Any, items: Sequence[Any]) -> Mapping[str, Mapping[str, str]]:
        """Object name -> tags, read for many objects at once where the service can: the stack's objects from
        one Tagging API call. An object left out has its tags read on its own (`read_tags`)."""
        return stack_tags(session, self.tagging) if self.tagging else {}

    def read_tags(self, client: Any, item: Any) -> dict[str, str]:
        answer = client.list_tags_for_resource(**{self.arn_param: item[self.arn_field]})
        return {t["Key"]: t["Value"] for t in answer.get("Tags") or []}

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
        """The object's settings as the spec writes them, and what its identity keeps (its ARN…)."""
        raise NotImplementedError

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        """Make the object with its tags (`client` makes one attempt: the loop tries again); its identity."""
        raise NotImplementedError

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        """Settings a create cannot carry, made by `update` right after it."""
        return set()

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> Mapping[str, Any] | None:
        """Bring the settings named in `changed` to `want` (tags are done by the loop); what of the object's
        identity that changed, if any (a policy's default version)."""
        return None

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.tag_resource(**{self.arn_param: identity["arn"]},
                            Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.untag_resource(**{self.arn_param: identity["arn"]}, TagKeys=keys)

    def outputs(self, identity: Mapping[str, Any]) -> dict[str, Any]:
        """The computed attributes of a made or changed object, from its identity."""
        return {k: identity[k] for k in self.computed if k in identity}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        client = session.client(self.service)
        operation, key = self.listing
        with api_errors():
            items = {self.listed_name(i): i for i in session.listed(
                f"{self.service}:{operation}", lambda: paginate(client, operation, key, **dict(self.list_arguments)))}
        items = {name: item for name, item in items.items() if self.present(item)}
        names = {r.address: next((n for n in (self.object_name(r), r.prior.get(str(self.name_attribute)))
                                  if n in items), None) for r in resources}
        wanted = [r for r in resources if names[r.address]]
        tagged = self.known_tags(session, client, [items[str(names[r.address])] for r in wanted]) if wanted else {}
        found = read_each(session, wanted, lambda r: self._observe_one(session, client, r,
                                                                       items[str(names[r.address])], tagged))
        return {r.address: found.get(r.address) for r in resources}

    def _observe_one(self, session: AwsSession, client: Any, resource: Resource, item: Any,
                     tagged: Mapping[str, Mapping[str, str]]) -> Observed | Unobservable:
        name = self.listed_name(item)
        if self.snapshots:
            known = remembered(self, session, resource, str(self.name_attribute), name, tagged.get(name))
            if known is not None and all(known.identity.get(k) == v for k, v in self.identity_of(item).items()):
                return Observed(known.attributes, {k: v for k, v in known.identity.items() if k not in self.fresh_only},
                                known.ours) if self.fresh_only else known
        with api_errors():
            tags = dict(tagged[name]) if name in tagged else self.read_tags(client, item)
            refused = not_ours(self.kind, name, tags, resource, session)
            if refused:
                return refused
            settings, identity = self.read(client, resource, item)
        owned = carries_marks(tags, resource, session)
        observed = Observed({**settings, str(self.name_attribute): name, "owned": owned,
                             "tags": visible_tags(tags)},
                            identity={**identity, str(self.name_attribute): name, "tags": tags}, ours=owned)
        return with_snapshot(self, resource, observed) if self.snapshots else observed

    def present(self, item: Any) -> bool:
        """A listed object still there (not one being deleted)."""
        return True

    def identity_of(self, item: Any) -> dict[str, Any]:
        """What a listed object tells of its identity (a remembered snapshot must be of the same object)."""
        return {}

    def apply(self, session: AwsSession, change: Change) -> Observed:
        resource = change.resource
        assert resource is not None
        client = session.client(self.service)
        want = self.desired(resource)
        name = self.object_name(resource)
        with api_errors():
            if change.observed is None:
                tags = {**want["tags"], **ownership_tags(resource, session)}
                identity = create_once(
                    f"{self.kind} {name}",
                    lambda: self.create(session.client(self.service, once=True), resource, want, tags),
                    lambda: (dict(o.identity) if (o := ours_now(self, session, resource)) else None))
                have: Mapping[str, str] = tags
                changed = self.created_unset(want)
            else:
                identity = dict(change.observed.identity)
                have = change.observed.identity.get("tags", {})
                changed = {d.name for d in change.diffs}
            identity[str(self.name_attribute)] = name
            if changed:
                identity.update(self.update(client, resource, want, identity, changed, change.observed) or {})
            retag(have, resource, session, lambda t: self.set_tags(client, identity, t),
                  lambda keys: self.unset_tags(client, identity, keys))
        tags = {**want["tags"], **ownership_tags(resource, session)}
        identity = {k: v for k, v in identity.items() if k != "snapshot" and k not in self.fresh_only}
        observed = Observed({**want, **self.outputs(identity)},
                            identity={**identity, "tags": tags})
        return with_snapshot(self, resource, observed) if self.snapshots else observed


class TaggedNamedModule(NamedModule, Discovers):
    """A named object the Resource Groups Tagging API lists (not IAM's): a lost state is rebuilt, and
    drift's "unmanaged" found, from the objects carrying the stack's tags."""

    discover_type: str  # the Tagging API's type of the objects: "logs:log-group"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, self.discover_type, str(self.name_attribute))
