"""`aws.sns_subscription`: an endpoint (a queue, a function, an HTTPS URL, an address) subscribed to an
`aws.sns_topic`, with raw delivery and a filter policy. Subscriptions carry no tags: one is known by the
ARN the state recorded, and one found with the same topic, protocol and endpoint but not recorded is
not taken over without `import:`. ListSubscriptionsByTopic is one call per topic for all its
subscriptions; each managed one costs a GetSubscriptionAttributes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .child_base import ChildModule
from .common import GONE, api_errors, paginate
from .policy import as_written, filter_policy_problem, json_value
from .terraform import json_value as tf_json
from .terraform import pick

PENDING = "PendingConfirmation"


class SnsSubscriptionModule(ChildModule):
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
    computed = frozenset({"arn"})
    requires_replace = frozenset({"topic_arn", "protocol", "endpoint"})
    service, parent_attribute = "sns", "topic_arn"

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

    def children(self, client: Any, parent: str) -> list[Any]:
        with api_errors(ignore=("NotFound",)):
            return paginate(client, "list_subscriptions_by_topic", "Subscriptions", TopicArn=parent)
        return []  # the topic is gone: so are its subscriptions

    def recorded(self, resource: Resource) -> str | None:
        return str(resource.prior.get("arn") or resource.get("import") or "") or None

    def named(self, child: Any, name: str) -> bool:
        return bool(child["SubscriptionArn"] == name)

    def same_key(self, resource: Resource, child: Any) -> bool:
        return bool(child["Protocol"] == resource.get("protocol") and child["Endpoint"] == resource.get("endpoint"))

    def refusal(self, resource: Resource, child: Any) -> str:
        return (f"{resource.get('endpoint')} is already subscribed to {resource.get('topic_arn')} and not managed "
                f"by reconcile; set import: {child['SubscriptionArn']} to take it over")

    def read(self, client: Any, resource: Resource, child: Any) -> Observed:
        arn = child["SubscriptionArn"]
        attrs: dict[str, Any] = {"arn": arn, "topic_arn": child["TopicArn"], "protocol": child["Protocol"],
                                 "endpoint": child["Endpoint"], "raw_message_delivery": False, "filter_policy": None}
        if arn != PENDING:
            with api_errors():
                got = client.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
            attrs["raw_message_delivery"] = got.get("RawMessageDelivery") == "true"
            attrs["filter_policy"] = json_value(got.get("FilterPolicy"))  # "{}" (a removed one) is none
        return Observed(attrs, identity={"arn": arn, "topic_arn": child["TopicArn"]})

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
