"""Helpers shared by the AWS modules: ownership tags, batched describes, tag syncing, error mapping."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from reconciler.model import Action, AttrDiff, Change, Observed, Resource, Unobservable
from reconciler.module import Module
from reconciler.targets.aws import OWNER_TAG, STACK_TAG, AwsSession, aws_error

FILTER_CHUNK = 200  # EC2 takes at most 200 values per filter
LEGACY_SPEC_TAG = "reconcile:spec"  # written by reconcile 0.1 (a filesystem path): removed when re-tagging


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn botocore errors into ModuleErrors that read `Code: message`."""
    try:
        yield
    except Exception as exc:
        if hasattr(exc, "response") or exc.__class__.__module__.startswith("botocore"):
            raise aws_error(exc) from exc
        raise


def user_tags(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or [] if not t["Key"].startswith(("reconcile:", "aws:"))}


def owner(tags: Iterable[Mapping[str, str]] | None) -> str | None:
    return next((t["Value"] for t in tags or [] if t["Key"] == OWNER_TAG), None)


def ownership_tags(resource: Resource, session: AwsSession) -> dict[str, str]:
    return {OWNER_TAG: resource.address, STACK_TAG: session.stack}


def carries_marks(tags: Mapping[str, str], resource: Resource, session: AwsSession) -> bool:
    """The object is tagged as this resource of this stack."""
    return tags.get(OWNER_TAG) == resource.address and tags.get(STACK_TAG) == session.stack


def all_tags_for(resource: Resource, session: AwsSession) -> list[dict[str, str]]:
    """The spec's tags plus the ownership tags, as the APIs take them."""
    tags = {**desired_tags(resource), **ownership_tags(resource, session)}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_specs(resource: Resource, kind: str, session: AwsSession) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": all_tags_for(resource, session)}]


def discover_tagged(session: AwsSession, list_items: Callable[[list[dict[str, Any]]], list[Any]],
                    id_key: str) -> dict[str, dict[str, Any]]:
    """EC2 objects carrying this stack's identity: address -> identity (to rebuild a lost state, and for
    drift's "unmanaged" class)."""
    with api_errors():
        items = list_items([{"Name": f"tag:{STACK_TAG}", "Values": [session.stack]}])
    return {str(owner(i.get("Tags"))): {"id": i[id_key], "tags": all_tags(i.get("Tags"))}
            for i in items if owner(i.get("Tags"))}


def stack_resources(session: AwsSession, resource_type: str) -> list[tuple[str, dict[str, str]]]:
    """(ARN, tags) of every object of `resource_type` (e.g. "s3", "dynamodb:table") carrying this stack's
    identity, from the Resource Groups Tagging API: one paginated call per region for any number."""
    with api_errors():
        pages = paginate(session.client("resourcegroupstaggingapi"), "get_resources", "ResourceTagMappingList",
                         TagFilters=[{"Key": STACK_TAG, "Values": [session.stack]}],
                         ResourceTypeFilters=[resource_type])
    return [(m["ResourceARN"], {t["Key"]: t["Value"] for t in m.get("Tags") or []}) for m in pages]


def discover_named(session: AwsSession, resource_type: str, identity_key: str) -> dict[str, dict[str, Any]]:
    """Name-keyed objects of this stack (the name is the ARN's last part): address -> identity."""
    out: dict[str, dict[str, Any]] = {}
    for arn, tags in stack_resources(session, resource_type):
        if OWNER_TAG in tags:
            out[tags[OWNER_TAG]] = {identity_key: arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1], "tags": tags}
    return out


def desired_tags(resource: Resource) -> dict[str, str]:
    return {str(k): str(v) for k, v in (resource.get("tags") or {}).items()}


def describe_owned(
    session: AwsSession, resources: Sequence[Resource], list_items: Callable[[list[dict[str, Any]]], list[Any]],
    id_key: str, id_filter: str,
) -> dict[str, dict[str, Any] | Unobservable | None]:
    """Each resource's object, in two paginated calls for all of them:

    1. by id: the id the state recorded (the state outranks tags: an object whose ownership tags were
       removed or changed is still ours, and its tags are drift), or the id given in `import:`;
    2. by the tags reconcile:stack + reconcile:address, for the rest (a state being rebuilt).
    """
    by_id: dict[str, str] = {}
    for r in resources:
        wanted = r.prior.get("id") or r.get("import")
        if wanted:
            by_id[str(wanted)] = r.address
    found: dict[str, dict[str, Any]] = {}
    with api_errors():
        ids = sorted(by_id)
        for i in range(0, len(ids), FILTER_CHUNK):
            for item in list_items([{"Name": id_filter, "Values": ids[i:i + FILTER_CHUNK]}]):
                found[by_id[item[id_key]]] = item
        rest = [r.address for r in resources if r.address not in found and not r.get("import")]
        for i in range(0, len(rest), FILTER_CHUNK):
            chunk = rest[i:i + FILTER_CHUNK]
            for item in list_items([{"Name": f"tag:{OWNER_TAG}", "Values": chunk},
                                    {"Name": f"tag:{STACK_TAG}", "Values": [session.stack]}]):
                if owner(item.get("Tags")) in chunk:
                    found[str(owner(item.get("Tags")))] = item
    out: dict[str, dict[str, Any] | Unobservable | None] = {}
    for r in resources:
        item = found.get(r.address)
        if item is not None and r.get("import") and not r.prior:
            tags = all_tags(item.get("Tags"))
            refused = foreign(f"{r.get('import')}", tags, r, session)
            if refused is not None:
                out[r.address] = refused
                continue
        out[r.address] = item
    return out


def foreign(what: str, tags: Mapping[str, str], resource: Resource, session: AwsSession) -> Unobservable | None:
    """An object tagged as another stack's, or as another resource of this stack, is never taken over."""
    stack, address = tags.get(STACK_TAG), tags.get(OWNER_TAG)
    if address is None or (stack == session.stack and address == resource.address):
        return None
    if stack is not None and stack != session.stack:
        return Unobservable(f"{what} belongs to {address} of stack {stack}; reconcile never touches another "
                            "stack's objects")
    return Unobservable(f"{what} is already managed as {address}; it cannot be managed twice")


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items += page.get(key, [])
    return items


def sync_ec2_tags(client: Any, resource_id: str, resource: Resource, observed: Mapping[str, str],
                  session: AwsSession) -> None:
    """Make the object's tags the spec's, plus the ownership tags; never touches aws:* tags."""
    want = {**desired_tags(resource), **ownership_tags(resource, session)}
    have = {**observed}
    changed = [{"Key": k, "Value": v} for k, v in want.items() if have.get(k) != v]
    gone = [{"Key": k} for k in have if k not in want
            and (k == LEGACY_SPEC_TAG or not k.startswith(("aws:", "reconcile:")))]
    with api_errors():
        if changed:
            client.create_tags(Resources=[resource_id], Tags=changed)
        if gone:
            client.delete_tags(Resources=[resource_id], Tags=gone)


def all_tags(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def not_ours(kind: str, name: str, tags: Mapping[str, str], resource: Resource,
             session: AwsSession) -> Unobservable | None:
    """An existing object found by its name may be planned when the state recorded it (whatever its tags
    say now), when it carries this resource's marks, or when the spec adopts it with `import:`."""
    if resource.prior:
        return None
    refused = foreign(f"{kind} {name}", tags, resource, session)
    if refused is not None:
        return refused
    if tags.get(OWNER_TAG) is not None or resource.get("import"):
        return None
    return Unobservable(f"{kind} {name} exists and is not managed by reconcile; set import: {name} to take it over")


def read_each(resources: Sequence[Resource], read: Callable[[Resource], Any], workers: int = 8) -> dict[str, Any]:
    """Services with no batch read (S3, DynamoDB, IAM): one resource per call, several at once."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip([r.address for r in resources], pool.map(read, resources), strict=True))


class Ec2Module(Module):
    """EC2 resources (VPC, subnet, security group, instance, volume): found by the id the state recorded,
    else by their stack and address tags, with one paginated describe for every resource of the type.

    Ownership tags that were removed or changed behind our back are drift (`owned`), repaired by
    tagging the object again; they never make reconcile lose track of it."""

    family = "aws"
    discovers = True
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

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        out: dict[str, Any] = {}
        found = self.find(session, resources)
        for r in resources:
            item = found[r.address]
            if not isinstance(item, dict):
                out[r.address] = item  # None (absent) or Unobservable
                continue
            out[r.address] = self.observed(session, r, item, self.attributes(session, r, item))
        return out

    def observed(self, session: AwsSession, resource: Resource, item: Mapping[str, Any],
                 attributes: Mapping[str, Any]) -> Observed:
        ident = item[self.describe[2]]
        tags = all_tags(item.get("Tags"))
        marked = carries_marks(tags, resource, session)
        return Observed({"id": ident, "tags": user_tags(item.get("Tags")), **attributes, "owned": marked},
                        identity={"id": ident, "tags": tags}, ours=marked)

    def attributes(self, session: AwsSession, resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
        """The spec's view of one described object (id, tags and ownership are added by observe)."""
        raise NotImplementedError

    def diff(self, resource: Resource, observed: Observed | None) -> Change:
        change = super().diff(resource, observed)
        if observed is None or observed.attributes.get("owned", True) or change.action not in (Action.NOOP,
                                                                                                Action.UPDATE):
            return change
        marks = AttrDiff("owned", False, True)  # tags stripped or changed behind our back: tag it again
        return dataclasses.replace(change, action=Action.UPDATE, diffs=change.diffs + (marks,))

    def retag(self, session: AwsSession, change: Change, resource_id: str) -> None:
        """Make the object's tags the spec's plus the ownership tags, when the plan found them wrong."""
        assert change.resource is not None and change.observed is not None
        if {"tags", "owned"} & {d.name for d in change.diffs}:
            sync_ec2_tags(session.client("ec2"), resource_id, change.resource,
                          change.observed.identity.get("tags", {}), session)
