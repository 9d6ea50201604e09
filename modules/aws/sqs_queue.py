"""`aws.sqs_queue`: a queue with its delivery settings, a dead-letter queue (`redrive_policy`) and tags.

ListQueues is one paginated call for all, and the ownership tags of the stack's queues come from one
Tagging API call; SQS has no batch read of settings, so each managed queue costs a GetQueueAttributes
(read several at once). Deleting a queue that holds messages is
a data-loss hazard the plan blocks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted, NotCarried, TerraformObject
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, desired_tags
from .named_base import TaggedNamedModule
from .policy import as_written, normalize_policy
from .terraform import json_value as tf_json
from .terraform import pick, tags

SETTINGS = {  # spec key -> (SQS attribute, default)
    "visibility_timeout": ("VisibilityTimeout", 30),
    "message_retention_seconds": ("MessageRetentionPeriod", 345600),
    "delay_seconds": ("DelaySeconds", 0),
    "max_message_size": ("MaximumMessageSize", 262144),
    "receive_wait_time_seconds": ("ReceiveMessageWaitTimeSeconds", 0),
}


def queue_name(resource: Resource) -> str:
    return str(resource.get("queue_name") or resource.name)


def redrive(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    return {"dead_letter_target_arn": str(value["dead_letter_target_arn"]),
            "max_receive_count": int(value["max_receive_count"])}


def redrive_from_api(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    policy = json.loads(text)
    return redrive({"dead_letter_target_arn": policy.get("deadLetterTargetArn"),
                    "max_receive_count": policy.get("maxReceiveCount")})


class SqsQueueModule(TaggedNamedModule):
    type_name = "aws.sqs_queue"

    terraform_types = ("aws_sqs_queue",)
    terraform_names = {"queue_name": "name", "visibility_timeout": "visibility_timeout_seconds"}  # as the provider names them
    terraform_parts = ("aws_sqs_queue_policy", "aws_sqs_queue_redrive_policy")
    terraform_computed = frozenset({"kms_data_key_reuse_period_seconds", "fifo_throughput_limit", "deduplication_scope"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "queue_name", "visibility_timeout_seconds": "visibility_timeout",
                            "message_retention_seconds": "message_retention_seconds", "delay_seconds": "delay_seconds",
                            "max_message_size": "max_message_size",
                            "receive_wait_time_seconds": "receive_wait_time_seconds",
                            "kms_master_key_id": "kms_master_key_id"})
        values.get("fifo_queue")  # follows from the name (.fifo)
        if values.get("sqs_managed_sse_enabled") is not None and not out.get("kms_master_key_id"):
            out["sqs_managed_sse_enabled"] = bool(values["sqs_managed_sse_enabled"])
        if values.get("policy"):
            out["policy"] = tf_json(values["policy"])
        if values.get("redrive_policy"):
            self.merge_terraform_part(out, "aws_sqs_queue_redrive_policy", values)
        return Adopted({**out, **tags(values)}, str(values["name"]))

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("queue_url") or "").rsplit("/", 1)[-1] or None

    def to_terraform(self, attributes: Mapping[str, Any]) -> Sequence[TerraformObject]:
        """The redrive and access policies as the provider holds them: JSON text."""
        (queue,) = super().to_terraform(attributes)
        values = dict(queue.values)
        dead = attributes.get("redrive_policy")
        if isinstance(dead, Mapping):
            values["redrive_policy"] = json.dumps({"deadLetterTargetArn": dead.get("dead_letter_target_arn"),
                                                   "maxReceiveCount": dead.get("max_receive_count")})
        if isinstance(attributes.get("policy"), (Mapping, list)):
            values["policy"] = json.dumps(attributes["policy"])
        return (TerraformObject(queue.type, "", values),)

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        if part_type == "aws_sqs_queue_policy":
            attributes["policy"] = tf_json(values.get("policy"))
        else:
            redrive = tf_json(values.get("redrive_policy"))
            if not isinstance(redrive, dict):
                raise NotCarried("redrive_policy", "not a JSON object")
            attributes["redrive_policy"] = {"dead_letter_target_arn": redrive.get("deadLetterTargetArn"),
                                            "max_receive_count": int(redrive.get("maxReceiveCount") or 1)}
    name_attribute = "queue_name"
    computed = frozenset({"arn", "url"})
    requires_replace = frozenset({"queue_name", "fifo_queue"})
    service, kind, discover_type, tagging, snapshots = "sqs", "queue", "sqs", "sqs", True
    listing, fresh_only = ("list_queues", "QueueUrls"), frozenset({"messages"})  # listed as URLs

    def listed_name(self, item: Any) -> str:
        return str(item).rsplit("/", 1)[-1]

    def identity_of(self, item: Any) -> dict[str, Any]:
        return {"url": item}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"queue_name": queue_name(r), "fifo_queue": queue_name(r).endswith(".fifo"),
                               "redrive_policy": redrive(r.get("redrive_policy")), "owned": True,
                               "tags": desired_tags(r)}
        for key, (_, default) in SETTINGS.items():
            out[key] = int(r.get(key) if r.get(key) is not None else default)
        if r.get("policy") is not None:  # compared (as IAM compares policies) when the spec sets one
            out["policy"] = normalize_policy(r.get("policy"))
        if r.get("kms_master_key_id"):
            out["kms_master_key_id"] = str(r.get("kms_master_key_id"))
        elif r.get("sqs_managed_sse_enabled") is not None:
            out["sqs_managed_sse_enabled"] = bool(r.get("sqs_managed_sse_enabled"))
        return out

    def equal(self, name: str, desired: Any, observed: Any) -> bool:
        if name == "policy":
            return bool(normalize_policy(desired) == normalize_policy(observed))
        return bool(desired == observed)

    def read_tags(self, client: Any, item: Any) -> dict[str, str]:
        return dict(client.list_queue_tags(QueueUrl=item).get("Tags") or {})

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        got = client.get_queue_attributes(QueueUrl=item, AttributeNames=["All"])["Attributes"]
        settings: dict[str, Any] = {"arn": got["QueueArn"], "url": item, "fifo_queue": got.get("FifoQueue") == "true",
                                    "redrive_policy": redrive_from_api(got.get("RedrivePolicy"))}
        for key, (attribute, default) in SETTINGS.items():
            settings[key] = int(got.get(attribute, default))
        settings["policy"] = normalize_policy(got["Policy"]) if got.get("Policy") else None
        settings["kms_master_key_id"] = got.get("KmsMasterKeyId") or None
        settings["sqs_managed_sse_enabled"] = got.get("SqsManagedSseEnabled") == "true"
        return settings, {"url": item, "arn": got["QueueArn"],
                          "messages": int(got.get("ApproximateNumberOfMessages", 0))}

    @staticmethod
    def _attributes(want: Mapping[str, Any], keys: Sequence[str], written: Mapping[str, Any]) -> dict[str, str]:
        out = {SETTINGS[k][0]: str(want[k]) for k in keys if k in SETTINGS}
        if "redrive_policy" in keys:
            policy = want["redrive_policy"]
            out["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": policy["dead_letter_target_arn"],
                                               "maxReceiveCount": policy["max_receive_count"]}) if policy else ""
        if "policy" in keys and written.get("policy") is not None:  # sent as written, compared normalised
            out["Policy"] = as_written(written.get("policy"))
        if "kms_master_key_id" in keys and want.get("kms_master_key_id"):
            out["KmsMasterKeyId"] = str(want["kms_master_key_id"])
        if "sqs_managed_sse_enabled" in keys and "sqs_managed_sse_enabled" in want:
            out["SqsManagedSseEnabled"] = "true" if want["sqs_managed_sse_enabled"] else "false"
        return out

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        extra = [k for k in ("policy", "kms_master_key_id", "sqs_managed_sse_enabled") if k in want]
        attributes = self._attributes(want, [*SETTINGS, *(["redrive_policy"] if want["redrive_policy"] else []),
                                             *extra], resource.attributes)
        if want["fifo_queue"]:
            attributes["FifoQueue"] = "true"
        url = client.create_queue(QueueName=want["queue_name"], Attributes=attributes, tags=tags)["QueueUrl"]
        return {"url": url, "arn": client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]}

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        attributes = self._attributes(want, sorted(changed), resource.attributes)
        if attributes:
            client.set_queue_attributes(QueueUrl=identity["url"], Attributes=attributes)

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.tag_queue(QueueUrl=identity["url"], Tags=tags)

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.untag_queue(QueueUrl=identity["url"], TagKeys=keys)

    def destroy_hazard(self, session: AwsSession, change: Change, going: Sequence[Change] = ()) -> str | None:
        """A queue with messages: deleting it loses them."""
        if change.observed is None:
            return None
        identity = dict(change.observed.identity)
        if "messages" not in identity:  # taken from the state's snapshot: ask now
            with api_errors(ignore=GONE + ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")):
                got = session.client("sqs").get_queue_attributes(
                    QueueUrl=str(identity["url"]), AttributeNames=["ApproximateNumberOfMessages"])
                identity["messages"] = got["Attributes"].get("ApproximateNumberOfMessages", 0)
        waiting = int(identity.get("messages") or 0)
        return f"queue {identity.get('queue_name')} holds {waiting} messages" if waiting else None

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE + ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")):
            session.client("sqs").delete_queue(QueueUrl=str(observed.identity["url"]))
