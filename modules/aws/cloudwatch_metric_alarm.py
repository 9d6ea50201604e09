"""`aws.cloudwatch_metric_alarm`: an alarm on one metric, with its actions (an `aws.sns_topic`'s ARN, an
auto scaling policy…). DescribeAlarms is one paginated call for all; each managed alarm costs a tag
listing. PutMetricAlarm both creates and updates, so every setting changes in place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, desired_tags
from .named_base import TaggedNamedModule
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


class CloudwatchMetricAlarmModule(TaggedNamedModule):
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
    computed = frozenset({"arn"})
    requires_replace = frozenset({"alarm_name"})
    service, kind, discover_type = "cloudwatch", "alarm", "cloudwatch:alarm"
    listing, list_key, arn_field = ("describe_alarms", "MetricAlarms"), "AlarmName", "AlarmArn"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"alarm_name": alarm_name(r), "owned": True, "tags": desired_tags(r),
                               "dimensions": text_map(r.get("dimensions"))}
        for key, (_, default) in SETTINGS.items():
            out[key] = _typed(key, r.get(key) if r.get(key) is not None else default)
        for key in ACTIONS:
            out[key] = sorted(str(a) for a in r.get(key) or [])
        return out

    def read(self, client: Any, resource: Resource, item: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
        arn = item["AlarmArn"]
        settings: dict[str, Any] = {"arn": arn,
                                    "dimensions": {d["Name"]: d["Value"] for d in item.get("Dimensions") or []}}
        for key, (field, default) in SETTINGS.items():
            settings[key] = _typed(key, item.get(field, default))
        for key, field in ACTIONS.items():
            settings[key] = sorted(item.get(field) or [])
        return settings, {"arn": arn}

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        client.put_metric_alarm(**_alarm(want), Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return {"arn": client.describe_alarms(AlarmNames=[want["alarm_name"]])["MetricAlarms"][0]["AlarmArn"]}

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        if changed - {"tags", "owned"}:  # PutMetricAlarm both creates and updates
            client.put_metric_alarm(**_alarm(want))

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("cloudwatch").delete_alarms(AlarmNames=[str(observed.identity["alarm_name"])])


def _alarm(want: Mapping[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm's arguments for the alarm the spec describes."""
    kwargs: dict[str, Any] = {"AlarmName": want["alarm_name"], **{ACTIONS[k]: want[k] for k in ACTIONS},
                              "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(want["dimensions"].items())]}
    kwargs.update({field: want[key] for key, (field, _) in SETTINGS.items() if want[key] is not None})
    return kwargs
