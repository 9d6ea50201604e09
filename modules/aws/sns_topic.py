"""`aws.sns_topic`: a topic with its display name, encryption key and tags (the target of alarms and
subscriptions). ListTopics is one paginated call for all, the stack's topics' ownership tags
one Tagging API call; each managed topic costs a GetTopicAttributes (read several at once)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    api_errors,
    carries_marks,
    create_once,
    desired_tags,
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
from .terraform import json_value as tf_json
from .terraform import pick, tags

SETTINGS = {"display_name": "DisplayName", "kms_master_key_id": "KmsMasterKeyId"}


def topic_name(resource: Resource) -> str:
    return str(resource.get("topic_name") or resource.name)


class SnsTopicModule(Module[AwsSession], TerraformForm, Discovers):
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
    family = "aws"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"topic_name", "fifo_topic"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"topic_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"topic {topic_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "sns", "topic_name")

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"topic_name": topic_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"topic_name": topic_name(r), "fifo_topic": topic_name(r).endswith(".fifo"),
                **{k: str(r.get(k) or "") for k in SETTINGS}, "owned": True, "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        sns = session.client("sns")
        with api_errors():
            arns = {t["TopicArn"].rsplit(":", 1)[-1]: t["TopicArn"]
                    for t in session.listed("sns:topics", lambda: paginate(sns, "list_topics", "Topics"))}
        names = {r.address: next((n for n in (topic_name(r), r.prior.get("topic_name")) if n in arns), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        tagged = stack_tags(session, "sns") if wanted else {}
        found = read_each(session, wanted, lambda r: self._read(session, sns, r, arns[str(names[r.address])], tagged))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, sns: Any, r: Resource, arn: str,
              tagged: Mapping[str, Mapping[str, str]]) -> Observed | Unobservable:
        name = arn.rsplit(":", 1)[-1]
        known = remembered(self, session, r, "topic_name", name, tagged.get(name))
        if known is not None and known.identity.get("arn") == arn:
            return known
        with api_errors():
            got = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
            tags = dict(tagged[name]) if name in tagged else \
                {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=arn).get("Tags") or []}
        refused = not_ours("topic", name, tags, r, session)
        if refused:
            return refused
        attrs = {"arn": arn, "topic_name": name, "fifo_topic": got.get("FifoTopic") == "true",
                 **{k: str(got.get(a) or "") for k, a in SETTINGS.items()},
                 "owned": carries_marks(tags, r, session), "tags": visible_tags(tags)}
        return with_snapshot(self, r, Observed(attrs, identity={"arn": arn, "tags": tags, "topic_name": name},
                                               ours=attrs["owned"]))

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        sns = session.client("sns")
        want = self.desired(r)
        name = topic_name(r)
        with api_errors():
            if change.observed is None:
                attributes = {a: want[k] for k, a in SETTINGS.items() if want[k]}
                if want["fifo_topic"]:
                    attributes["FifoTopic"] = "true"
                tags = {**want["tags"], **ownership_tags(r, session)}
                arn = create_once(
                    f"topic {name}",
                    lambda: session.client("sns", once=True).create_topic(
                        Name=name, Attributes=attributes,
                        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["TopicArn"],
                    lambda: (o.attributes.get("arn") if (o := ours_now(self, session, r)) else None))
                have: Mapping[str, str] = tags
            else:
                arn = str(change.observed.identity["arn"])
                for d in change.diffs:
                    if d.name in SETTINGS:
                        sns.set_topic_attributes(TopicArn=arn, AttributeName=SETTINGS[d.name],
                                                 AttributeValue=want[d.name])
                have = change.observed.identity.get("tags", {})
            retag(have, r, session,
                  lambda t: sns.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
                  lambda keys: sns.untag_resource(ResourceArn=arn, TagKeys=keys))
        tags = {**want["tags"], **ownership_tags(r, session)}
        return with_snapshot(self, r, Observed({**want, "arn": arn}, identity={"arn": arn, "topic_name": name,
                                                                              "tags": tags}))

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE + ("NotFound",)):
            session.client("sns").delete_topic(TopicArn=str(observed.identity["arn"]))
