"""Dynamic inventory groups (`from:`): parsing, hosts rendered per instance, stand-ins, and the plan's view."""

from __future__ import annotations

from pathlib import Path

from reconciler.inventory import Host, Inventory
from reconciler.model import GroupMembers
from reconciler.report.inventory import inventory_json, inventory_table
from reconciler.spec.dynamic_groups import group_hosts, parse_dynamic
from reconciler.spec.load import load_spec
from reconciler.spec.render import Renderer

SPEC = """
inventory:
  groups:
    all: {vars: {dc: east}}
    web:
      from: "${aws.ec2_instance.web}"
      address: "{{ instance.public_ip_address }}"
      port: "{{ instance.tags.ssh_port }}"
      host_name: "web-{{ instance.tags.Name }}"
      user: admin
      ssh_wait: 30
      vars: {role: web}
    old:
      from: {type: aws.ec2_instance, tags: {role: old}, region: eu-west-1}
resources:
  - {type: aws.ec2_instance, name: web, image_id: ami-1}
"""


def doc(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "site.yaml").write_text(SPEC)
    return load_spec(tmp_path / "site.yaml")


def test_both_forms_are_parsed(tmp_path: Path) -> None:
    groups = parse_dynamic(doc(tmp_path))
    web, old = groups["web"], groups["old"]
    assert (web.source_type, web.source_address, web.ssh_wait) == ("aws.ec2_instance", "aws.ec2_instance.web", 30.0)
    assert web.settings["user"] == "admin" and web.settings["vars"] == {"role": "web"}
    assert (old.source_address, dict(old.tags), old.region) == (None, {"role": "old"}, "eu-west-1")
    assert web.location is not None and web.location.line == 6


def test_hosts_are_rendered_per_instance_then_stand_ins(tmp_path: Path) -> None:
    d = doc(tmp_path)
    web = parse_dynamic(d)["web"]
    members = GroupMembers(({"instance_id": "i-1", "public_ip_address": "203.0.113.7",
                             "tags": {"Name": "a", "ssh_port": "2222"}},), expected_new=2)
    hosts, problems = group_hosts(web, members, {"dc": "east"}, {}, Renderer().render, d)
    assert not problems
    first = hosts[0]
    assert (first.name, first.address, first.port, first.user) == ("web-a", "203.0.113.7", 2222, "admin")
    assert dict(first.vars) == {"dc": "east", "role": "web"} and first.pending is None
    assert [h.name for h in hosts[1:]] == ["new-web-1", "new-web-2"]
    assert all(h.pending and "aws.ec2_instance.web" in h.pending for h in hosts[1:])


def test_unlooked_group_has_one_stand_in_and_bad_names_are_reported(tmp_path: Path) -> None:
    d = doc(tmp_path)
    web = parse_dynamic(d)["web"]
    hosts, problems = group_hosts(web, None, {}, {}, Renderer().render, d)
    assert [h.name for h in hosts] == ["new-web-1"] and not problems
    bad = GroupMembers(({"instance_id": "i-2", "public_ip_address": "10.0.0.1", "tags": {"Name": "a b", "ssh_port": "22"}},))
    hosts, problems = group_hosts(web, bad, {}, {}, Renderer().render, d)
    assert not hosts and "not a host name" in problems[0].message
    missing = GroupMembers(({"instance_id": "i-3", "tags": {"Name": "c"}},))  # no tag ssh_port: a template error
    hosts, problems = group_hosts(web, missing, {}, {}, Renderer().render, d)
    assert not hosts and "i-3" in problems[0].message


def test_inventory_listing_leaves_stand_ins_out() -> None:
    inventory = Inventory(
        hosts={"i-1": Host("i-1", "10.0.0.1", 22, "admin", vars={"role": "web"}),
               "new-web-1": Host("new-web-1", "(known after apply)", pending="a new host")},
        groups={"web": ("i-1", "new-web-1")})
    listed = inventory_json(inventory)
    assert listed["web"] == {"hosts": ["i-1"]}
    assert listed["_meta"]["hostvars"]["i-1"] == {"role": "web", "ansible_host": "10.0.0.1", "ansible_port": 22,
                                                  "ansible_user": "admin"}
    table = inventory_table(inventory)
    assert "i-1" in table and "new-web-1" not in table
