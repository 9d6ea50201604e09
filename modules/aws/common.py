"""Helpers shared by the AWS modules: ownership tags, batched describes, tag syncing, error mapping."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from reconciler.aws_errors import error_code
from reconciler.errors import ModuleError
from reconciler.model import Observed, Resource, Unobservable
from reconciler.module import Module
from reconciler.targets.aws import (
    OWNER_TAG,
    STACK_TAG,
    THROTTLING,
    AwsSession,
    aws_error,
    uncertain,
)

from .policy import text_map

T = TypeVar("T")
log = logging.getLogger(__name__)
FILTER_CHUNK = 200  # EC2 takes at most 200 values per filter
LEGACY_SPEC_TAG = "reconcile:spec"  # written by reconcile 0.1 (a filesystem path): removed when re-tagging


@contextmanager
def api_errors(ignore: Iterable[str] = ()) -> Iterator[None]:
    """Turn botocore errors into ModuleErrors that read `Code: message`. Codes in `ignore` mean the wanted
    outcome is already there (a rule already authorized, an object already gone after a lost response)."""
    try:
        yield
    except Exception as exc:
        if error_code(exc) in set(ignore):
            return
        if hasattr(exc, "response") or exc.__class__.__module__.startswith("botocore"):
            raise aws_error(exc) from exc
        raise


ALREADY = ("BucketAlreadyOwnedByYou", "ResourceInUseException", "EntityAlreadyExists", "DBInstanceAlreadyExists",
           "InvalidGroup.Duplicate", "TableAlreadyExistsException", "HostedZoneAlreadyExists",
           "AlreadyExists")
GONE = ("InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidGroup.NotFound", "InvalidVolume.NotFound",
        "InvalidInstanceID.NotFound", "NoSuchBucket", "ResourceNotFoundException", "NoSuchEntity",
        "DBInstanceNotFound", "InvalidInternetGatewayID.NotFound", "InvalidRouteTableID.NotFound",
        "InvalidAllocationID.NotFound", "InvalidAssociationID.NotFound", "InvalidRoute.NotFound",
        "Gateway.NotAttached", "NatGatewayNotFound")


def ours_now(module: Module[AwsSession], session: AwsSession, resource: Resource) -> Observed | None:
    """The resource's object as observed now, if it carries this resource's marks (after a lost create)."""
    found = module.observe(session, [resource]).get(resource.address)
    return found if isinstance(found, Observed) and found.ours else None


def create_once(what: str, create: Callable[[], T], found: Callable[[], T | None], attempts: int = 8) -> T:
    """Create an object whose answer may be lost (a 5xx, a timeout, a dropped connection): then the object
    may exist already, so before trying again look for one carrying this resource's stack and address
    tags (`found`), and take it instead of making a second. Throttled requests were not carried out and
    are simply tried again."""
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            return create()
        except Exception as exc:  # noqa: BLE001 - sorted below; anything else is raised as it is
            code = error_code(exc)
            if not (uncertain(exc) or code in THROTTLING or code in ALREADY):
                if hasattr(exc, "response"):
                    raise aws_error(exc) from exc
                raise
            last = exc
        existing = found()
        if existing is not None:
            return existing
        if error_code(last) in ALREADY:  # it exists, and it is not this resource's: say so
            raise aws_error(last)
        time.sleep(min(0.2 * 2 ** attempt, 5.0))
    raise ModuleError(f"could not create {what}: {aws_error(last).args[0] if last else 'no answer'} "
                      f"({attempts} attempts)")


def user_tags(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or [] if not t["Key"].startswith(("reconcile:", "aws:"))}


def owner(tags: Iterable[Mapping[str, str]] | None) -> str | None:
    return next((t["Value"] for t in tags or [] if t["Key"] == OWNER_TAG), None)


def ownership_tags(resource: Resource, session: AwsSession) -> dict[str, str]:
    """The stack's marks: on what reconcile created, never on an object it found or was told to adopt."""
    return {} if resource.adopted else {OWNER_TAG: resource.address, STACK_TAG: session.stack}


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
    """(ARN, tags) of every object of `resource_type` ("s3", "dynamodb:table", "lambda:function"…, as the
    Tagging API's ResourceTypeFilters name them) carrying this stack's identity. Every type is taken from
    one paginated Resource Groups Tagging API call per region and run (100 objects a page), whatever the
    number of types and objects."""
    def fetch() -> list[tuple[str, dict[str, str]]]:
        with api_errors():
            pages = paginate(session.client("resourcegroupstaggingapi"), "get_resources", "ResourceTagMappingList",
                             TagFilters=[{"Key": STACK_TAG, "Values": [session.stack]}], ResourcesPerPage=100,
                             TagsPerPage=500)
        return [(m["ResourceARN"], {t["Key"]: t["Value"] for t in m.get("Tags") or []}) for m in pages]

    return [(arn, tags) for arn, tags in session.listed("tagging:stack", fetch) if arn_of_type(arn, resource_type)]


def arn_of_type(arn: str, resource_type: str) -> bool:
    """Whether an ARN is of a Tagging API resource type: "sqs" (a service), "dynamodb:table" (a type of it)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return False
    service, _, kind = resource_type.partition(":")
    if parts[2] != service:
        return False
    if not kind:
        return not (service == "sns" and parts[5].count(":"))  # a topic, not one of its subscriptions
    return parts[5].split("/", 1)[0].split(":", 1)[0] == kind


def settings_fingerprint(module: Module[AwsSession], resource: Resource) -> str:
    """A hash of what the spec asks of the object's settings (tags left out: the Tagging API shows them)."""
    want = {k: v for k, v in module.desired(resource).items() if k not in ("tags", "owned")}
    return hashlib.sha256(json.dumps(want, sort_keys=True, default=str).encode()).hexdigest()[:24]


def with_snapshot(module: Module[AwsSession], resource: Resource, observed: Observed) -> Observed:
    """`observed`, its identity carrying a snapshot of its settings and the fingerprint of the spec they
    answer: see `remembered`. Never for a resource with secret values (the state must not hold them)."""
    if module.secret_attributes(resource):
        return observed
    snapshot = {"fingerprint": settings_fingerprint(module, resource), "attributes": dict(observed.attributes)}
    return dataclasses.replace(observed, identity={**observed.identity, "snapshot": snapshot})


def remembered(module: Module[AwsSession], session: AwsSession, resource: Resource, name_key: str, name: str,
               tags: Mapping[str, str] | None) -> Observed | None:
    """The object as last read or applied, without reading its settings again, when nothing suggests a
    change (for services with no batch read: SQS, SNS, DynamoDB): the state holds a snapshot of this object (same
    name) taken when the spec asked for what it asks now, and its tags, from the one Tagging API call, are
    those recorded with it. None (read it) otherwise, and always under `aws.refresh: full` (what
    `reconcile drift` uses: a setting changed behind reconcile's back changes no tag)."""
    snapshot = resource.prior.get("snapshot")
    if session.full_refresh or tags is None or not isinstance(snapshot, dict) or resource.get("import"):
        return None
    if snapshot.get("fingerprint") != settings_fingerprint(module, resource) or dict(
            resource.prior.get("tags") or {}) != dict(tags) or snapshot.get("attributes", {}).get(
            name_key) != name:
        return None
    attributes = {**snapshot["attributes"], "owned": carries_marks(tags, resource, session),
                  "tags": visible_tags(tags)}
    return Observed(attributes, identity=dict(resource.prior), ours=bool(attributes["owned"]))


def object_name(arn: str) -> str:
    """The name an ARN ends with: a bucket, queue, topic, function, or log group (`…:log-group:NAME`)."""
    if ":log-group:" in arn:
        return arn.split(":log-group:", 1)[1].removesuffix(":*")
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if ":function:" not in arn else arn.split(":function:", 1)[1]


def stack_tags(session: AwsSession, resource_type: str) -> dict[str, dict[str, str]]:
    """Object name -> tags, for every object of `resource_type` carrying this stack's identity: one Resource
    Groups Tagging API call per type and run (shared by the plan's observation waves). The modules of
    services with no batch read take an object's ownership tags from here and read them object by
    object only for objects not in it (another's, or ours with tags changed behind our back: the state
    outranks tags). Without the permission for the Tagging API, every object is read on its own."""
    try:
        return {object_name(arn): tags for arn, tags in stack_resources(session, resource_type)}
    except ModuleError as exc:
        log.info("the Tagging API did not answer for %s (%s): reading each object's tags", resource_type, exc)
        return {}


def discover_named(session: AwsSession, resource_type: str, identity_key: str) -> dict[str, dict[str, Any]]:
    """Name-keyed objects of this stack (the name is the ARN's last part): address -> identity."""
    out: dict[str, dict[str, Any]] = {}
    for arn, tags in stack_resources(session, resource_type):
        if OWNER_TAG in tags:
            out[tags[OWNER_TAG]] = {identity_key: arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1], "tags": tags}
    return out


def desired_tags(resource: Resource) -> dict[str, str]:
    return text_map(resource.get("tags"))


def describe_owned(
    session: AwsSession, resources: Sequence[Resource], list_items: Callable[[list[dict[str, Any]]], list[Any]],
    id_key: str, id_filter: str,
) -> dict[str, dict[str, Any] | Unobservable | None]:
    """Each resource's object, in one paginated call for all of them when nothing is amiss:

    1. every object tagged with this stack's identity (one call), matched by the id the state recorded,
       else by its reconcile:address tag; more than one per address: the others are duplicates;
    2. only for recorded ids that call did not return (ownership tags removed or changed behind our back:
       the state outranks tags) and for `import:` ids: one more call, by id.
    """
    recorded = {str(r.prior["id"]): r.address for r in resources if r.prior.get("id")}
    imports = {str(r.get("import")): r.address for r in resources if r.get("import") and not r.prior.get("id")}
    addresses = {r.address for r in resources}
    found: dict[str, dict[str, Any]] = {}
    tagged: dict[str, list[dict[str, Any]]] = {}
    with api_errors():
        owned = session.listed(f"owned:{id_filter}", lambda: list_items(  # shared by the plan's waves
            [{"Name": f"tag:{STACK_TAG}", "Values": [session.stack]}]))
        for item in owned:
            if item[id_key] in recorded:
                found[recorded[item[id_key]]] = item
            address = owner(item.get("Tags"))
            if address in addresses:
                tagged.setdefault(str(address), []).append(item)
        missing = sorted(i for i, a in {**recorded, **imports}.items() if a not in found)
        for i in range(0, len(missing), FILTER_CHUNK):
            for item in list_items([{"Name": id_filter, "Values": missing[i:i + FILTER_CHUNK]}]):
                found[({**recorded, **imports})[item[id_key]]] = item
    for address, items in tagged.items():
        if address in imports.values() and address not in found:
            continue
        chosen = found.get(address) or min(items, key=lambda x: str(x.get("LaunchTime") or x.get("CreateTime")
                                                                     or x[id_key]))
        extras = sorted(x[id_key] for x in items if x[id_key] != chosen[id_key])
        found[address] = {**chosen, "_duplicates": extras} if extras else chosen
    out: dict[str, dict[str, Any] | Unobservable | None] = {}
    for r in resources:
        item = found.get(r.address)
        if item is not None and r.get("import") and not r.prior:
            refused = foreign(f"{r.get('import')}", all_tags(item.get("Tags")), r, session)
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


# The largest page each list call takes (its API's own maximum), so that a list is as few calls as it can be, and
# so that APIs that page only when asked to (SQS ListQueues returns no NextToken without MaxResults) page at all.
# By service and operation; tests/unit/test_aws_paging.py holds them against botocore's models.
PAGE_SIZES: dict[tuple[str, str], int] = {
    ("sqs", "list_queues"): 1000, ("logs", "describe_log_groups"): 50, ("cloudwatch", "describe_alarms"): 100,
    ("events", "list_rules"): 100, ("lambda", "list_functions"): 10000, ("lambda", "list_versions_by_function"): 10000,
    ("dynamodb", "list_tables"): 100, ("autoscaling", "describe_auto_scaling_groups"): 100,
    ("rds", "describe_db_instances"): 100, ("rds", "describe_db_parameter_groups"): 100,
    ("rds", "describe_db_subnet_groups"): 100, ("rds", "describe_db_parameters"): 100,
    ("elbv2", "describe_load_balancers"): 400, ("elbv2", "describe_target_groups"): 400,
    ("ec2", "describe_instances"): 1000, ("ec2", "describe_nat_gateways"): 1000, ("ec2", "describe_vpc_endpoints"): 1000,
    ("ec2", "describe_vpcs"): 1000, ("ec2", "describe_subnets"): 1000, ("ec2", "describe_security_groups"): 1000,
    ("ec2", "describe_route_tables"): 100, ("ec2", "describe_internet_gateways"): 1000, ("ec2", "describe_volumes"): 1000,
    ("ec2", "describe_launch_templates"): 200, ("route53", "list_hosted_zones"): 100,
    ("route53", "list_resource_record_sets"): 300, ("acm", "list_certificates"): 1000,
    ("resourcegroupstaggingapi", "get_resources"): 100, ("ssm", "get_parameters_by_path"): 10,
    **{("iam", op): 1000 for op in (
        "list_roles", "list_users", "list_policies", "list_instance_profiles", "list_attached_role_policies",
        "list_role_policies", "list_role_tags", "list_attached_user_policies", "list_groups_for_user",
        "list_user_tags", "list_policy_tags", "list_policy_versions", "list_instance_profiles_for_role")},
}


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a list call, to the last page, with the largest page size the API takes."""
    items: list[Any] = []
    service = getattr(getattr(getattr(client, "meta", None), "service_model", None), "service_name", "")
    size = PAGE_SIZES.get((service, operation))
    paginator = client.get_paginator(operation)
    limit = (getattr(paginator, "_pagination_cfg", None) or {}).get("limit_key")  # botocore's: the page size key
    config = {"PaginationConfig": {"PageSize": size}} if size and limit and limit not in kwargs else {}
    for page in paginator.paginate(**kwargs, **config):
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


def read_each(session: AwsSession, resources: Sequence[Resource], read: Callable[[Resource], Any]) -> dict[str, Any]:
    """Services with no batch read (S3, DynamoDB, IAM): one resource per call, several at once on the
    region's bounded pool of readers (never a pool per call)."""
    return dict(zip([r.address for r in resources], session.map(read, resources), strict=True))


def retag(have: Mapping[str, str], resource: Resource, session: AwsSession,
          set_tags: Callable[[dict[str, str]], Any], unset_tags: Callable[[list[str]], Any]) -> None:
    """Bring a name-keyed object's tags to the spec's plus the ownership marks: the keys no longer wanted
    are removed (never AWS's own aws:* ones), the others set only when one differs."""
    target = {**desired_tags(resource), **ownership_tags(resource, session)}
    gone = [k for k in have if k not in target and not k.startswith("aws:")]
    if gone:
        unset_tags(gone)
    if any(have.get(k) != v for k, v in target.items()):
        set_tags(target)


def visible_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a spec writes: without reconcile's marks and AWS's own."""
    return {k: v for k, v in tags.items() if not k.startswith(("reconcile:", "aws:"))}
