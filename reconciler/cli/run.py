"""plan, show, apply and destroy: the commands that plan and change the world."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.diagnostics import Diagnostic
from reconciler.errors import ReconcileError
from reconciler.model import Plan, Selection
from reconciler.report import diagnostics, plan_text
from reconciler.state.planfile import is_plan_file, read_plan_file, saved_plan_body, sealed_plan, selection_of

if TYPE_CHECKING:  # the engine is imported by the commands that use it: `--version` and `--help` stay light
    from reconciler.engine.session import Session
from reconciler.cli.options import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    common_options,
    diff_lines,
    diff_options,
    live_progress,
    refuse_overwriting,
    selection_options,
    session_for,
    settings,
    state_option,
    use_color,
    write_output,
)
from reconciler.cli.root import cli


@cli.command("plan")
@click.argument("path", type=click.Path(exists=True), default=".")
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan for `reconcile apply FILE`.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (schemas/plan.json).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "junit", "sarif"]), default="text",
              show_default=True,
              help="markdown: a pull-request comment (a summary table, then each change collapsed with its diff), "
                   "cut with a note past 60,000 characters. junit, sarif: the plan's errors and the policies' "
                   "denials and warnings, at the spec lines of the resources they name.")
@click.option("--json-stream", is_flag=True, help="Print events, one JSON object per line (planned, diagnostic, "
                                                  "summary) instead of the plan text.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the plan as one self-contained HTML page (graph, differences, filters).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--policy", "policies", multiple=True, type=click.Path(exists=True), metavar="DIR",
              help="Rego policies (a directory of *.rego files, or one file) besides the spec's `policy:`: each "
                   "deny blocks the plan, each warn is shown. Repeatable.")
@click.option("--no-checks", is_flag=True, help="Run no command's unless/onlyif check on the targets while planning: "
                                                "such a command shows as `may run`.")
@selection_options
@diff_options
@state_option
@common_options
def plan_cmd(path: str, out: str | None, as_json: bool, fmt: str, json_stream: bool, html_out: str | None,
             detailed_exitcode: bool, policies: tuple[str, ...], no_checks: bool, targets: tuple[str, ...],
             exclude: tuple[str, ...], limit: tuple[str, ...], no_prune: bool, allow_data_loss: bool,
             allow_empty: bool, parallelism: int, state_path: str | None) -> int:
    """Show what apply would change."""
    events = _events("plan") if json_stream else None
    as_json = as_json or fmt == "json"
    session = session_for(path, state_path, parallelism)
    session.policies = tuple(policies)
    selection = Selection(targets, limit, not no_prune, allow_data_loss, exclude=exclude, no_checks=no_checks,
                          allow_empty=allow_empty)
    if out or html_out:
        refuse_overwriting([out, html_out], session.spec_reads())
    live = live_progress() if not (as_json or json_stream or fmt == "markdown") else None
    if live is not None:
        session.observe_progress = live.observing
    try:
        plan = session.plan(selection)
    finally:
        if live is not None:
            live.stop()
    if out:
        body = saved_plan_body(plan_text.plan_to_json(plan), plan, path, str(session.state_file), selection, session.ws,
                               session.command_line_variables())
        body |= {"backend": session.backend.name, "state_location": session.backend.location,
                 "terraform_json": session.terraform_plan(plan)}
        write_output(out, sealed_plan(json.dumps(body, indent=2, default=str) + "\n", session.backend.sealing), 0o600)
    if html_out:
        from reconciler.report.html import plan_page, render_page

        page = plan_page(plan, str(Path(path)), session.validate().graph, families_of(session), placements_of(session),
                         session.text_diffs(plan))
        write_output(html_out, session.redactor.redact(render_page(page)))
    if events is not None:
        events.planned(plan)
        events.plan_summary(plan)
    elif as_json:
        click.echo(json.dumps(plan_text.plan_to_json(plan), indent=2, default=str))
    elif fmt == "markdown":
        from reconciler.report.plan_markdown import plan_markdown

        click.echo(plan_markdown(plan, path), nl=False)
    elif fmt in ("junit", "sarif"):
        click.echo(diagnostics.render_diagnostics([(path, _plan_diagnostics(session, plan))], fmt), nl=False)
    else:
        click.echo(plan_text.render_plan(plan, use_color(), diff_lines()), nl=False)
        if out:
            click.echo(f"\nSaved the plan to {out}. To perform exactly these actions: reconcile apply {out}")
    if plan.failures or plan.blockers:
        return EXIT_ERROR
    return EXIT_CHANGES if detailed_exitcode and plan.actionable else EXIT_OK


@cli.command("show")
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the saved plan as JSON (schemas/plan.json).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "terraform-json"]), default="text",
              show_default=True, help="terraform-json: Terraform's plan JSON (format 1.2), with the AWS provider's "
                                      "types and attribute names, for Checkov, Trivy, conftest and Infracost.")
@diff_options
@common_options
def show_cmd(plan_file: str, as_json: bool, fmt: str) -> int:
    """Show a saved plan (`plan --out FILE`) again, content diffs included, without contacting anything."""
    saved = read_plan_file(plan_file)
    if fmt == "terraform-json":
        if not isinstance(saved.get("terraform_json"), dict):
            raise ReconcileError(f"{plan_file} was saved by an older reconcile without Terraform's form: plan again "
                                 "with `reconcile plan --out`")
        click.echo(json.dumps(saved["terraform_json"], indent=2, default=str))
        return EXIT_OK
    if as_json or fmt == "json":
        keys = ("format_version", "spec_hash", "fingerprint", "state_serial", "changes", "errors", "blockers",
                "warnings", "summary", "outputs")
        click.echo(json.dumps({k: saved[k] for k in keys if k in saved}, indent=2, default=str))
        return EXIT_OK
    click.echo(f"Saved plan for {saved['spec_path']} (workspace {saved.get('workspace') or 'default'}, state serial "
               f"{saved['state_serial']}):\n")
    click.echo(plan_text.render_plan(plan_text.plan_from_json(saved), use_color(), diff_lines()), nl=False)
    return EXIT_OK


@cli.command("apply")
@click.argument("path", type=click.Path(exists=True), default=".")
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--only-drifted", is_flag=True, help="Converge only resources changed behind reconcile's back.")
@click.option("--json", "as_json", is_flag=True, help="Print events, one JSON object per line (planned, started, "
                                                      "progress, completed, failed, summary); needs --auto-approve "
                                                      "or a saved plan.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where changes are carried out: this process's threads, or the workers of a Dask cluster.")
@click.option("--scheduler", metavar="ADDRESS",
              help="The Dask scheduler for --executor dask, e.g. tcp://10.0.0.5:8786.")
@click.option("--policy", "policies", multiple=True, type=click.Path(exists=True), metavar="DIR",
              help="Rego policies besides the spec's `policy:` (see plan --policy). Repeatable.")
@selection_options
@diff_options
@state_option
@common_options
def apply_cmd(path: str, auto_approve: bool, only_drifted: bool, as_json: bool, executor: str, scheduler: str | None,
              policies: tuple[str, ...], targets: tuple[str, ...], exclude: tuple[str, ...], limit: tuple[str, ...], no_prune: bool,
              allow_data_loss: bool, allow_empty: bool, parallelism: int, state_path: str | None) -> int:
    """Apply a spec (after approval) or a saved plan."""
    if executor == "dask" and not scheduler:
        raise ReconcileError("--executor dask needs --scheduler ADDRESS (the Dask scheduler, e.g. tcp://HOST:8786)")
    if scheduler and executor != "dask":
        raise ReconcileError("--scheduler is for --executor dask")
    settings()["scheduler"] = scheduler
    if as_json:
        _events("apply")  # errors from here on are events too
    saved = read_plan_file(path) if is_plan_file(path) else None
    if saved:
        given = {"--target": targets, "--exclude": exclude, "--limit": limit, "--no-prune": no_prune,
                 "--allow-data-loss": allow_data_loss, "--allow-empty": allow_empty, "--state": state_path, "--only-drifted": only_drifted,
                 "--var": settings().get("var_args"), "--var-file": settings().get("var_files")}
        conflicting = [flag for flag, value in given.items() if value]
        if conflicting:
            raise ReconcileError(f"{', '.join(conflicting)} cannot be given with a saved plan: it carries its own "
                                 f"selection and variables; plan again with {conflicting[0]} instead")
        session, selection = _session_for_saved(saved, parallelism)
    else:
        session = session_for(path, state_path, parallelism)
        selection = Selection(targets, limit, not no_prune, allow_data_loss, exclude=exclude, allow_empty=allow_empty)
    session.policies = tuple(policies)
    return _apply_with(session, selection, saved, auto_approve, only_drifted, as_json)


@cli.command("destroy")
@click.argument("path", type=click.Path(exists=True), default=".")
@click.option("--auto-approve", is_flag=True, help="Destroy without asking.")
@click.option("--target", "targets", multiple=True, metavar="ADDR",
              help="Only this resource and everything that depends on it (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print events, one JSON object per line; needs --auto-approve.")
@click.option("--allow-data-loss", is_flag=True,
              help="Allow destroying objects that hold data (volumes, buckets, tables, directories…).")
@click.option("--parallelism", default=10, show_default=True, type=click.IntRange(1, 256),
              help="How many operations run at once.")
@diff_options
@state_option
@common_options
def destroy_cmd(path: str, auto_approve: bool, targets: tuple[str, ...], as_json: bool, allow_data_loss: bool,
                parallelism: int, state_path: str | None) -> int:
    """Remove everything the stack manages: what reconcile created is destroyed (in reverse dependency order,
    data-loss hazards and prevent_destroy still guard), what it found or adopted is released untouched."""
    if as_json:
        _events("apply")
    session = session_for(path, state_path, parallelism)
    selection = Selection(targets, allow_data_loss=allow_data_loss, destroy=True)
    return _apply_with(session, selection, None, auto_approve, False, as_json, destroying=True)


def _apply_with(session: Session, selection: Selection, saved: dict[str, Any] | None, auto_approve: bool,
                only_drifted: bool, as_json: bool, destroying: bool = False) -> int:
    """apply and destroy: show the plan, ask, carry it out with progress, then the summary."""
    if as_json and not (auto_approve or saved):
        raise ReconcileError("--json cannot ask for approval: add --auto-approve, or apply a saved plan file")
    if as_json:
        return _apply_json(session, saved, only_drifted, selection)
    from reconciler.report.apply_view import ApplyView

    live = live_progress()
    if live is not None:
        session.observe_progress = live.observing

    def planned() -> None:
        session.observe_progress = None

    view = ApplyView(color=use_color(), diff_lines=diff_lines(), live=live, ask=not saved and not auto_approve,
                     question="Do you really want to destroy everything above?" if destroying else None,
                     planned=planned)
    try:
        outcome = session.apply(selection, approve=view.approve, hooks=view, saved=saved, only_drifted=only_drifted,
                                on_plan=view.show)
    finally:
        view.close()
    view.outcome(outcome)
    return EXIT_ERROR if outcome.failed else EXIT_OK


def _session_for_saved(saved: dict[str, Any], parallelism: int) -> tuple[Session, Selection]:
    from reconciler.spec.variables import VarOverrides
    from reconciler.state.planfile import variables_of

    planned_in = saved.get("workspace") or "default"
    if settings().get("workspace") not in (None, planned_in):
        raise ReconcileError(f"the saved plan was made in workspace {planned_in}, not {settings()['workspace']}")
    settings()["workspace"] = planned_in
    local = saved.get("backend", "local") == "local"
    session = session_for(saved["spec_path"], saved["state_path"] if local else None, parallelism)
    session.var_overrides = VarOverrides((), variables_of(saved))
    if session.backend.location != saved.get("state_location", saved["state_path"]):
        raise ReconcileError(f"the saved plan was made against the state {saved.get('state_location')}, but this "
                             f"run would use {session.backend.location}; give the same --backend-config")
    return session, selection_of(saved)


def _plan_diagnostics(session: Session, plan: Plan) -> list[Diagnostic]:
    """A plan's errors, blockers and policy findings as diagnostics, at the spec line of the resource they name."""

    where = {r.address: r.location for r in session.validate().spec.resources}
    out = [Diagnostic(f"{a}: {m}", where.get(a)) for a, m in sorted(plan.failures.items())]
    out += [Diagnostic(b) for b in plan.blockers if not b.startswith("policy: ")]
    out += [Diagnostic(f"policy {f.policy}: {f.message}", where.get(f.address or ""),
                       severity="error" if f.kind == "deny" else "warning") for f in plan.policy]
    out += [Diagnostic(w, severity="warning") for w in plan.warnings if not w.startswith("policy: ")]
    return out


def families_of(session: Session) -> dict[str, str]:
    return {t: session.type_registry.module_class(t).family for t in session.type_registry.types}


def placements_of(session: Session) -> dict[str, str]:
    """address -> "family: target" for every resource of the spec (the graph's clusters)."""
    return {r.address: f"{session.type_registry.module_class(r.type).family}: {r.target}"
            for r in session.validate().spec.resources}


def _events(operation: str) -> Any:
    from reconciler.report.events import JsonEvents

    events = JsonEvents()
    settings()["events"] = events
    events.version(operation)
    return events


def _apply_json(session: Session, saved: dict[str, Any] | None, only_drifted: bool, selection: Selection) -> int:
    events = settings().get("events") or _events("apply")

    def show(plan: Plan) -> None:
        events.planned(plan)
        events.plan_summary(plan)
        events.start_ticking()

    try:
        outcome = session.apply(selection, approve=lambda plan: True, hooks=events, saved=saved,
                                only_drifted=only_drifted, on_plan=show)
    finally:
        events.close()
    if outcome.applied:
        events.apply_summary(outcome.results)
    return EXIT_ERROR if outcome.failed else EXIT_OK
