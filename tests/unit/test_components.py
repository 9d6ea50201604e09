"""Components (expansion, scoping, inputs, outputs, nesting, cycles) and host facts (stand-ins, `when:`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.registry import Registry
from reconciler.spec.validate import validate
from reconciler.targets.facts import FACT_NAMES, parse_facts
from tests.conftest import write

WEBSERVER = """
description: a site directory and its config
inputs:
  root: {type: string, description: where the site lives}
  port: {type: integer, default: 8080}
  hosts: {type: string, default: local}
outputs:
  conf_path: {value: "${file.conf.path}"}
  port: {value: "{{ inputs.port }}"}
  secret: {value: "{{ inputs.root }}/key", sensitive: true}
resources:
  - {type: directory, name: root, path: "{{ inputs.root }}", on: "{{ inputs.hosts }}"}
  - type: file
    name: conf
    on: "{{ inputs.hosts }}"
    path: "${directory.root.path}/site.conf"
    content: "listen {{ inputs.port }}\\n"
    depends_on: [directory.root]
"""


def errors(spec: Path) -> str:
    with pytest.raises(SpecError) as caught:
        validate(spec, Registry.builtin())
    return "\n".join(map(str, caught.value.diagnostics))


@pytest.fixture
def components(tmp_path: Path) -> Path:
    write(tmp_path / "components/webserver/main.yaml", WEBSERVER)
    return tmp_path


def test_a_component_twice_with_scoped_addresses_references_and_outputs(components: Path) -> None:
    spec = write(components / "site.yaml", """
components:
  - {name: a, use: ./components/webserver, with: {root: /srv/a, port: 81}}
  - {name: b, use: ./components/webserver, with: {root: /srv/b}}
resources:
  - {type: file, name: index, path: /srv/index, content: "${component.a.conf_path} {{ 'x' }} ${component.b.port}"}
  - {type: file, name: after, path: /srv/after, depends_on: [component.b]}
  - {type: file, name: key, path: /srv/k, content: "${component.a.secret}"}
outputs:
  a_port: {value: "${component.a.port}"}
  b_conf: {value: "${component.b.conf_path}"}
""")
    v = validate(spec, Registry.builtin())
    nodes = set(v.graph.nodes)
    assert {"component.a.directory.root", "component.a.file.conf", "component.b.file.conf", "file.index"} <= nodes
    conf = v.graph.nodes["component.a.file.conf"]["resource"]
    assert conf.attributes["path"] == "${component.a.directory.root.path}/site.conf"
    assert conf.attributes["content"] == "listen 81\n" and conf.scope == "component.a."
    assert conf.location.file.endswith("components/webserver/main.yaml") and conf.location.line == 12
    assert set(v.graph.predecessors("component.a.file.conf")) == {"component.a.directory.root"}
    index = v.graph.nodes["file.index"]["resource"]
    assert index.attributes["content"] == "${component.a.file.conf.path} x 8080"
    assert set(v.graph.predecessors("file.index")) == {"component.a.file.conf"}
    assert set(v.graph.predecessors("file.after")) == {"component.b.directory.root", "component.b.file.conf"}
    assert "content" in v.graph.nodes["file.key"]["resource"].sensitive  # read a sensitive output
    outputs = {o.name: o.value for o in v.spec.outputs}
    assert outputs == {"a_port": 81, "b_conf": "${component.b.file.conf.path}"}


def test_components_nest_and_read_each_other_outputs_in_order(components: Path) -> None:
    write(components / "components/site/main.yaml", """
inputs: {name: {type: string}}
outputs: {conf: {value: "${component.server.conf_path}"}}
components:
  - {name: server, use: ../webserver, with: {root: "/srv/{{ inputs.name }}"}}
resources:
  - {type: file, name: marker, path: "/srv/{{ inputs.name }}.marker", content: "${component.server.port}"}
""")
    spec = write(components / "site.yaml", """
components:
  - {name: second, use: ./components/site, with: {name: "${component.first.conf}"}}
  - {name: first, use: ./components/site, with: {name: one}}
""")
    v = validate(spec, Registry.builtin())
    assert "component.first.component.server.file.conf" in v.graph.nodes
    marker = v.graph.nodes["component.first.file.marker"]["resource"]
    assert marker.attributes["content"] == "8080"  # a number read into a text attribute is its text
    second = v.graph.nodes["component.second.file.marker"]["resource"]
    assert second.attributes["path"] == "/srv/${component.first.component.server.file.conf.path}.marker"


def test_input_errors_are_reported_at_the_callers_lines(components: Path) -> None:
    spec = write(components / "site.yaml", """
components:
  - name: web
    use: ./components/webserver
    with:
      rot: /srv
      port: "80"
""")
    text = errors(spec)
    assert "site.yaml:5:7: error: component web has no input 'rot' (did you mean 'root'?)" in text
    assert "site.yaml:6:7: error: input port of component web must be an integer, not str '80'" in text
    assert "site.yaml:2:5: error: component web needs the input 'root' (where the site lives)" in text


def test_missing_outputs_components_and_forbidden_keys(components: Path) -> None:
    write(components / "components/bad/main.yaml", "inventory: {hosts: {x: {}}}\nresources: []\n")
    spec = write(components / "site.yaml", """
components:
  - {name: web, use: ./components/webserver, with: {root: /srv}}
  - {name: bad, use: ./components/bad}
  - {name: gone, use: ./components/nowhere}
  - {name: remote, use: "https://example.com/c.tgz"}
resources:
  - {type: file, name: a, path: /a, content: "${component.web.nope}"}
  - {type: file, name: b, path: /b, content: "${component.nobody.port}"}
""")
    text = errors(spec)
    assert "component has no output 'nope' (its outputs: conf_path, port, secret)" in text
    assert "there is no component 'nobody'" in text
    assert "components/bad/main.yaml:1:1: error: 'inventory' cannot be set in a component" in text
    assert "site.yaml:5:30: error: component directory components/nowhere does not exist" in text \
        or "components/nowhere does not exist" in text
    assert "is not a local path" in text


def test_cycles_across_components_are_reported(components: Path) -> None:
    write(components / "components/ping/main.yaml", "components:\n  - {name: back, use: ../pong}\n")
    write(components / "components/pong/main.yaml", "components:\n  - {name: forth, use: ../ping}\n")
    spec = write(components / "site.yaml", """
components:
  - {name: loop, use: ./components/ping}
  - {name: x, use: ./components/webserver, with: {root: "${component.y.conf_path}"}}
  - {name: y, use: ./components/webserver, with: {root: "${component.x.conf_path}"}}
""")
    text = errors(spec)
    assert "component cycle: ping -> pong -> ping (a component uses itself)" in text
    assert "components read each other's outputs in a cycle: x -> y -> x" in text


def test_a_dependency_cycle_through_components_names_the_scoped_addresses(components: Path) -> None:
    spec = write(components / "site.yaml", """
components:
  - {name: web, use: ./components/webserver, with: {root: "${file.x.path}"}}
resources:
  - {type: file, name: x, path: /x, content: "${component.web.conf_path}"}
""")
    text = errors(spec)
    assert "dependency cycle:" in text and "component.web.directory.root" in text and "file.x" in text


def test_facts_are_stand_ins_until_gathered_and_a_when_on_them_counts_as_true(tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", """
resources:
  - {type: file, name: deb, path: "/etc/{{ host.facts.architecture }}", when: host.facts.os_family == "Debian"}
  - {type: file, name: rh, path: /etc/rh, when: host.facts.os_family == "RedHat"}
  - {type: file, name: plain, path: /etc/plain}
""")
    v = validate(spec, Registry.builtin())
    assert set(v.graph.nodes) == {"file.deb", "file.rh", "file.plain"}
    assert v.spec.fact_targets == {"local"} and not v.spec.facts_known
    facts = {"local": {**{n: "" for n in FACT_NAMES}, "os_family": "Debian", "architecture": "aarch64"}}
    known = validate(spec, Registry.builtin(), facts=facts)
    assert set(known.graph.nodes) == {"file.deb", "file.plain"}
    assert known.graph.nodes["file.deb"]["resource"].attributes["path"] == "/etc/aarch64"
    assert validate(write(tmp_path / "t.yaml", "resources: [{type: file, name: p, path: /p}]\n"),
                    Registry.builtin()).spec.fact_targets == frozenset()
    misspelt = write(tmp_path / "u.yaml", "resources: [{type: file, name: p, path: '/{{ host.facts.osfamily }}'}]\n")
    assert "has no attribute 'osfamily'" in errors(misspelt)


def test_parse_facts_maps_os_release_like_ansible() -> None:
    facts = parse_facts("id=ubuntu\nid_like=debian\nversion_id=24.04\nsystem=Linux\narchitecture=x86_64\n"
                        "processor_count=4\nmem_kb=2048000\nhostname=web1\nfqdn=web1.example\ndefault_ipv4=10.0.0.5\n")
    assert facts["os_family"] == "Debian" and facts["distribution"] == "Ubuntu"
    assert facts["distribution_major_version"] == "24" and facts["memtotal_mb"] == 2000
    assert facts["processor_count"] == 4 and facts["default_ipv4"] == "10.0.0.5"
    assert parse_facts("id=rocky\nid_like=rhel centos fedora\n")["os_family"] == "RedHat"
    assert parse_facts("")["os_family"] == "Unknown" and set(parse_facts("")) == set(FACT_NAMES)
