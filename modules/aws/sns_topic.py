"""`aws.sns_topic`: a topic with its display name, encryption key and tags (the target of alarms and
subscriptions). ListTopics is one paginated call for all, the stack's topics' ownership tags
one Tagging API call; each managed topic costs a GetTopicAttributes (read several at once)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, desired_tags
from .named_base import TaggedNamedModule
from .terraform import json_value as tf_json
from .terraform import pick, tags

SETTINGS = {"display_name": "DisplayName", "kms_master_key_id": "KmsMasterKeyId"}


def topic_name(resource: Resource) -> str:
    return str(resource.get("topic_name") or resource.name)


class SnsTopicModule(TaggedNamedModule):
    type_name = "aws.sns_topic"

    terraform_types = ("aws_sns_topic",)
    terraform_names = {"topic_name": "name"}  # as the provider names them
    terraform_computed = frozenset({"signature_version", "owner", "beginning_archive_time"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "topic_name", "display_name": "display_name",
                            "kms_master_key_id": "kms_master_key_id"})
        policy = tf_json(values.get("policy"))
        statements = policy.get("Statement") if isinstance(policy, dict) else None
        own = isinstance(statements, list) and all(s.get("Sid") == "__default_statement_ID" for s in statements
                                                   if isinstance(s, dict))
        notes = () if not policy or own else (
            f"{self.type_name}.{name}: the topic's access policy is not carried (reconcile leaves it as it is)",)
        return Adopted({**out, **tags(values)}, str(values["name"]), notes=notes)
    name_attribute = "topic_name"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"topic_name", "fifo_topic"})
    service, kind, discover_type, tagging, snapshots = "sns", "topic", "sns", "sns", True
    listing, arn_field, arn_param = ("list_topics", "Topics"), "TopicArn", "ResourceArn"

    def listed_name(self, item: Mapping[str, Any]) -> str:
        return str(item["TopicArn"]).rsplit(":", 1)[-1]

    def identity_of(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {"arn": item["TopicArn"]}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"topic_name": topic_name(r), "fifo_topic": topic_name(r).endswith(".fifo"),
                **{k: str(r.get(k) or "") for k in SETTINGS}, "owned": True, "tags": desired_tags(r)}

    def read(self, client: Any, resource: Resource, item: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
        arn = item["TopicArn"]
        got = client.get_topic_attributes(TopicArn=arn)["Attributes"]
        return ({"arn": arn, "fifo_topic": got.get("FifoTopic") == "true",
                 **{k: str(got.get(a) or "") for k, a in SETTINGS.items()}}, {"arn": arn})

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        attributes = {a: want[k] for k, a in SETTINGS.items() if want[k]}
        if want["fifo_topic"]:
            attributes["FifoTopic"] = "true"
        return {"arn": client.create_topic(Name=want["topic_name"], Attributes=attributes,
                                           Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["TopicArn"]}

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        for name in sorted(changed & SETTINGS.keys()):
            client.set_topic_attributes(TopicArn=identity["arn"], AttributeName=SETTINGS[name],
                                        AttributeValue=want[name])

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE + ("NotFound",)):
            session.client("sns").delete_topic(TopicArn=str(observed.identity["arn"]))
