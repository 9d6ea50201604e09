"""`aws.cloudwatch_event_rule`: an EventBridge rule on the default bus, on a schedule (`rate(1 day)`,
`cron(0 3 * * ? *)`) or an event pattern, with its targets (a function, a queue, a topic): the nightly
job done serverless. ListRules is one paginated call for all; each managed rule costs its target and
tag listings. PutRule both creates and updates, so its settings change in place; targets are a set
keyed by id."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module, NotCarried
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    api_errors,
    carries_marks,
    desired_tags,
    discover_named,
    not_ours,
    ownership_tags,
    paginate,
    read_each,
    retag,
    visible_tags,
)
from .policy import as_written
from .terraform import json_value as tf_json
from .terraform import pick, tags


def rule_name(resource: Resource) -> str:
    return str(resource.get("rule_name") or resource.name)


def pattern(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else (value or None)


def targets_of(values: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(t["id"]): {"arn": str(t["arn"]), "input": t.get("input")} for t in values}


class CloudwatchEventRuleModule(Module[AwsSession], TerraformForm, Discovers):
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
    family = "aws"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"rule_name"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"rule_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"events rule {rule_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "events:rule", "rule_name")

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"rule_name": rule_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"rule_name": rule_name(r), "schedule_expression": r.get("schedule_expression"),
                "event_pattern": pattern(r.get("event_pattern")), "enabled": bool(r.get("enabled", True)),
                "description": str(r.get("description") or ""),
                "targets": targets_of([{**t, "input": json.dumps(t["input"], sort_keys=True)
                                        if isinstance(t.get("input"), (dict, list)) else t.get("input")}
                                       for t in r.get("targets") or []]),
                "owned": True, "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        events = session.client("events")
        with api_errors():
            rules = {x["Name"]: x for x in session.listed("events:rules",
                                                         lambda: paginate(events, "list_rules", "Rules"))}
        names = {r.address: next((n for n in (rule_name(r), r.prior.get("rule_name")) if n in rules), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, events, r, rules[str(names[r.address])]))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, events: Any, r: Resource, rule: Mapping[str, Any]) -> Observed | Unobservable:
        name, arn = rule["Name"], rule["Arn"]
        with api_errors():
            tags = {t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=arn).get("Tags") or []}
            refused = not_ours("events rule", name, tags, r, session)
            if refused:
                return refused
            targets = events.list_targets_by_rule(Rule=name).get("Targets") or []
        attrs = {"arn": arn, "rule_name": name, "schedule_expression": rule.get("ScheduleExpression"),
                 "event_pattern": pattern(rule.get("EventPattern")), "enabled": rule.get("State") == "ENABLED",
                 "description": str(rule.get("Description") or ""),
                 "targets": targets_of([{"id": t["Id"], "arn": t["Arn"], "input": t.get("Input")} for t in targets]),
                 "owned": carries_marks(tags, r, session), "tags": visible_tags(tags)}
        return Observed(attrs, identity={"arn": arn, "tags": tags, "rule_name": name}, ours=attrs["owned"])

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        events = session.client("events")
        want = self.desired(r)
        name = rule_name(r)
        rule: dict[str, Any] = {"Name": name, "State": "ENABLED" if want["enabled"] else "DISABLED",
                                "Description": want["description"]}
        if want["schedule_expression"]:
            rule["ScheduleExpression"] = want["schedule_expression"]
        if want["event_pattern"]:
            rule["EventPattern"] = as_written(r.get("event_pattern"))  # compared by meaning, sent as written
        with api_errors():
            if change.observed is None:  # PutRule is an upsert: a lost answer is simply sent again
                tags = {**want["tags"], **ownership_tags(r, session)}
                arn = events.put_rule(**rule, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["RuleArn"]
                have_tags: Mapping[str, str] = tags
                have_targets: Mapping[str, Any] = {}
            else:
                changed = {d.name for d in change.diffs}
                arn = str(change.observed.identity["arn"])
                if changed & {"schedule_expression", "event_pattern", "enabled", "description"}:
                    events.put_rule(**rule)
                have_tags = change.observed.identity.get("tags", {})
                have_targets = change.observed.attributes.get("targets") or {}
            gone = [i for i in have_targets if i not in want["targets"]]
            if gone:
                events.remove_targets(Rule=name, Ids=gone)
            put = [{"Id": i, "Arn": t["arn"], **({"Input": t["input"]} if t["input"] else {})}
                   for i, t in want["targets"].items() if have_targets.get(i) != t]
            if put:
                events.put_targets(Rule=name, Targets=put)
            retag(have_tags, r, session,
                  lambda t: events.tag_resource(ResourceARN=arn, Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
                  lambda keys: events.untag_resource(ResourceARN=arn, TagKeys=keys))
        return Observed({**want, "arn": arn}, identity={"arn": arn, "rule_name": name})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        events = session.client("events")
        name = str(observed.identity["rule_name"])
        with api_errors(ignore=GONE):
            ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name).get("Targets") or []]
            if ids:
                events.remove_targets(Rule=name, Ids=ids)
            events.delete_rule(Name=name)
