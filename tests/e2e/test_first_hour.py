"""The first hour of a Terraform or Ansible user, on real local files: a spec directory is its own files
(components and templates below it just work), templates include, import and extend, logs say what each stage
did, a command's plan reads as what it is, errors come in one pass with relative paths and grammatical counts,
PATH defaults to `.`, and an empty spec never quietly destroys everything."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, write


def test_a_spec_directory_is_its_own_files(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "components/webserver/main.yaml", f"""
        inputs:
          port: {{type: integer, default: 8080}}
        resources:
          - {{type: file, name: conf, path: "{out}/site.conf", content: "listen {{{{ inputs.port }}}}\\n"}}
        """)
    write(spec_dir / "templates/motd.yaml", "this: is a template, {{ not a spec }}\n")  # YAML, but a template
    write(spec_dir / "site.yaml", """
        name: dirs
        components:
          - {name: web, use: ./components/webserver, with: {port: 9090}}
        """)
    assert cli("validate", "spec", check=0).out.strip() == "spec: ok"
    cli("apply", "--auto-approve", "spec", check=0)
    assert (out / "site.conf").read_text() == "listen 9090\n"


def test_templates_include_import_and_extend_inside_the_spec(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "templates/macros.j2", "{% macro greet(who) %}hello {{ who }}{% endmacro %}")
    write(spec_dir / "templates/base.j2", "[{% block body %}{% endblock %}]\n")
    write(spec_dir / "templates/page.j2", '{% extends "base.j2" %}{% block body %}{{ greeting }}{% endblock %}')
    write(spec_dir / "site.yaml", f"""
        name: tmpl
        vars: {{greeting: hi}}
        resources:
          - {{type: file, name: a, path: "{out}/a", content: "{{% import 'macros.j2' as m %}}{{{{ m.greet('you') }}}}"}}
          - {{type: file, name: b, path: "{out}/b", template: templates/page.j2}}
          - {{type: file, name: c, path: "{out}/c", content: "{{% include 'templates/base.j2' %}}"}}
        """)
    cli("apply", "--auto-approve", "spec", check=0)
    assert (out / "a").read_text() == "hello you" and (out / "b").read_text() == "[hi]\n"
    assert (out / "c").read_text() == "[]\n"


def test_logs_say_what_each_stage_did(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "site.yaml", f"""
        name: logs
        resources:
          - {{type: directory, name: d, path: "{out}"}}
          - {{type: file, name: f, path: "${{directory.d.path}}/f", content: "x\\n"}}
        """)
    verbose = cli("apply", "--auto-approve", "-v", "spec", check=0).err
    for needle in ("INFO: load: 1 file(s)", "INFO: render and check: 2 resource(s)", "INFO: graph: 2 node(s), 1 edge(s)",
                   "INFO: observe: 1 directory on local", "INFO: plan: directory.d create (path", "INFO: apply: file.f create ok"):
        assert needle in verbose, (needle, verbose)
    log = tmp_path / "run.log"
    cli("plan", "-vv", "--log-file", str(log), "spec", check=0)
    text = log.read_text()
    assert "DEBUG reconciler.targets.local: local: " in text and " INFO reconciler.spec.validate: load:" in text
    assert text.splitlines()[0][:4].isdigit()  # timestamped


def test_a_command_reads_as_what_it_is(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write(spec_dir / "site.yaml", f"""
        name: cmds
        resources:
          - {{type: command, name: build, command: "echo built >> {out}/log", creates: "{out}/never"}}
          - {{type: command, name: check, command: "touch {out}/checked", unless: "test -e {out}/checked"}}
        """)
    plan = cli("plan", "spec", check=0).out
    assert "+ command.build" in plan and "Plan: 0 to add, 0 to change, 0 to destroy, 2 to run." in plan, plan
    unchecked = cli("plan", "--no-checks", "spec", check=0).out
    assert "may run: its unless/onlyif checks were not run" in unchecked, unchecked
    run = cli("apply", "--auto-approve", "spec", check=0)
    assert f"its creates: path {out}/never still does not exist" in run.err, run.err
    assert "(found)" not in cli("state", "list", "--spec", "spec", check=0).out
    write(spec_dir / "site.yaml", "name: cmds\nresources: []\n")
    plan = cli("plan", "spec", check=0).out
    assert "command.check will be forgotten, not destroyed (no longer in the spec: it will no longer be run)" in plan


def test_errors_come_in_one_pass_with_relative_paths(cli: Cli, spec_dir: Path) -> None:
    write(spec_dir / "site.yaml", """
        resources:
          - {type: file, name: a, path: /tmp/a, mode: 12345678, content: "${file.nope.path}"}
          - {type: file, name: b, path: /tmp/b, content: "${file.zzz.path}"}
          - {type: file, name: c, path: /tmp/b, content: "same path as b"}
        """)
    run = cli("validate", "--strict", "spec", check=1)
    lines = run.out.splitlines()
    assert all(line.startswith("spec/site.yaml:") for line in lines), run.out
    for needle in ("is not of type 'string'", "reference to unknown resource file.nope",
                   "reference to unknown resource file.zzz", "file.b and file.c manage the same object"):
        assert needle in run.out, (needle, run.out)
    as_json = json.loads(cli("validate", "--format", "json", "spec", check=1).out)
    assert as_json and "problem(s)" not in json.dumps(as_json)


def test_path_defaults_to_the_current_directory_and_an_empty_spec_destroys_nothing(cli: Cli, tmp_path: Path) -> None:
    here = tmp_path / "here"
    out = tmp_path / "out"
    write(here / "site.yaml", f'name: here\nresources:\n  - {{type: file, name: f, path: "{out}/f", content: "x"}}\n')
    cli.cwd = here
    for command in (["plan"], ["apply", "--auto-approve"], ["drift"], ["graph"]):
        assert cli(*command).rc in (0, 2)
    assert (out / "f").exists()
    (here / "site.yaml").write_text("name: here\n")  # emptied (a truncated file, an editor's accident)
    refused = cli("apply", "--auto-approve", check=1)
    assert "has no resources, so this plan would destroy everything the stack manages (1 object)" in refused.out
    assert "--allow-empty" in refused.out and (out / "f").exists()
    cli("apply", "--auto-approve", "--allow-empty", check=0)
    assert not (out / "f").exists()
