"""`aws.vpc_endpoint`: a VPC endpoint; the gateway type (S3, DynamoDB) adds routes to the route tables
it is given (changed in place); VPC, service and type force a replacement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.targets.aws import AwsSession

from .common import GONE, Ec2Module, api_errors, create_once, desired_tags, paginate, tag_specs


class VpcEndpointModule(Ec2Module):
    type_name = "aws.vpc_endpoint"
    describe = ("describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId", "vpc-endpoint-id")
    computed = frozenset({"id"})
    requires_replace = frozenset({"vpc_id", "service_name", "vpc_endpoint_type"})

    def list_items(self, session: AwsSession, filters: list[dict[str, Any]]) -> list[Any]:
        items = paginate(session.client("ec2"), "describe_vpc_endpoints", "VpcEndpoints", Filters=filters)
        return [i for i in items if str(i.get("State", "")).lower() not in ("deleted", "deleting")]

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
