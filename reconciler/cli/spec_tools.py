"""validate, vars, graph, inventory and test: the commands that read a spec without changing anything."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from reconciler.cli.options import (
    EXIT_ERROR,
    EXIT_OK,
    common_options,
    refuse_overwriting,
    session_for,
    state_option,
)
from reconciler.cli.root import cli
from reconciler.diagnostics import Diagnostic
from reconciler.errors import ReconcileError, SpecError
from reconciler.report import diagnostics


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "junit", "sarif"]), default="text",
              show_default=True, help="text for people; json for tools; github annotations, JUnit XML or SARIF for CI.")
@click.option("--strict", is_flag=True, help="Add lint rules: undeclared directory dependencies, clear-text "
                                             "secrets, latest image tags, a spec without a name.")
@common_options
def validate_cmd(paths: Sequence[str], fmt: str, strict: bool) -> int:
    """Check specs without contacting any host, engine or cloud."""
    from reconciler.spec.lint import lint

    checked: list[tuple[str, Sequence[Diagnostic]]] = []
    for path in paths:
        session = session_for(path)
        try:
            validated = session.validate(unset_env_ok=True)
            checked.append((path, tuple(lint(validated, session.registry)) if strict else ()))  # type: ignore[arg-type]
        except SpecError as exc:
            checked.append((path, exc.diagnostics))
        except ReconcileError as exc:
            checked.append((path, (Diagnostic(str(exc)),)))
    click.echo(diagnostics.render_diagnostics(checked, fmt), nl=False)
    return EXIT_ERROR if any(d.severity == "error" for _, ds in checked for d in ds) else EXIT_OK


@cli.command("test")
@click.argument("path", type=click.Path(exists=True), default=".")
@click.option("--format", "fmt", type=click.Choice(["text", "junit"]), default="text", show_default=True)
@common_options
def test_cmd(path: str, fmt: str) -> int:
    """Run the spec's test cases (PATH/tests/*.yaml): converge throwaway containers standing in for the
    inventory hosts, require an empty second plan, run the assertions, tear down, report leftovers."""
    from reconciler.spectest.cases import read_cases
    from reconciler.spectest.runner import docker_client, render_junit, render_text, run_case

    spec = Path(path)
    cases = read_cases(spec if spec.is_dir() else spec.parent)
    known = dict(session_for(path).validate().spec.inventory.hosts)
    client = docker_client()
    results = [run_case(spec, case, client, known) for case in cases]
    click.echo(render_junit(results) if fmt == "junit" else render_text(results), nl=False)
    return EXIT_OK if all(r.passed for r in results) else EXIT_ERROR


@cli.command("vars")
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@common_options
def vars_cmd(path: str, as_json: bool) -> int:
    """Show every variable's value and which layer set it (spec vars:, vars/WORKSPACE.yaml, --var-file,
    --var), in the selected workspace."""
    variables = session_for(path).variables()
    if as_json:
        click.echo(json.dumps({k: {"value": variables.values[k], "source": variables.sources[k]}
                               for k in sorted(variables.values)}, indent=2, default=str))
        return EXIT_OK
    width = max((len(k) for k in variables.values), default=0)
    for name in sorted(variables.values):
        click.echo(f"{name.ljust(width)} = {json.dumps(variables.values[name], default=str)}   "
                   f"# {variables.sources[name]}")
    return EXIT_OK


@cli.group("inventory")
@common_options
def inventory_group() -> None:
    """The hosts a spec works on."""


@inventory_group.command("list")
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True,
              help="Print Ansible's dynamic-inventory JSON (`ansible-inventory --list` form), usable by Ansible.")
@common_options
def inventory_list(path: str, as_json: bool) -> int:
    """List the inventory's hosts, with the instances of dynamic groups (`from:`) looked up. Read-only: only
    the groups' sources (AWS) are asked; no host is contacted."""
    from reconciler.report.inventory import inventory_json, inventory_table

    inventory = session_for(path).inventory()
    if as_json:
        click.echo(json.dumps(inventory_json(inventory), indent=2, sort_keys=True))
    else:
        click.echo(inventory_table(inventory), nl=False)
    return EXIT_OK


@cli.command("graph")
@click.argument("path", type=click.Path(exists=True), default=".")
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid", "svg", "png"]), default="dot",
              show_default=True, help="svg and png are drawn by Graphviz, one cluster per target.")
@click.option("--plan", "with_plan", is_flag=True, help="Colour each resource by its planned action (observes "
                                                         "the targets, read-only).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@state_option
@common_options
def graph_cmd(path: str, fmt: str, with_plan: bool, output: str | None, state_path: str | None) -> int:
    """Print or draw the dependency graph."""
    import networkx as nx

    from reconciler.report.graph_picture import render, to_dot, to_mermaid

    session = session_for(path, state_path)
    validated = session.validate()
    if output:
        refuse_overwriting([output], session.spec_reads())
    graph: nx.DiGraph[str] = nx.DiGraph(validated.graph)
    targets = {r.address: f"{session.type_registry.module_class(r.type).family}: {r.target}"
               for r in validated.spec.resources}
    classes: dict[str, str] = {}
    if with_plan:
        plan = session.plan()
        for change in plan.changes:
            classes[change.address] = change.action.value
            if change.address not in graph:  # leaving the spec: drawn where it was
                graph.add_node(change.address)
                if change.resource is not None:
                    family = session.type_registry.module_class(change.type).family
                    targets[change.address] = f"{family}: {change.resource.target}"
        classes.update({a: "failed" for a in plan.failures})
    if fmt == "mermaid":
        data = to_mermaid(graph).encode()
    else:
        text = to_dot(graph, targets if fmt != "dot" or with_plan else None, classes)
        data = text.encode() if fmt == "dot" else render(text, fmt)
    if output:
        try:
            Path(output).write_bytes(data)
        except OSError as exc:
            raise ReconcileError(f"cannot write {output}: {exc.strerror}") from None
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK
