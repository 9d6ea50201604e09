"""`aws.route_table`: a VPC route table: its routes (to an internet gateway, a NAT gateway or a VPC
peering), the subnets associated with it, and optionally the VPC's main table. Routes and associations
are compared as sets and changed one by one in place (create, replace or delete a route; associate or
disassociate a subnet); the VPC forces a replacement. The VPC's own `local` route is left alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted, NotCarried
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, create_once, desired_tags, tag_specs
from .ec2_base import Ec2Module
from .terraform import pick, tags

TARGETS = {"gateway_id": "GatewayId", "nat_gateway_id": "NatGatewayId",
           "vpc_peering_connection_id": "VpcPeeringConnectionId"}


def routes_of(resource: Resource) -> list[dict[str, str]]:
    out = []
    for route in resource.get("routes") or []:
        out.append({"cidr_block": str(route["cidr_block"]),
                    **{k: str(route[k]) for k in TARGETS if route.get(k) is not None}})
    return sorted(out, key=lambda r: r["cidr_block"])


class RouteTableModule(Ec2Module):
    type_name = "aws.route_table"

    terraform_types = ("aws_route_table",)
    terraform_parts = ("aws_route", "aws_route_table_association", "aws_main_route_table_association")

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out: dict[str, Any] = pick(values, {"vpc_id": "vpc_id"})
        unmanaged: dict[str, str] = {}
        if values.get("propagating_vgws"):
            unmanaged["routes"] = "routes propagated from virtual private gateways are not a setting reconcile has"
        for route in values.get("route") or []:
            try:
                self.merge_terraform_part(out, "aws_route", route)
            except NotCarried as exc:
                unmanaged.setdefault(exc.attribute, exc.reason)
        return Adopted({**out, **tags(values)}, str(values["id"]), unmanaged=unmanaged)

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("route_table_id") or "") or None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        if part_type == "aws_main_route_table_association":
            attributes["main"] = True
        elif part_type == "aws_route_table_association":
            if not values.get("subnet_id"):
                raise NotCarried("subnet_ids", "an association with a gateway (edge association) is not a setting "
                                               "reconcile has")
            attributes["subnet_ids"] = sorted({*attributes.get("subnet_ids", []), str(values["subnet_id"])})
        else:
            cidr = values.get("destination_cidr_block") or values.get("cidr_block")
            targets = {k: values.get(k) for k in ("gateway_id", "nat_gateway_id", "vpc_peering_connection_id")
                       if values.get(k)}
            other = [k for k in ("transit_gateway_id", "network_interface_id", "vpc_endpoint_id",
                                 "egress_only_gateway_id", "carrier_gateway_id", "core_network_arn",
                                 "local_gateway_id", "destination_ipv6_cidr_block", "ipv6_cidr_block",
                                 "destination_prefix_list_id", "instance_id") if values.get(k)]
            if not cidr or len(targets) != 1 or other:
                raise NotCarried("routes", f"a route to {', '.join(other) or 'this target'} is not a setting "
                                           "reconcile has")
            route = {"cidr_block": cidr, **targets}
            if route not in attributes.get("routes", []):
                attributes["routes"] = [*attributes.get("routes", []), route]
    describe = ("describe_route_tables", "RouteTables", "RouteTableId", "route-table-id")
    computed = frozenset({"id"})
    requires_replace = frozenset({"vpc_id"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = super().desired(resource)
        out["routes"] = routes_of(resource)
        out["subnet_ids"] = sorted(str(s) for s in resource.get("subnet_ids") or [])
        out["tags"] = desired_tags(resource)
        if resource.get("main") is not None:
            out["main"] = bool(resource.get("main"))
        return out

    def attributes(self, session: AwsSession, resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
        routes = []
        for route in item.get("Routes") or []:
            if route.get("GatewayId") == "local" or route.get("Origin") == "EnableVgwRoutePropagation" \
                    or not route.get("DestinationCidrBlock"):
                continue
            routes.append({"cidr_block": route["DestinationCidrBlock"],
                           **{k: route[api] for k, api in TARGETS.items() if route.get(api)}})
        associations = item.get("Associations") or []
        return {"vpc_id": item.get("VpcId"), "routes": sorted(routes, key=lambda r: r["cidr_block"]),
                "subnet_ids": sorted(a["SubnetId"] for a in associations if a.get("SubnetId")),
                "main": any(a.get("Main") for a in associations)}

    def observed(self, session: AwsSession, resource: Resource, item: Mapping[str, Any],
                 attributes: Mapping[str, Any]) -> Observed:
        found = super().observed(session, resource, item, attributes)
        links = {a["SubnetId"]: a["RouteTableAssociationId"] for a in item.get("Associations") or [] if a.get("SubnetId")}
        return Observed(found.attributes, identity={**found.identity, "associations": links}, ours=found.ours)

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ec2 = session.client("ec2")
        with api_errors():
            if change.observed is None:
                table = create_once(r.address, lambda: session.client("ec2", once=True).create_route_table(
                    VpcId=r.get("vpc_id"), TagSpecifications=tag_specs(r, "route-table", session),
                    ClientToken=self.client_token(session, r))["RouteTable"],
                    lambda: self.tagged_item(session, r))
                table_id, have, links, main = table["RouteTableId"], {}, {}, False
            else:
                table_id = change.observed.identity["id"]
                have = {x["cidr_block"]: x for x in change.observed.attributes.get("routes") or []}
                links = dict(change.observed.identity.get("associations") or {})
                main = bool(change.observed.attributes.get("main"))
                self.retag(session, change, table_id)
            want = {x["cidr_block"]: x for x in routes_of(r)}
            for cidr, route in want.items():
                target = {TARGETS[k]: v for k, v in route.items() if k in TARGETS}
                if cidr not in have:
                    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock=cidr, **target)
                elif have[cidr] != route:
                    ec2.replace_route(RouteTableId=table_id, DestinationCidrBlock=cidr, **target)
            for cidr in set(have) - set(want):
                ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock=cidr)
            subnets = set(str(s) for s in r.get("subnet_ids") or [])
            for subnet in sorted(subnets - set(links)):
                links[subnet] = ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet)["AssociationId"]
            for subnet in sorted(set(links) - subnets):
                ec2.disassociate_route_table(AssociationId=links.pop(subnet))
            if r.get("main") and not main:
                self._make_main(ec2, str(r.get("vpc_id")), table_id)
        return Observed({**self.desired(r), "id": table_id}, identity={"id": table_id, "associations": links})

    @staticmethod
    def _make_main(ec2: Any, vpc_id: str, table_id: str) -> None:
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                    {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
        main = [a["RouteTableAssociationId"] for t in tables for a in t.get("Associations") or [] if a.get("Main")]
        if not main:
            raise ModuleError(f"VPC {vpc_id} has no main route table to replace")
        ec2.replace_route_table_association(AssociationId=main[0], RouteTableId=table_id)

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        if observed.attributes.get("main"):
            raise ModuleError("it is its VPC's main route table: make another table main (main: true) first, or "
                              "delete the VPC")
        ec2 = session.client("ec2")
        with api_errors(ignore=GONE):
            for association in (observed.identity.get("associations") or {}).values():
                ec2.disassociate_route_table(AssociationId=association)
            ec2.delete_route_table(RouteTableId=observed.identity.get("id") or observed.attributes["id"])
