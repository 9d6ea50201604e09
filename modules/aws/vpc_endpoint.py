"""`aws.vpc_endpoint`: a VPC endpoint; the gateway type (S3, DynamoDB) adds routes to the route tables
it is given (changed in place); VPC, service and type force a replacement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.aws_errors import error_code
from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted, NotCarried
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, create_once, desired_tags, paginate, tag_specs
from .ec2_base import Ec2Module
from .terraform import listed, pick, tags


class VpcEndpointModule(Ec2Module):
    type_name = "aws.vpc_endpoint"

    terraform_types = ("aws_vpc_endpoint",)
    terraform_parts = ("aws_vpc_endpoint_route_table_association",)
    terraform_computed = frozenset({
        "cidr_blocks", "dns_entry", "network_interface_ids", "prefix_list_id", "requester_managed",
        "security_group_ids", "subnet_ids", "private_dns_enabled", "ip_address_type", "dns_options", "auto_accept",
        "subnet_configuration", "service_region", "policy"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        kind = values.get("vpc_endpoint_type") or "Gateway"
        if kind != "Gateway":
            raise NotCarried("", f"an {kind} endpoint (aws.vpc_endpoint makes gateway endpoints)")
        out = pick(values, {"vpc_id": "vpc_id", "service_name": "service_name"})
        out["vpc_endpoint_type"] = kind
        if values.get("route_table_ids"):
            out["route_table_ids"] = listed(values, "route_table_ids")
        return Adopted({**out, **tags(values)}, str(values["id"]))

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("vpc_endpoint_id") or "") or None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        attributes["route_table_ids"] = sorted({*attributes.get("route_table_ids", []), str(values["route_table_id"])})
    describe = ("describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId", "vpc-endpoint-id")
    computed = frozenset({"id"})
    requires_replace = frozenset({"vpc_id", "service_name", "vpc_endpoint_type"})

    def list_items(self, session: AwsSession, filters: list[dict[str, Any]]) -> list[Any]:
        if len(filters) == 1 and filters[0]["Name"] == "vpc-endpoint-id":  # by id: the parameter every endpoint takes
            items = self._by_ids(session, list(filters[0]["Values"]))
        else:
            items = paginate(session.client("ec2"), "describe_vpc_endpoints", "VpcEndpoints", Filters=filters)
        return [i for i in items if str(i.get("State", "")).lower() not in ("deleted", "deleting")]

    def _by_ids(self, session: AwsSession, ids: list[str]) -> list[Any]:
        """The endpoints of these ids; one that no longer exists fails the whole call, so then one by one."""
        ec2 = session.client("ec2")
        try:
            return paginate(ec2, "describe_vpc_endpoints", "VpcEndpoints", VpcEndpointIds=ids)
        except Exception as exc:  # noqa: BLE001 - sorted below; anything else is raised as it is
            if "NotFound" not in error_code(exc) or len(ids) == 1:
                if "NotFound" in error_code(exc):
                    return []
                raise
        return [item for one in ids for item in self._by_ids(session, [one])]

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = super().desired(resource)
        out["tags"] = desired_tags(resource)
        out["route_table_ids"] = sorted(str(t) for t in resource.get("route_table_ids") or [])
        out.setdefault("vpc_endpoint_type", "Gateway")
        return out

    def attributes(self, session: AwsSession, resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
        return {"vpc_id": item.get("VpcId"), "service_name": item.get("ServiceName"),
                "vpc_endpoint_type": item.get("VpcEndpointType", "Gateway"),
                "route_table_ids": sorted(item.get("RouteTableIds") or [])}

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        tables = sorted(str(t) for t in r.get("route_table_ids") or [])
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {"VpcId": r.get("vpc_id"), "ServiceName": r.get("service_name"),
                                          "VpcEndpointType": r.get("vpc_endpoint_type") or "Gateway",
                                          "TagSpecifications": tag_specs(r, "vpc-endpoint", session),
                                          "ClientToken": self.client_token(session, r)}
                if tables:
                    kwargs["RouteTableIds"] = tables
                endpoint = create_once(r.address, lambda: session.client("ec2", once=True).create_vpc_endpoint(
                    **kwargs)["VpcEndpoint"], lambda: self.tagged_item(session, r))
                endpoint_id = endpoint["VpcEndpointId"]
            else:
                endpoint_id = change.observed.identity["id"]
                have = set(change.observed.attributes.get("route_table_ids") or [])
                add, remove = sorted(set(tables) - have), sorted(have - set(tables))
                if add or remove:
                    session.client("ec2").modify_vpc_endpoint(VpcEndpointId=endpoint_id, AddRouteTableIds=add,
                                                              RemoveRouteTableIds=remove)
                self.retag(session, change, endpoint_id)
        return Observed({**self.desired(r), "id": endpoint_id}, identity={"id": endpoint_id})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[observed.identity.get("id") or observed.attributes["id"]])
