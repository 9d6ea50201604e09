"""workspace …: another state of the same stack, selected per spec directory."""

from __future__ import annotations

import click

from reconciler.cli.options import EXIT_OK, common_options, session_for, settings, spec_option
from reconciler.cli.root import cli
from reconciler.errors import ReconcileError


# -- workspaces ------------------------------------------------------------------------------------
@cli.group("workspace")
@common_options
def workspace_group() -> None:
    """Workspaces: one spec, several separate states and stack identities (staging, prod…)."""


def _workspaces(spec: str) -> list[str]:
    """The workspaces of the spec's stack that have a state (and the selected one)."""
    session = session_for(spec)
    return sorted(session.backend.workspaces() | {"default", session.ws})


@workspace_group.command("list")
@spec_option
@common_options
def workspace_list(spec: str) -> int:
    """List the workspaces that have a state; `*` marks the selected one."""
    from reconciler.engine.workspaces import selected_workspace

    current = settings().get("workspace") or selected_workspace(spec)
    for name in _workspaces(spec):
        click.echo(("* " if name == current else "  ") + name)
    return EXIT_OK


@workspace_group.command("new")
@click.argument("name")
@spec_option
@common_options
def workspace_new(name: str, spec: str) -> int:
    """Create a workspace (its own state and stack identity) and select it."""
    from reconciler.engine.workspaces import selected_workspace

    check_workspace_name(name)
    if name in _workspaces(spec) and name != selected_workspace(spec):
        raise ReconcileError(f"workspace {name} already exists")
    settings()["workspace"] = name
    session = session_for(spec)
    if session.backend.exists():
        raise ReconcileError(f"workspace {name} already exists ({session.backend.location})")
    with session.state(writable=True) as store:
        from reconciler.model import StackId

        validated = session.validate(unset_env_ok=True)
        store.set_stack(StackId(validated.spec.stack.name, name))
        store.flush()
    select_workspace(spec, name)
    click.echo(f"Created and selected workspace {name} (its state: {session.backend.location})")
    return EXIT_OK


@workspace_group.command("select")
@click.argument("name")
@spec_option
@common_options
def workspace_select(name: str, spec: str) -> int:
    """Select the workspace later commands use (kept in .reconcile/environment)."""
    if name not in _workspaces(spec):
        raise ReconcileError(f"no workspace {name} (known: {', '.join(_workspaces(spec))}); create it with "
                             f"`reconcile workspace new {name}`")
    select_workspace(spec, name)
    click.echo(f"Selected workspace {name}")
    return EXIT_OK


@workspace_group.command("delete")
@click.argument("name")
@spec_option
@click.option("--force", is_flag=True, help="Delete even if its state still manages resources.")
@common_options
def workspace_delete(name: str, spec: str, force: bool) -> int:
    """Delete a workspace's state; refused while it still manages resources, or while a run holds its lock."""
    from reconciler.engine.workspaces import selected_workspace

    if name == "default":
        raise ReconcileError("the default workspace cannot be deleted")
    if name not in _workspaces(spec):
        raise ReconcileError(f"no workspace {name}")
    if selected_workspace(spec) == name:
        raise ReconcileError(f"workspace {name} is selected; select another one first")
    settings()["workspace"] = name
    from reconciler.state.operations import delete_workspace

    session = session_for(spec)
    delete_workspace(session.backend, name, force, session.check_owner)
    click.echo(f"Deleted workspace {name}")
    return EXIT_OK


def check_workspace_name(name: str) -> None:
    from reconciler.model import workspace_problem

    problem = workspace_problem(name)
    if problem:
        raise ReconcileError(problem)


def select_workspace(spec: str, name: str) -> None:
    from reconciler.engine.workspaces import workspace_file

    path = workspace_file(spec)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(name + "\n")
