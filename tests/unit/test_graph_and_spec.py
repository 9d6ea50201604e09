from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.registry import Registry
from reconciler.report.graph_picture import to_dot, to_mermaid
from reconciler.spec.validate import validate
from tests.conftest import write

INVENTORY = """
inventory:
  hosts:
    web1: {address: 127.0.0.1, port: 22001, vars: {role: primary}}
    web2: {address: 127.0.0.1, port: 22002}
  groups:
    web: [web1, web2]
"""


def test_group_targets_expand_per_host_and_render_host_vars(tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", INVENTORY + """
resources:
  - type: file
    name: cfg
    on: web
    path: /etc/app.conf
    content: "role={{ host.vars.role | default('replica') }}"
  - type: command
    name: reload
    on: web
    command: "cat ${file.cfg.path}"
  - type: file
    name: solo
    on: web1
    path: /etc/solo
    depends_on: [file.cfg]
""")
    v = validate(spec, Registry.builtin())
    nodes = set(v.graph.nodes)
    assert nodes == {"file.cfg[web1]", "file.cfg[web2]", "command.reload[web1]", "command.reload[web2]", "file.solo"}
    res = {a: v.graph.nodes[a]["resource"] for a in nodes}
    assert res["file.cfg[web1]"].attributes["content"] == "role=primary"
    assert res["file.cfg[web2]"].attributes["content"] == "role=replica"
    # a reference resolves to the instance on the same host
    assert set(v.graph.predecessors("command.reload[web2]")) == {"file.cfg[web2]"}
    # depends_on from a single host picks that host's instance
    assert set(v.graph.predecessors("file.solo")) == {"file.cfg[web1]"}
    assert '"file.cfg[web1]" -> "command.reload[web1]";' in to_dot(v.graph)
    assert "flowchart LR" in to_mermaid(v.graph)


def test_cycles_name_every_resource_on_them(tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", """
resources:
  - {type: file, name: a, path: /a, depends_on: [file.c]}
  - {type: file, name: b, path: "${file.a.path}.b"}
  - {type: file, name: c, path: /c, depends_on: [file.b]}
""")
    with pytest.raises(SpecError) as exc:
        validate(spec, Registry.builtin())
    message = str(exc.value)
    assert "dependency cycle: file.a -> file.b -> file.c -> file.a" in message
    assert "s.yaml:2:5" in message


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", """
resources:
  - {type: fiel, name: a, path: /a}
  - {type: file, name: b, path: relative}
  - {type: file, name: c, path: /c, depends_on: [file.zz]}
  - {type: file, name: d, path: "${file.c.nope}"}
""")
    with pytest.raises(SpecError) as exc:
        validate(spec, Registry.builtin())
    text = str(exc.value)
    assert "unknown resource type 'fiel' (did you mean 'file'?)" in text
    assert "s.yaml:3:" in text and "$.resources[1].path" in text
    assert "unknown resource 'file.zz'" in text
    assert "file has no attribute 'nope'" in text


def test_target_and_limit_select_nodes_with_their_dependencies(tmp_path: Path) -> None:
    from reconciler.engine.plan_rules import selected_nodes
    from reconciler.model import Selection

    spec = write(tmp_path / "s.yaml", INVENTORY + """
resources:
  - {type: directory, name: base, path: /srv}
  - {type: file, name: cfg, on: web, path: /etc/cfg, depends_on: [directory.base]}
  - {type: file, name: other, on: web2, path: /etc/other}
""")
    v = validate(spec, Registry.builtin())
    assert selected_nodes(v.graph, Selection(limit=("web1",))) == ["directory.base", "file.cfg[web1]"]
    assert selected_nodes(v.graph, Selection(targets=("file.cfg",))) == [
        "directory.base", "file.cfg[web1]", "file.cfg[web2]"]
    assert selected_nodes(v.graph, Selection(targets=("file.cfg[web2]",))) == ["directory.base", "file.cfg[web2]"]


def test_for_each_combines_with_group_fan_out_and_when_sees_the_host(tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", INVENTORY + """
resources:
  - type: directory
    name: site
    on: web
    for_each: [blog, shop]
    when: host.name == "web1" or each.key == "shop"
    path: "/srv/{{ each.key }}"
  - type: file
    name: index
    on: web1
    path: "${directory.site[blog][web1].path}/index.html"
    content: hi
""")
    v = validate(spec, Registry.builtin())
    assert set(v.graph.nodes) == {"directory.site[blog][web1]", "directory.site[shop][web1]",
                                  "directory.site[shop][web2]", "file.index"}
    assert set(v.graph.predecessors("file.index")) == {"directory.site[blog][web1]"}
    assert v.graph.nodes["file.index"]["resource"].attributes["path"] == "${directory.site[blog][web1].path}/index.html"


def test_group_vars_inline_with_ansible_precedence(tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", """
inventory:
  hosts:
    web1: {address: 127.0.0.1, port: 22001, vars: {tier: gold}}
    web2: {address: 127.0.0.1, port: 22002}
  groups:
    all: {hosts: [web1, web2], vars: {tier: bronze, dc: ams, port: 80}}
    web: {hosts: [web1, web2], vars: {port: 8080}}
    zeta: {hosts: [web2], vars: {port: 9090}}
resources:
  - {type: file, name: cfg, on: web, path: /etc/app.conf, content: "{{ host.vars.tier }} {{ host.vars.dc }} {{ host.vars.port }}"}
""")
    v = validate(spec, Registry.builtin())
    content = {a: v.graph.nodes[a]["resource"].attributes["content"] for a in v.graph.nodes}
    assert content == {"file.cfg[web1]": "gold ams 8080", "file.cfg[web2]": "bronze ams 9090"}


def test_group_vars_and_host_vars_beside_an_ansible_inventory(tmp_path: Path) -> None:
    write(tmp_path / "inv/hosts.yml", """
all:
  vars: {dc: ams}
  children:
    web:
      vars: {port: 80}
      hosts:
        web1: {ansible_host: 127.0.0.1, ansible_port: 22001}
        web2: {ansible_host: 127.0.0.1, ansible_port: 22002, port: 81}
""")
    write(tmp_path / "inv/group_vars/all.yml", "dc: fra\ncolour: blue\n")
    write(tmp_path / "inv/group_vars/web/main.yml", "port: 8080\n")
    write(tmp_path / "inv/host_vars/web2.yaml", "colour: red\n")
    spec = write(tmp_path / "spec/site.yaml", """
inventory: ../inv/hosts.yml
resources:
  - {type: file, name: cfg, on: web, path: /etc/app.conf, content: "{{ host.vars.dc }} {{ host.vars.port }} {{ host.vars.colour }}"}
""")
    v = validate(spec, Registry.builtin())
    content = {a: v.graph.nodes[a]["resource"].attributes["content"] for a in v.graph.nodes}
    # web2's own port in the inventory file beats group_vars/web; host_vars/ beats everything
    assert content == {"file.cfg[web1]": "fra 8080 blue", "file.cfg[web2]": "fra 81 red"}
    write(tmp_path / "inv/host_vars/web1.yml", "- not a mapping\n")
    with pytest.raises(SpecError) as refused:
        validate(spec, Registry.builtin())
    assert "host_vars/web1.yml:1:1: error: a vars file must be a mapping" in str(refused.value.diagnostics[0])
