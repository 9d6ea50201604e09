"""`aws.cloudwatch_metric_alarm`: an alarm on one metric, with its actions (an `aws.sns_topic`'s ARN, an
auto scaling policy…). DescribeAlarms is one paginated call for all; each managed alarm costs a tag
listing. PutMetricAlarm both creates and updates, so every setting changes in place."""

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
    desired_tags,
    discover_named,
    not_ours,
    ownership_tags,
    paginate,
    read_each,
    retag,
    visible_tags,
)
from .policy import text_map
from .terraform import listed, pick, tags

SETTINGS = {  # spec key -> (API field, default)
    "metric_name": ("MetricName", None), "namespace": ("Namespace", None), "statistic": ("Statistic", "Average"),
    "period": ("Period", 300), "evaluation_periods": ("EvaluationPeriods", 1), "threshold": ("Threshold", None),
    "comparison_operator": ("ComparisonOperator", None), "treat_missing_data": ("TreatMissingData", "missing"),
    "alarm_description": ("AlarmDescription", ""), "datapoints_to_alarm": ("DatapointsToAlarm", None),
    "actions_enabled": ("ActionsEnabled", True),
}
ACTIONS = {"alarm_actions": "AlarmActions", "ok_actions": "OKActions",
           "insufficient_data_actions": "InsufficientDataActions"}


def alarm_name(resource: Resource) -> str:
    return str(resource.get("alarm_name") or resource.name)


def _typed(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key == "threshold":
        return float(value)
    if key in ("period", "evaluation_periods", "datapoints_to_alarm"):
        return int(value)
    if key == "actions_enabled":
        return bool(value)
    return str(value)


class CloudwatchMetricAlarmModule(Module[AwsSession], TerraformForm, Discovers):
    type_name = "aws.cloudwatch_metric_alarm"

    terraform_types = ("aws_cloudwatch_metric_alarm",)
    terraform_computed = frozenset({"evaluate_low_sample_count_percentiles"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {k: k for k in (
            "alarm_name", "namespace", "metric_name", "dimensions", "statistic", "period", "evaluation_periods",
            "datapoints_to_alarm", "threshold", "comparison_operator", "treat_missing_data", "alarm_description")})
        if not out.get("datapoints_to_alarm"):
            out.pop("datapoints_to_alarm", None)  # 0: unset (the evaluation periods)
        out["actions_enabled"] = bool(values.get("actions_enabled", True))
        for key in ("alarm_actions", "ok_actions", "insufficient_data_actions"):
            if values.get(key):
                out[key] = listed(values, key)
        return Adopted({**out, **tags(values)}, str(values["alarm_name"]))
    name_attribute = "alarm_name"
    family = "aws"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"alarm_name"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"alarm_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"alarm {alarm_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "cloudwatch:alarm", "alarm_name")

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"alarm_name": alarm_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"alarm_name": alarm_name(r), "owned": True, "tags": desired_tags(r),
                               "dimensions": text_map(r.get("dimensions"))}
        for key, (_, default) in SETTINGS.items():
            out[key] = _typed(key, r.get(key) if r.get(key) is not None else default)
        for key in ACTIONS:
            out[key] = sorted(str(a) for a in r.get(key) or [])
        return out

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        cw = session.client("cloudwatch")
        with api_errors():
            alarms = {a["AlarmName"]: a for a in session.listed(
                "cloudwatch:alarms", lambda: paginate(cw, "describe_alarms", "MetricAlarms"))}
        names = {r.address: next((n for n in (alarm_name(r), r.prior.get("alarm_name")) if n in alarms), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, cw, r, alarms[str(names[r.address])]))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, cw: Any, r: Resource, alarm: Mapping[str, Any]) -> Observed | Unobservable:
        name, arn = alarm["AlarmName"], alarm["AlarmArn"]
        with api_errors():
            tags = {t["Key"]: t["Value"] for t in cw.list_tags_for_resource(ResourceARN=arn).get("Tags") or []}
        refused = not_ours("alarm", name, tags, r, session)
        if refused:
            return refused
        attrs: dict[str, Any] = {"arn": arn, "alarm_name": name, "owned": carries_marks(tags, r, session),
                                 "tags": visible_tags(tags),
                                 "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}}
        for key, (field, default) in SETTINGS.items():
            attrs[key] = _typed(key, alarm.get(field, default))
        for key, field in ACTIONS.items():
            attrs[key] = sorted(alarm.get(field) or [])
        return Observed(attrs, identity={"arn": arn, "tags": tags, "alarm_name": name}, ours=attrs["owned"])

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        cw = session.client("cloudwatch")
        want = self.desired(r)
        name = alarm_name(r)
        kwargs: dict[str, Any] = {"AlarmName": name, **{ACTIONS[k]: want[k] for k in ACTIONS},
                                  "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(want["dimensions"].items())]}
        kwargs.update({field: want[key] for key, (field, _) in SETTINGS.items() if want[key] is not None})
        with api_errors():
            if change.observed is None:  # PutMetricAlarm is an upsert: a lost answer is simply sent again
                cw.put_metric_alarm(**kwargs, Tags=[{"Key": k, "Value": v}
                                                    for k, v in {**want["tags"], **ownership_tags(r, session)}.items()])
                have: Mapping[str, str] = {**want["tags"], **ownership_tags(r, session)}
            else:
                if {d.name for d in change.diffs} - {"tags", "owned"}:
                    cw.put_metric_alarm(**kwargs)
                have = change.observed.identity.get("tags", {})
            arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
            retag(have, r, session,
                  lambda t: cw.tag_resource(ResourceARN=arn, Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
                  lambda keys: cw.untag_resource(ResourceARN=arn, TagKeys=keys))
        return Observed({**want, "arn": arn}, identity={"arn": arn, "alarm_name": name})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("cloudwatch").delete_alarms(AlarmNames=[str(observed.identity["alarm_name"])])
