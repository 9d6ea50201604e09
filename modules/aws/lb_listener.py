"""`aws.lb_listener`: a port of an `aws.lb` (HTTP, or HTTPS with a certificate) and its default action:
forward to a target group, or redirect (e.g. HTTP to HTTPS). A listener is known by its balancer and
port; everything else changes in place. DescribeListeners is one call per balancer; tags come 20
listeners per call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Module
from reconciler.targets.aws import AwsSession

from .common import api_errors, carries_marks, desired_tags, not_ours, visible_tags
from .elb import ELB_GONE, elb_tag_list, elb_tags, retag_elb

REDIRECT_DEFAULTS = {"host": "#{host}", "path": "/#{path}", "query": "#{query}"}  # AWS's "keep as it was"


def action_of(value: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's default_action, or the API's DefaultActions[0], in one comparable shape: every field AWS
    keeps is compared (a redirect's host, path and query; a fixed response's status, type and body)."""
    if "Type" in value:
        kind = value["Type"]
        if kind == "forward":
            return {"type": "forward", "target_group_arn": value.get("TargetGroupArn")}
        if kind == "fixed-response":
            f = value.get("FixedResponseConfig") or {}
            return {"type": "fixed-response", "status_code": str(f.get("StatusCode")),
                    "content_type": f.get("ContentType"), "message_body": f.get("MessageBody")}
        r = value.get("RedirectConfig") or {}
        return {"type": "redirect", "protocol": r.get("Protocol"), "port": str(r.get("Port")),
                "host": r.get("Host") or REDIRECT_DEFAULTS["host"], "path": r.get("Path") or REDIRECT_DEFAULTS["path"],
                "query": r.get("Query") if r.get("Query") is not None else REDIRECT_DEFAULTS["query"],
                "status_code": r.get("StatusCode")}
    kind = value.get("type", "forward")
    if kind == "forward":
        return {"type": "forward", "target_group_arn": str(value["target_group_arn"])}
    if kind == "fixed-response":
        return {"type": "fixed-response", "status_code": str(value.get("status_code") or "200"),
                "content_type": str(value.get("content_type") or "text/plain"),
                "message_body": value.get("message_body")}
    return {"type": "redirect", "protocol": str(value.get("protocol") or "HTTPS"), "port": str(value.get("port") or 443),
            "host": str(value.get("host") or REDIRECT_DEFAULTS["host"]),
            "path": str(value.get("path") or REDIRECT_DEFAULTS["path"]),
            "query": str(value["query"]) if value.get("query") is not None else REDIRECT_DEFAULTS["query"],
            "status_code": str(value.get("status_code") or "HTTP_301")}


def action_api(action: Mapping[str, Any]) -> dict[str, Any]:
    if action["type"] == "forward":
        return {"Type": "forward", "TargetGroupArn": action["target_group_arn"]}
    if action["type"] == "fixed-response":
        config = {"StatusCode": action["status_code"], "ContentType": action["content_type"]}
        if action.get("message_body") is not None:
            config["MessageBody"] = action["message_body"]
        return {"Type": "fixed-response", "FixedResponseConfig": config}
    return {"Type": "redirect", "RedirectConfig": {
        "Protocol": action["protocol"], "Port": action["port"], "Host": action["host"], "Path": action["path"],
        "Query": action["query"], "StatusCode": action["status_code"]}}


class LbListenerModule(Module[AwsSession]):
    type_name = "aws.lb_listener"
    family = "aws"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"load_balancer_arn", "port"})
    not_compared = frozenset({"state", "import"})

    def physical_key(self, resource: Resource) -> str | None:
        return f"listener on port {resource.get('port')} of {resource.get('load_balancer_arn')}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"load_balancer_arn": str(r.get("load_balancer_arn")), "port": int(r.get("port")),
                               "protocol": str(r.get("protocol") or "HTTP"),
                               "default_action": action_of(r.get("default_action")), "owned": True,
                               "tags": desired_tags(r)}
        if out["protocol"] == "HTTPS":
            out["certificate_arn"] = str(r.get("certificate_arn"))
            out["ssl_policy"] = str(r.get("ssl_policy") or "ELBSecurityPolicy-2016-08")
        return out

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        elb = session.client("elbv2")
        balancers = sorted({str(r.prior.get("load_balancer_arn") or r.get("load_balancer_arn")) for r in resources})

        def listeners(arn: str) -> list[dict[str, Any]]:
            with api_errors(ignore=ELB_GONE):
                return list(elb.describe_listeners(LoadBalancerArn=arn).get("Listeners") or [])
            return []
        by_lb = dict(zip(balancers, session.map(listeners, balancers), strict=True))
        matches = {r.address: next((x for x in by_lb[str(r.prior.get("load_balancer_arn") or r.get("load_balancer_arn"))]
                                    if x["Port"] == int(r.prior.get("port") or r.get("port"))), None)
                   for r in resources}
        tags = elb_tags(elb, [m["ListenerArn"] for m in matches.values() if m])
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            x = matches[r.address]
            if x is None:
                out[r.address] = None
                continue
            have = tags.get(x["ListenerArn"], {})
            refused = not_ours("listener", f"on port {x['Port']}", have, r, session)
            if refused:
                out[r.address] = refused
                continue
            attrs: dict[str, Any] = {
                "arn": x["ListenerArn"], "load_balancer_arn": x["LoadBalancerArn"], "port": x["Port"],
                "protocol": x.get("Protocol"), "default_action": action_of((x.get("DefaultActions") or [{}])[0]),
                "owned": carries_marks(have, r, session), "tags": visible_tags(have)}
            if x.get("Protocol") == "HTTPS":
                attrs["certificate_arn"] = ((x.get("Certificates") or [{}])[0]).get("CertificateArn")
                attrs["ssl_policy"] = x.get("SslPolicy")
            out[r.address] = Observed(attrs, identity={"arn": x["ListenerArn"], "tags": have}, ours=attrs["owned"])
        return out

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        elb = session.client("elbv2")
        want = self.desired(r)
        settings: dict[str, Any] = {"Protocol": want["protocol"], "DefaultActions": [action_api(want["default_action"])]}
        if want["protocol"] == "HTTPS":
            settings |= {"Certificates": [{"CertificateArn": want["certificate_arn"]}], "SslPolicy": want["ssl_policy"]}
        with api_errors():
            if change.observed is None:
                arn = elb.create_listener(LoadBalancerArn=want["load_balancer_arn"], Port=want["port"],
                                          Tags=elb_tag_list(r, session), **settings)["Listeners"][0]["ListenerArn"]
            else:
                arn = str(change.observed.identity["arn"])
                if {d.name for d in change.diffs} - {"tags", "owned"}:
                    elb.modify_listener(ListenerArn=arn, Port=want["port"], **settings)
                retag_elb(elb, arn, change.observed.identity.get("tags", {}), r, session)
        return Observed({**want, "arn": arn}, identity={"arn": arn})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=ELB_GONE):
            session.client("elbv2").delete_listener(ListenerArn=str(observed.identity["arn"]))
