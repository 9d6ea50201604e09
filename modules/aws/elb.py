"""What the load-balancing modules share: ELBv2's tags, read for up to 20 objects per DescribeTags call,
and the "ours?" decision for an object found by its name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Resource
from reconciler.targets.aws import AwsSession

from .common import api_errors, desired_tags, ownership_tags
from .named_base import TaggedNamedModule

TAGS_PER_CALL = 20  # DescribeTags takes at most 20 ARNs
ELB_GONE = ("LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound")


def elb_tags(elb: Any, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    """ARN -> tags, for any number of ARNs, in calls of 20."""
    out: dict[str, dict[str, str]] = {}
    with api_errors():
        for i in range(0, len(arns), TAGS_PER_CALL):
            for d in elb.describe_tags(ResourceArns=list(arns[i:i + TAGS_PER_CALL]))["TagDescriptions"]:
                out[d["ResourceArn"]] = {t["Key"]: t["Value"] for t in d.get("Tags") or []}
    return out


def elb_tag_list(resource: Resource, session: AwsSession) -> list[dict[str, str]]:
    tags = {**desired_tags(resource), **ownership_tags(resource, session)}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def retag_elb(elb: Any, arn: str, have: Mapping[str, str], resource: Resource, session: AwsSession) -> None:
    from .common import retag

    retag(have, resource, session,
          lambda t: elb.add_tags(ResourceArns=[arn], Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
          lambda keys: elb.remove_tags(ResourceArns=[arn], TagKeys=keys))


class ElbNamedModule(TaggedNamedModule):
    """A load balancer or target group: tags read 20 objects per call, written by ARN."""

    service = "elbv2"
    arn_field: str

    def known_tags(self, session: AwsSession, client: Any, items: Sequence[Any]) -> Mapping[str, Mapping[str, str]]:
        by_arn = elb_tags(client, [i[self.arn_field] for i in items])
        return {self.listed_name(i): by_arn.get(i[self.arn_field], {}) for i in items}

    def read_tags(self, client: Any, item: Any) -> dict[str, str]:
        return elb_tags(client, [item[self.arn_field]]).get(item[self.arn_field], {})

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.add_tags(ResourceArns=[identity["arn"]], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.remove_tags(ResourceArns=[identity["arn"]], TagKeys=keys)
