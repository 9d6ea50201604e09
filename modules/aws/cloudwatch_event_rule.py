"""`aws.cloudwatch_event_rule`: an EventBridge rule on the default bus, on a schedule (`rate(1 day)`,
`cron(0 3 * * ? *)`) or an event pattern, with its targets (a function, a queue, a topic): the nightly
job done serverless. ListRules is one paginated call for all; each managed rule costs its target and
tag listings. PutRule both creates and updates, so its settings change in place; targets are a set
keyed by id."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted, NotCarried
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, desired_tags
from .named_base import TaggedNamedModule
from .policy import as_written
from .terraform import json_value as tf_json
from .terraform import pick, tags


def rule_name(resource: Resource) -> str:
    return str(resource.get("rule_name") or resource.name)


def pattern(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else (value or None)


def targets_of(values: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(t["id"]): {"arn": str(t["arn"]), "input": t.get("input")} for t in values}


class CloudwatchEventRuleModule(TaggedNamedModule):
    type_name = "aws.cloudwatch_event_rule"

    terraform_types = ("aws_cloudwatch_event_rule",)
    terraform_names = {"rule_name": "name"}  # as the provider names them
    terraform_parts = ("aws_cloudwatch_event_target",)
    terraform_computed = frozenset({"is_enabled", "force_destroy"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "rule_name", "schedule_expression": "schedule_expression",
                            "description": "description"})
        if values.get("event_pattern"):
            out["event_pattern"] = tf_json(values["event_pattern"])
        state = values.get("state") or ("ENABLED" if values.get("is_enabled", True) else "DISABLED")
        out["enabled"] = state != "DISABLED"
        bus = values.get("event_bus_name")
        notes = (f"{self.type_name}.{name}: event bus {bus} is not carried (reconcile uses the default bus)",) \
            if bus and bus != "default" else ()
        return Adopted({**out, **tags(values)}, str(values["name"]), notes=notes)

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("rule") or "") or None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        extra = [k for k in ("input_transformer", "input_path", "ecs_target", "batch_target", "kinesis_target",
                             "sqs_target", "http_target", "run_command_targets", "dead_letter_config",
                             "retry_policy", "role_arn") if values.get(k)]
        if extra:
            raise NotCarried("targets", f"a target with {', '.join(extra)} is not a setting reconcile has")
        target: dict[str, Any] = {"id": str(values.get("target_id")), "arn": str(values.get("arn"))}
        if values.get("input"):
            target["input"] = tf_json(values["input"])
        attributes["targets"] = [*attributes.get("targets", []), target]
    name_attribute = "rule_name"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"rule_name"})
    service, kind, discover_type = "events", "events rule", "events:rule"
    listing, list_key, arn_field = ("list_rules", "Rules"), "Name", "Arn"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"rule_name": rule_name(r), "schedule_expression": r.get("schedule_expression"),
                "event_pattern": pattern(r.get("event_pattern")), "enabled": bool(r.get("enabled", True)),
                "description": str(r.get("description") or ""),
                "targets": targets_of([{**t, "input": json.dumps(t["input"], sort_keys=True)
                                        if isinstance(t.get("input"), (dict, list)) else t.get("input")}
                                       for t in r.get("targets") or []]),
                "owned": True, "tags": desired_tags(r)}

    def read(self, client: Any, resource: Resource, item: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
        targets = client.list_targets_by_rule(Rule=item["Name"]).get("Targets") or []
        return ({"arn": item["Arn"], "schedule_expression": item.get("ScheduleExpression"),
                 "event_pattern": pattern(item.get("EventPattern")), "enabled": item.get("State") == "ENABLED",
                 "description": str(item.get("Description") or ""),
                 "targets": targets_of([{"id": t["Id"], "arn": t["Arn"], "input": t.get("Input")} for t in targets])},
                {"arn": item["Arn"]})

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        # PutRule is an upsert: a lost answer is simply sent again
        return {"arn": client.put_rule(**_rule(resource, want),
                                       Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["RuleArn"]}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return {"targets"} if want["targets"] else set()

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        name = want["rule_name"]
        if observed is not None and changed & {"schedule_expression", "event_pattern", "enabled", "description"}:
            client.put_rule(**_rule(resource, want))
        have = (observed.attributes.get("targets") if observed is not None else None) or {}
        gone = [i for i in have if i not in want["targets"]]
        if gone:
            client.remove_targets(Rule=name, Ids=gone)
        put = [{"Id": i, "Arn": t["arn"], **({"Input": t["input"]} if t["input"] else {})}
               for i, t in want["targets"].items() if have.get(i) != t]
        if put:
            client.put_targets(Rule=name, Targets=put)

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        events = session.client("events")
        name = str(observed.identity["rule_name"])
        with api_errors(ignore=GONE):
            ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name).get("Targets") or []]
            if ids:
                events.remove_targets(Rule=name, Ids=ids)
            events.delete_rule(Name=name)


def _rule(resource: Resource, want: Mapping[str, Any]) -> dict[str, Any]:
    """PutRule's arguments for the rule the spec describes."""
    rule: dict[str, Any] = {"Name": want["rule_name"], "State": "ENABLED" if want["enabled"] else "DISABLED",
                            "Description": want["description"]}
    if want["schedule_expression"]:
        rule["ScheduleExpression"] = want["schedule_expression"]
    if want["event_pattern"]:
        rule["EventPattern"] = as_written(resource.get("event_pattern"))  # compared by meaning, sent as written
    return rule
