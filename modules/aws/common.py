"""Helpers shared by the AWS modules: ownership tags, batched describes, tag syncing, error mapping."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from reconciler.model import Observed, Resource, Unobservable
from reconciler.module import Module
from reconciler.targets.aws import OWNER_TAG, SPEC_TAG, AwsSession, aws_error

FILTER_CHUNK = 200  # EC2 takes at most 200 values per filter


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
    return {OWNER_TAG: resource.address, SPEC_TAG: session.spec_id}


def all_tags_for(resource: Resource, session: AwsSession) -> list[dict[str, str]]:
    """The spec's tags plus the ownership tags, as the APIs take them."""
    tags = {**desired_tags(resource), **ownership_tags(resource, session)}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_specs(resource: Resource, kind: str, session: AwsSession) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": all_tags_for(resource, session)}]


def discover_tagged(session: AwsSession, list_items: Callable[[list[dict[str, Any]]], list[Any]]) -> list[str]:
    """Addresses of EC2 objects this spec tagged (drift's "unmanaged" when neither spec nor state has them)."""
    with api_errors():
        items = list_items([{"Name": f"tag:{SPEC_TAG}", "Values": [session.spec_id]}])
    return [str(owner(i.get("Tags"))) for i in items if owner(i.get("Tags"))]


def desired_tags(resource: Resource) -> dict[str, str]:
    return {str(k): str(v) for k, v in (resource.get("tags") or {}).items()}


def describe_owned(
    session: AwsSession, resources: Sequence[Resource], list_items: Callable[[list[dict[str, Any]]], list[Any]],
    id_key: str, id_filter: str,
) -> dict[str, dict[str, Any] | Unobservable | None]:
    """Each resource's object: found by its reconcile:address tag (one paginated call for all), or by
    the id given in `import:` (one more call for all imports)."""
    addresses = [r.address for r in resources if not r.get("import")]
    found: dict[str, dict[str, Any]] = {}
    with api_errors():
        for i in range(0, len(addresses), FILTER_CHUNK):
            chunk = addresses[i:i + FILTER_CHUNK]
            for item in list_items([{"Name": f"tag:{OWNER_TAG}", "Values": chunk}]):
                if owner(item.get("Tags")) in chunk:
                    found[str(owner(item.get("Tags")))] = item
        imports = {str(r.get("import")): r.address for r in resources if r.get("import")}
        if imports:
            for item in list_items([{"Name": id_filter, "Values": sorted(imports)}]):
                found[imports[item[id_key]]] = item
    out: dict[str, dict[str, Any] | Unobservable | None] = {}
    for r in resources:
        item = found.get(r.address)
        tagged_by = owner(item.get("Tags")) if item else None
        if item is not None and r.get("import") and tagged_by not in (None, r.address):
            out[r.address] = Unobservable(f"{r.get('import')} is managed by {tagged_by}; it cannot be imported twice")
        else:
            out[r.address] = item
    return out


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
    gone = [{"Key": k} for k in have if k not in want and not k.startswith("aws:")]
    with api_errors():
        if changed:
            client.create_tags(Resources=[resource_id], Tags=changed)
        if gone:
            client.delete_tags(Resources=[resource_id], Tags=gone)


def all_tags(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def not_ours(kind: str, name: str, tags: Mapping[str, str], resource: Resource) -> Unobservable | None:
    """An existing object found by name may be planned only if it is tagged as this resource's,
    or the spec adopts it with `import:`."""
    tagged_by = tags.get(OWNER_TAG)
    if tagged_by == resource.address or (tagged_by is None and resource.get("import")):
        return None
    whose = f"managed by {tagged_by}" if tagged_by else "not managed by reconcile"
    return Unobservable(f"{kind} {name} exists and is {whose}; set import: {name} to take it over")


def read_each(resources: Sequence[Resource], read: Callable[[Resource], Any], workers: int = 8) -> dict[str, Any]:
    """Services with no batch read (S3, DynamoDB, IAM): one resource per call, several at once."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip([r.address for r in resources], pool.map(read, resources), strict=True))


class Ec2Module(Module):
    """EC2 resources (VPC, subnet, security group, instance, volume): found by their reconcile:address
    tag with one paginated describe for every resource of the type."""

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

    def discover(self, session: AwsSession) -> list[str]:
        return discover_tagged(session, lambda f: self.list_items(session, f))

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        out: dict[str, Any] = {}
        found = self.find(session, resources)
        for r in resources:
            item = found[r.address]
            if not isinstance(item, dict):
                out[r.address] = item  # None (absent) or Unobservable
                continue
            ident = item[self.describe[2]]
            out[r.address] = Observed({"id": ident, "tags": user_tags(item.get("Tags")),
                                       **self.attributes(session, r, item)},
                                      identity={"id": ident, "tags": all_tags(item.get("Tags"))})
        return out

    def attributes(self, session: AwsSession, resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
        """The spec's view of one described object (id and tags are added by observe)."""
        raise NotImplementedError
