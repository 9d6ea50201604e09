"""The public-subnet half of a web app's network against moto over HTTP: an internet gateway attached to
the VPC, a route table with a default route to it and a subnet association (then made the VPC's main
table), an Elastic IP. Create, a no-change plan that only reads (one describe per type), in-place
updates, a replacement, drift made with boto3 behind reconcile's back, deletion in dependency order,
and a route to a gateway that does not exist refused at its line with nothing created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Cli, write
from tests.e2e.test_aws import acli, ec2, in_process_plan  # noqa: F401 - fixtures and helpers shared

BODY = """
aws: {region: us-east-1, endpoint_url: "URL"}
resources:
  - {type: aws.vpc, name: main, cidr_block: 10.OCTET.0.0/16}
  - {type: aws.vpc, name: other, cidr_block: 10.OCTET2.0.0/16}
  - {type: aws.subnet, name: a, vpc_id: "${aws.vpc.main.id}", cidr_block: 10.OCTET.1.0/24}
  - {type: aws.subnet, name: b, vpc_id: "${aws.vpc.main.id}", cidr_block: 10.OCTET.2.0/24}
  - {type: aws.internet_gateway, name: main, vpc_id: "${aws.vpc.VPC.id}", tags: {tier: edge}}
  - type: aws.route_table
    name: public
    vpc_id: "${aws.vpc.main.id}"
    routes: [{cidr_block: 0.0.0.0/0, gateway_id: "${aws.internet_gateway.main.id}"}]
    subnet_ids: [SUBNETS]
  - {type: aws.eip, name: nat, tags: {role: nat}}
"""


def spec(spec_dir: Path, moto: Any, uid: str, vpc: str = "main", subnets: str = '"${aws.subnet.a.id}"') -> None:
    octet = int(uid[1:3], 16) % 120
    body = (BODY.replace("URL", moto.url).replace("OCTET2", str(octet + 120)).replace("OCTET", str(octet))
            .replace("VPC", vpc).replace("SUBNETS", subnets))
    write(spec_dir / "site.yaml", body)


def test_gateway_routes_and_addresses(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:  # noqa: F811
    client = ec2(moto)
    spec(spec_dir, moto, uid)
    plan = acli("plan", "spec", check=0).out
    assert "+ aws.internet_gateway.main" in plan and "+ aws.route_table.public" in plan and "+ aws.eip.nat" in plan
    acli("apply", "--auto-approve", "spec", check=0)

    def by_address(kind: str, key: str, address: str) -> Any:
        found = getattr(client, f"describe_{kind}")(
            Filters=[{"Name": "tag:reconcile:address", "Values": [address]}])[key]
        assert len(found) == 1, found
        return found[0]

    vpc = by_address("vpcs", "Vpcs", "aws.vpc.main")
    gateway = by_address("internet_gateways", "InternetGateways", "aws.internet_gateway.main")
    table = by_address("route_tables", "RouteTables", "aws.route_table.public")
    subnet_a = by_address("subnets", "Subnets", "aws.subnet.a")
    address = by_address("addresses", "Addresses", "aws.eip.nat")
    assert gateway["Attachments"][0]["VpcId"] == vpc["VpcId"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": gateway["InternetGatewayId"]}.items() <= \
        [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"][0].items()
    assert [a["SubnetId"] for a in table["Associations"] if a.get("SubnetId")] == [subnet_a["SubnetId"]]
    assert address["PublicIp"]

    plan, calls = in_process_plan(spec_dir)  # nothing to do, and the plan only reads: one describe per type
    assert not plan.actionable, [c.address for c in plan.actionable]
    assert all(c.startswith(("Describe", "List", "Get")) for c in calls), calls
    assert calls["DescribeInternetGateways"] == 1 and calls["DescribeRouteTables"] == 1
    assert calls["DescribeAddresses"] == 1

    # in place: a second subnet associated, the table made main, the gateway moved to the other VPC
    spec(spec_dir, moto, uid, vpc="other", subnets='"${aws.subnet.a.id}", "${aws.subnet.b.id}"')
    body = (spec_dir / "site.yaml").read_text().replace("    subnet_ids:", "    main: true\n    subnet_ids:")
    write(spec_dir / "site.yaml", body)
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.route_table.public" in plan and "~ aws.internet_gateway.main" in plan and "-/+" not in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    table = by_address("route_tables", "RouteTables", "aws.route_table.public")
    assert len([a for a in table["Associations"] if a.get("SubnetId")]) == 2
    assert any(a.get("Main") for a in table["Associations"])
    other = by_address("vpcs", "Vpcs", "aws.vpc.other")
    moved = by_address("internet_gateways", "InternetGateways", "aws.internet_gateway.main")
    assert moved["Attachments"][0]["VpcId"] == other["VpcId"]
    assert "No changes." in acli("plan", "spec", check=0).out

    # drift behind reconcile's back: the default route deleted, a tag changed on the address
    client.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    client.create_tags(Resources=[address["AllocationId"]], Tags=[{"Key": "role", "Value": "spare"}])
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.route_table.public" in plan and "~ aws.eip.nat" in plan and '"spare"' in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    table = by_address("route_tables", "RouteTables", "aws.route_table.public")
    assert any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table["Routes"])
    assert "No changes." in acli("plan", "spec", check=0).out

    # the VPC of a route table forces a replacement (the table must stop being main first)
    body = (spec_dir / "site.yaml").read_text().replace("    main: true\n", "").replace(
        'routes: [{cidr_block: 0.0.0.0/0, gateway_id: "${aws.internet_gateway.main.id}"}]', "routes: []").replace(
        'vpc_id: "${aws.vpc.main.id}"\n    routes', 'vpc_id: "${aws.vpc.other.id}"\n    routes').replace(
        'subnet_ids: ["${aws.subnet.a.id}", "${aws.subnet.b.id}"]', "subnet_ids: []")
    write(spec_dir / "site.yaml", body)
    plan = acli("plan", "spec", check=0).out
    assert "-/+ aws.route_table.public" in plan and "because vpc_id changed" in plan, plan
    refused = acli("apply", "--auto-approve", "spec")
    assert refused.rc == 1 and "main route table" in refused.out, refused.out

    # deletion: everything goes, in dependency order (routes and associations before their gateway/subnets)
    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    client.replace_route_table_association(  # hand the VPC its own main table back, so the VPC can go
        AssociationId=[a for a in by_address("route_tables", "RouteTables", "aws.route_table.public")["Associations"]
                       if a.get("Main")][0]["RouteTableAssociationId"],
        RouteTableId=[t for t in client.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
            "RouteTables"] if not t.get("Tags")][0]["RouteTableId"])
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert not client.describe_internet_gateways(InternetGatewayIds=[], Filters=[
        {"Name": "tag:reconcile:address", "Values": ["aws.internet_gateway.main"]}])["InternetGateways"]
    assert not client.describe_addresses(Filters=[{"Name": "tag:reconcile:address", "Values": ["aws.eip.nat"]}])[
        "Addresses"]


def test_a_route_to_a_missing_gateway_is_refused_at_its_line(acli: Cli, spec_dir: Path, moto: Any,  # noqa: F811
                                                              uid: str) -> None:
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.vpc, name: v{uid}, cidr_block: 10.9.0.0/16}}
  - type: aws.route_table
    name: public
    vpc_id: "${{aws.vpc.v{uid}.id}}"
    routes: [{{cidr_block: 0.0.0.0/0, gateway_id: "${{aws.internet_gateway.missing.id}}"}}]
""")
    run = acli("apply", "--auto-approve", "spec")
    assert run.rc == 1 and "site.yaml:7:38:" in run.text and "aws.internet_gateway.missing" in run.text, run.text
    assert not ec2(moto).describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.9.0.0/16"]},
                                                {"Name": "tag:reconcile:address", "Values": [f"aws.vpc.v{uid}"]}])["Vpcs"]


def test_nat_gateway_and_gateway_endpoint(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:  # noqa: F811
    client = ec2(moto)
    octet = int(uid[1:3], 16) % 120 + 1

    def spec(tables: str) -> None:
        write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.vpc, name: main, cidr_block: 10.{octet}.0.0/16}}
  - {{type: aws.subnet, name: public, vpc_id: "${{aws.vpc.main.id}}", cidr_block: 10.{octet}.1.0/24}}
  - {{type: aws.subnet, name: private, vpc_id: "${{aws.vpc.main.id}}", cidr_block: 10.{octet}.2.0/24}}
  - {{type: aws.eip, name: nat}}
  - {{type: aws.nat_gateway, name: out, subnet_id: "${{aws.subnet.public.id}}", allocation_id: "${{aws.eip.nat.id}}"}}
  - type: aws.route_table
    name: private
    vpc_id: "${{aws.vpc.main.id}}"
    routes: [{{cidr_block: 0.0.0.0/0, nat_gateway_id: "${{aws.nat_gateway.out.id}}"}}]
    subnet_ids: ["${{aws.subnet.private.id}}"]
  - {{type: aws.route_table, name: spare, vpc_id: "${{aws.vpc.main.id}}"}}
  - {{type: aws.vpc_endpoint, name: s3, vpc_id: "${{aws.vpc.main.id}}", service_name: com.amazonaws.us-east-1.s3,
     route_table_ids: [{tables}]}}
""")

    spec('"${aws.route_table.private.id}"')
    acli("apply", "--auto-approve", "spec", check=0)
    (gateway,) = client.describe_nat_gateways(Filter=[{"Name": "tag:reconcile:address", "Values": ["aws.nat_gateway.out"]}])[
        "NatGateways"]
    (address,) = client.describe_addresses(Filters=[{"Name": "tag:reconcile:address", "Values": ["aws.eip.nat"]}])[
        "Addresses"]
    assert gateway["NatGatewayAddresses"][0]["AllocationId"] == address["AllocationId"]
    private = client.describe_route_tables(Filters=[{"Name": "tag:reconcile:address",
                                                      "Values": ["aws.route_table.private"]}])["RouteTables"][0]
    assert any(r.get("NatGatewayId") == gateway["NatGatewayId"] for r in private["Routes"])
    (endpoint,) = client.describe_vpc_endpoints(Filters=[{"Name": "tag:reconcile:address",
                                                          "Values": ["aws.vpc_endpoint.s3"]}])["VpcEndpoints"]
    assert endpoint["RouteTableIds"] == [private["RouteTableId"]]
    plan, calls = in_process_plan(spec_dir)
    assert not plan.actionable and all(c.startswith(("Describe", "List", "Get")) for c in calls), calls
    assert calls["DescribeNatGateways"] == 1 and calls["DescribeVpcEndpoints"] == 1
    # nothing they read changed: the resources waiting on references are observed with the first wave
    waves = acli("-v", "plan", "spec", check=0).text
    assert "plan: 1 wave of observation, 6 resource(s) observed ahead of their turn" in waves, waves

    # the endpoint's route tables change in place; a tag removed behind our back is put back
    spec('"${aws.route_table.private.id}", "${aws.route_table.spare.id}"')
    client.delete_tags(Resources=[gateway["NatGatewayId"]], Tags=[{"Key": "reconcile:address"}])
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.vpc_endpoint.s3" in plan and "~ aws.nat_gateway.out" in plan and "-/+" not in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    (endpoint,) = client.describe_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])["VpcEndpoints"]
    assert len(endpoint["RouteTableIds"]) == 2
    assert "No changes." in acli("plan", "spec", check=0).out

    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    left = client.describe_nat_gateways(NatGatewayIds=[gateway["NatGatewayId"]])["NatGateways"]
    assert all(g["State"] in ("deleted", "deleting") for g in left)
    assert not client.describe_addresses(Filters=[{"Name": "allocation-id", "Values": [address["AllocationId"]]}])[
        "Addresses"]
