"""`aws.sns_subscription`: an endpoint (a queue, a function, an HTTPS URL, an address) subscribed to an
`aws.sns_topic`, with raw delivery and a filter policy. Subscriptions carry no tags: one is known by the
ARN the state recorded, and one found with the same topic, protocol and endpoint but not recorded is
not taken over without `import:`. ListSubscriptionsByTopic is one call per topic for all its
subscriptions; each managed one costs a GetSubscriptionAttributes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, paginate, read_each
from .policy import as_written, filter_policy_problem, json_value
from .terraform import json_value as tf_json
from .terraform import pick

PENDING = "PendingConfirmation"


class SnsSubscriptionModule(Module[AwsSession], TerraformForm):
    type_name = "aws.sns_subscription"

    terraform_types = ("aws_sns_topic_subscription",)
    terraform_computed = frozenset({"confirmation_timeout_in_minutes", "pending_confirmation",
                                    "confirmation_was_authenticated", "endpoint_auto_confirms"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"topic_arn": "topic_arn", "protocol": "protocol", "endpoint": "endpoint"})
        if values.get("raw_message_delivery"):
            out["raw_message_delivery"] = True
        if values.get("filter_policy"):
            out["filter_policy"] = tf_json(values["filter_policy"])
        scope = values.get("filter_policy_scope")
        notes = (f"{self.type_name}.{name}: filter_policy_scope {scope} is not carried (reconcile filters on "
                 "message attributes)",) if scope and scope != "MessageAttributes" else ()
        return Adopted(out, str(values.get("arn") or values.get("id")), notes=notes)
    family = "aws"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"topic_arn", "protocol", "endpoint"})
    not_compared = frozenset({"state", "import"})

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        """A filter policy SNS would refuse is an error at its line (a value with a reference is left to apply)."""
        policy = attributes.get("filter_policy")
        if isinstance(policy, dict) and "${" not in json.dumps(policy):
            problem = filter_policy_problem(policy)
            if problem:
                raise load.fail(problem, "filter_policy")
        return attributes

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"arn": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"subscription of {resource.get('endpoint')} to {resource.get('topic_arn')}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        policy = r.get("filter_policy")
        return {"topic_arn": str(r.get("topic_arn")), "protocol": str(r.get("protocol")),
                "endpoint": str(r.get("endpoint")), "raw_message_delivery": bool(r.get("raw_message_delivery", False)),
                "filter_policy": json_value(policy)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        sns = session.client("sns")
        topics = sorted({str(r.prior.get("topic_arn") or r.get("topic_arn")) for r in resources})

        def listed(topic: str) -> list[dict[str, Any]]:
            return session.listed(f"sns:subscriptions:{topic}", lambda: self._list(sns, topic))
        by_topic = dict(zip(topics, session.map(listed, topics), strict=True))
        matches: dict[str, dict[str, Any] | Unobservable] = {}
        for r in resources:
            subs = by_topic.get(str(r.prior.get("topic_arn") or r.get("topic_arn"))) or []
            recorded = r.prior.get("arn") or r.get("import")
            found = next((s for s in subs if recorded and s["SubscriptionArn"] == recorded), None)
            if found is None and not recorded:
                same = next((s for s in subs if s["Protocol"] == r.get("protocol")
                             and s["Endpoint"] == r.get("endpoint")), None)
                if same is not None:
                    matches[r.address] = Unobservable(
                        f"{r.get('endpoint')} is already subscribed to {r.get('topic_arn')} and not managed by "
                        f"reconcile; set import: {same['SubscriptionArn']} to take it over")
                    continue
            if found is not None:
                matches[r.address] = found
        wanted = [r for r in resources if isinstance(matches.get(r.address), dict)]
        read = read_each(session, wanted, lambda r: self._read(sns, matches[r.address]))  # type: ignore[arg-type]
        return {r.address: read.get(r.address, matches.get(r.address)) for r in resources}

    @staticmethod
    def _list(sns: Any, topic: str) -> list[dict[str, Any]]:
        with api_errors(ignore=("NotFound",)):
            return paginate(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic)
        return []  # the topic is gone: so are its subscriptions

    @staticmethod
    def _read(sns: Any, sub: Mapping[str, Any]) -> Observed:
        arn = sub["SubscriptionArn"]
        attrs: dict[str, Any] = {"arn": arn, "topic_arn": sub["TopicArn"], "protocol": sub["Protocol"],
                                 "endpoint": sub["Endpoint"], "raw_message_delivery": False, "filter_policy": None}
        if arn != PENDING:
            with api_errors():
                got = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
            attrs["raw_message_delivery"] = got.get("RawMessageDelivery") == "true"
            attrs["filter_policy"] = json_value(got.get("FilterPolicy"))  # "{}" (a removed one) is none
        return Observed(attrs, identity={"arn": arn, "topic_arn": sub["TopicArn"]})

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        sns = session.client("sns")
        want = self.desired(r)
        with api_errors():
            if change.observed is None:  # Subscribe is idempotent for the same topic, protocol and endpoint
                attributes = {"RawMessageDelivery": "true"} if want["raw_message_delivery"] else {}
                if want["filter_policy"] is not None:
                    attributes["FilterPolicy"] = as_written(r.get("filter_policy"))
                arn = sns.subscribe(TopicArn=want["topic_arn"], Protocol=want["protocol"], Endpoint=want["endpoint"],
                                    Attributes=attributes, ReturnSubscriptionArn=True)["SubscriptionArn"]
            else:
                arn = str(change.observed.identity["arn"])
                changed = {d.name for d in change.diffs}
                if "raw_message_delivery" in changed:
                    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RawMessageDelivery",
                                                    AttributeValue="true" if want["raw_message_delivery"] else "false")
                if "filter_policy" in changed:  # sent as written; removing it sends the empty policy
                    sns.set_subscription_attributes(
                        SubscriptionArn=arn, AttributeName="FilterPolicy",
                        AttributeValue=as_written(r.get("filter_policy")) if want["filter_policy"] is not None else "{}")
        return Observed({**want, "arn": arn}, identity={"arn": arn, "topic_arn": want["topic_arn"]})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        arn = str(observed.identity["arn"])
        if arn == PENDING:  # an unconfirmed subscription cannot be removed; AWS drops it after 3 days
            return
        with api_errors(ignore=GONE + ("NotFound",)):
            session.client("sns").unsubscribe(SubscriptionArn=arn)
