"""`aws.lb_listener`: a port of an `aws.lb` (HTTP, or HTTPS with a certificate) and its default action:
forward to a target group, or redirect (e.g. HTTP to HTTPS). A listener is known by its balancer and
port; everything else changes in place. DescribeListeners is one call per balancer; tags come 20
listeners per call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module, NotCarried, TerraformObject
from reconciler.targets.aws import AwsSession

from .common import api_errors, carries_marks, desired_tags, not_ours, visible_tags
from .elb import ELB_GONE, elb_tag_list, elb_tags, retag_elb
from .terraform import first, pick, tags

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


class LbListenerModule(Module[AwsSession], TerraformForm):
    type_name = "aws.lb_listener"

    terraform_types = ("aws_lb_listener", "aws_alb_listener")
    terraform_computed = frozenset({
        "alpn_policy", "mutual_authentication", "tcp_idle_timeout_seconds", "routing_http_request_x_amzn_mtls_clientcert_header_name",
        "routing_http_response_server_enabled", "routing_http_response_strict_transport_security_header_value",
        "routing_http_response_access_control_allow_credentials_header_value",
        "routing_http_response_access_control_allow_headers_header_value",
        "routing_http_response_access_control_allow_methods_header_value",
        "routing_http_response_access_control_allow_origin_header_value",
        "routing_http_response_access_control_expose_headers_header_value",
        "routing_http_response_access_control_max_age_header_value",
        "routing_http_response_content_security_policy_header_value",
        "routing_http_response_x_content_type_options_header_value",
        "routing_http_response_x_frame_options_header_value",
        "routing_http_request_x_amzn_mtls_clientcert_serial_number_header_name",
        "routing_http_request_x_amzn_mtls_clientcert_issuer_header_name",
        "routing_http_request_x_amzn_mtls_clientcert_subject_header_name",
        "routing_http_request_x_amzn_mtls_clientcert_validity_header_name",
        "routing_http_request_x_amzn_mtls_clientcert_leaf_header_name",
        "routing_http_request_x_amzn_tls_version_header_name",
        "routing_http_request_x_amzn_tls_cipher_suite_header_name"})

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"arn": object_id}

    def to_terraform(self, attributes: Mapping[str, Any]) -> Sequence[TerraformObject]:
        """The default action as the provider's block list: `forward`'s target group, or a `redirect` or
        `fixed_response` block of its own."""
        (listener,) = super().to_terraform(attributes)
        values = dict(listener.values)
        action = dict(attributes.get("default_action") or {})
        kind = str(action.pop("type", "forward"))
        block: dict[str, Any] = {"type": kind}
        if kind == "forward":
            block["target_group_arn"] = action.get("target_group_arn")
        else:
            block["redirect" if kind == "redirect" else "fixed_response"] = [action]
        values["default_action"] = [block]
        return (TerraformObject(listener.type, "", values),)

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"load_balancer_arn": "load_balancer_arn", "port": "port", "protocol": "protocol",
                            "certificate_arn": "certificate_arn", "ssl_policy": "ssl_policy"})
        actions = [a for a in values.get("default_action") or [] if isinstance(a, dict)]
        if len(actions) != 1:
            raise NotCarried("", f"{len(actions)} default actions (aws.lb_listener has one)")
        action = actions[0]
        kind = str(action.get("type"))
        if kind == "forward":
            forward = first(action, "forward")
            groups = [g.get("arn") for g in forward.get("target_group") or []]
            target = action.get("target_group_arn") or (groups[0] if len(groups) == 1 else None)
            if not target:
                raise NotCarried("", "a weighted forward to several target groups")
            out["default_action"] = {"type": "forward", "target_group_arn": target}
        elif kind == "redirect":
            redirect = first(action, "redirect")
            out["default_action"] = {"type": "redirect", **pick(redirect, {k: k for k in (
                "protocol", "port", "host", "path", "query", "status_code")})}
        elif kind == "fixed-response":
            fixed = first(action, "fixed_response")
            out["default_action"] = {"type": "fixed-response", **pick(fixed, {k: k for k in (
                "status_code", "content_type", "message_body")})}
        else:
            raise NotCarried("", f"a default action of type {kind}")
        return Adopted({**out, **tags(values)}, str(values.get("arn") or values.get("id")))
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
