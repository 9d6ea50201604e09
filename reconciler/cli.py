"""The `reconcile` command: parse options, drive a Session, print through report/. No engine logic here.

Every problem reaches the user as `file:line:col: error: …` or one line `Error: …` and exit 1; an
unexpected failure (a bug) says where its traceback went instead of printing it, unless --debug.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.errors import ReconcileError, SpecError
from reconciler.logs import configure_logging
from reconciler.model import Diagnostic, Plan, Selection
from reconciler.report import diagnostics, plan_text, progress
from reconciler.secrets import Redactor
from reconciler.state.planfile import is_plan_file, read_plan_file, saved_plan_body, sealed_plan, selection_of
from reconciler.words import plural

if TYPE_CHECKING:  # the engine is imported by the commands that use it: `--version` and `--help` stay light
    from reconciler.engine.session import Session

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
COMPLETE_VAR = "_RECONCILE_COMPLETE"  # set by the completion scripts when the shell asks for completions
log = logging.getLogger("reconciler")


def _version(ctx: click.Context, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from reconciler.version import version_text

    click.echo(version_text())
    ctx.exit(EXIT_OK)


# -- options every command takes, before or after the subcommand ------------------------------------
def _remember(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        settings = ctx.find_root().ensure_object(dict)
        if value not in (None, False, 0, ()):
            settings[name] = value
            if name in ("verbose", "log_file", "debug"):
                configure_logging(settings.get("verbose", 0), settings.get("log_file"), bool(settings.get("debug")),
                                  lambda: settings.get("redactor") or Redactor())
        return value
    return callback


COMMON = [
    click.option("--no-color", is_flag=True, expose_value=False, callback=_remember("no_color"),
                 help="Plain output (NO_COLOR is honoured too)."),
    click.option("--workspace", metavar="NAME", expose_value=False, callback=_remember("workspace"),
                 help="The workspace (environment) to use; default: the selected one, else `default`."),
    click.option("--backend-config", multiple=True, metavar="KEY=VALUE", expose_value=False,
                 callback=_remember("backend_config"),
                 help="Settings of the state backend, added to the spec's `state:` (bucket=…, key=…, …)."),
    click.option("--var", "var_args", multiple=True, metavar="NAME=VALUE", expose_value=False,
                 callback=_remember("var_args"), help="Set a variable (VALUE is JSON when it parses as JSON); "
                                                      "highest precedence."),
    click.option("--var-file", "var_files", multiple=True, metavar="FILE", expose_value=False,
                 callback=_remember("var_files"), help="Variables from a YAML file (repeatable; later files win)."),
    click.option("-v", "--verbose", count=True, expose_value=False, callback=_remember("verbose"),
                 help="Log what happens: -v for steps, -vv for details."),
    click.option("--log-file", type=click.Path(dir_okay=False), expose_value=False,
                 callback=_remember("log_file"), help="Write a detailed log (tracebacks included) to FILE."),
    click.option("--debug", is_flag=True, expose_value=False, callback=_remember("debug"),
                 help="Show the traceback of an internal error."),
]


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(COMMON):
        f = option(f)
    return f


def settings() -> dict[str, Any]:
    return click.get_current_context().find_root().ensure_object(dict)


def _use_color() -> bool:
    return not settings().get("no_color") and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _live() -> Any:
    """Live progress bars (rich) on a terminal with colour; None for logs, pipes, CI and --no-color."""
    if not _use_color():
        return None
    from reconciler.report.live import LiveProgress

    return LiveProgress()


def state_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--state", "state_path", type=click.Path(readable=False),
                        help="State database (default: .reconcile/state.db beside the spec).")(f)


def selection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--target", "targets", multiple=True, metavar="ADDR",
                     help="Only this resource and what it depends on (repeatable).")(f)
    f = click.option("--exclude", "exclude", multiple=True, metavar="ADDR",
                     help="Everything except this resource and what depends on it (repeatable).")(f)
    f = click.option("--limit", multiple=True, metavar="HOST", help="Only resources on these hosts (repeatable).")(f)
    f = click.option("--no-prune", is_flag=True, help="Keep resources that were removed from the spec.")(f)
    f = click.option("--allow-data-loss", is_flag=True,
                     help="Allow destroying objects that hold data (volumes, buckets, tables, directories…).")(f)
    f = click.option("--allow-empty", is_flag=True,
                     help="Allow a spec with no resources to destroy everything the stack manages (or use destroy).")(f)
    f = click.option("--parallelism", default=10, show_default=True, type=click.IntRange(1, 256),
                     help="How many operations run at once.")(f)
    return f


def _keep(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            ctx.find_root().ensure_object(dict)[name] = value
        return value
    return callback


def diff_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """How content diffs of files show in the plan."""
    f = click.option("--diff-context", type=click.IntRange(0, 1000), expose_value=False, callback=_keep("diff_context"),
                     metavar="N", help="Lines of context around each change in a file's content diff [default: 3].")(f)
    f = click.option("--diff-lines", type=click.IntRange(0), expose_value=False, callback=_keep("diff_lines"),
                     metavar="N", help="Show at most N lines of each content diff; 0 shows none [default: "
                                       f"{plan_text.DIFF_LINES}].")(f)
    return f


def _diff_lines() -> int:
    return int(settings().get("diff_lines", plan_text.DIFF_LINES))


def session_for(spec: str | Path, state_path: str | None = None, parallelism: int = 10) -> Session:
    from reconciler.spec.variables import VarOverrides, parse_var_args
    from reconciler.state.backend import parse_backend_config

    overrides = VarOverrides(tuple(settings().get("var_files") or ()),
                             parse_var_args(settings().get("var_args") or ()))
    from reconciler.engine.session import Session

    session = Session(spec, workspace=settings().get("workspace"), state_path=state_path, parallelism=parallelism,
                      backend_config=parse_backend_config(settings().get("backend_config") or ()),
                      var_overrides=overrides, scheduler=settings().get("scheduler"),
                      diff_context=int(settings().get("diff_context", 3)))
    settings()["redactor"] = session.redactor
    return session


def refuse_overwriting(paths: Sequence[str | None], reads: set[str]) -> None:
    """An output (--out, --html, --output) never goes over a file the spec reads (its own files, variable files,
    templates, copy sources…): refused before anything is planned."""
    for path in filter(None, paths):
        real = os.path.realpath(path)
        if real in reads or any(real.startswith(r.rstrip("/") + "/") for r in reads if os.path.isdir(r)):
            raise ReconcileError(f"refusing to write {path}: the spec reads that file; write the output elsewhere")


def write_output(path: str, text: str, mode: int = 0o644) -> None:
    """Write a report or plan file; a missing or unwritable directory is the user's error, said plainly."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    except OSError as exc:
        raise ReconcileError(f"cannot write {path}: {exc.strerror}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=lambda ctx, _, value: _version(ctx, value),
              help="Show the version (and the commit, in a checkout) and exit.")
def cli() -> None:
    """Declarative state for servers, containers and AWS: validate, plan, apply."""


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
    live = _live() if not (as_json or json_stream or fmt == "markdown") else None
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

        page = plan_page(plan, str(Path(path)), session.validate().graph, _families(session), _placements(session),
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
        click.echo(plan_text.render_plan(plan, _use_color(), _diff_lines()), nl=False)
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
    click.echo(plan_text.render_plan(plan_text.plan_from_json(saved), _use_color(), _diff_lines()), nl=False)
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
    color = _use_color()
    reporter: progress.ApplyReporter | None = None
    live = _live()
    if live is not None:
        session.observe_progress = live.observing

    def show(plan: Plan) -> None:
        nonlocal reporter
        if live is not None:
            live.stop()  # before the plan is printed and approval asked for
        click.echo(plan_text.render_plan(plan, color, _diff_lines()), nl=False)
        total = len(plan.actionable) + len(plan.failures)
        reporter = progress.ApplyReporter(total, color=color, progress=sys.stdout.isatty()) if live is None else None
        if live is not None:
            session.observe_progress = None

    def begin(plan: Plan) -> None:
        nonlocal reporter
        if live is not None and reporter is None:
            from reconciler.report.live import LiveApplyReporter

            reporter = LiveApplyReporter(len(plan.actionable) + len(plan.failures), live, color=color)

    def approve(plan: Plan) -> bool:
        if not saved and not auto_approve:
            _approve("Do you really want to destroy everything above?" if destroying else None)
        click.echo("")
        begin(plan)
        return True

    class Hooks:
        def started(self, change: Any) -> None:
            if reporter is not None:
                reporter.started(change)

        def finished(self, result: Any) -> None:
            if reporter is not None:
                reporter.finished(result)

        def note(self, message: str) -> None:
            if reporter is not None:
                reporter.note(message)

    try:
        outcome = session.apply(selection, approve=approve, hooks=Hooks(), saved=saved, only_drifted=only_drifted,
                                on_plan=show)
    finally:
        if reporter is not None:
            reporter.close()
        if live is not None:
            live.stop()
    if not outcome.applied:
        if outcome.outputs and not outcome.failed:
            click.echo("\n" + plan_text.render_outputs(outcome.outputs), nl=False)
        return EXIT_ERROR if outcome.failed else EXIT_OK
    if live is not None:
        from reconciler.report.live import per_target_table

        click.echo("")
        per_target_table(outcome.results, outcome.targets)
        click.echo(progress.render_summary(outcome.results, color, outcome.runs), nl=False)
    else:
        click.echo("\n" + progress.per_target(outcome.results, outcome.targets)
                   + progress.render_summary(outcome.results, color, outcome.runs), nl=False)
    if outcome.outputs:
        click.echo("\n" + plan_text.render_outputs(outcome.outputs), nl=False)
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


def _families(session: Session) -> dict[str, str]:
    return {t: session.type_registry.module_class(t).family for t in session.type_registry.types}


def _placements(session: Session) -> dict[str, str]:
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


def _approve(question: str | None = None) -> None:
    if not sys.stdin.isatty():
        raise ReconcileError(
            "refusing to apply: stdin is not a terminal, so nobody can approve the plan. "
            "Review it with `reconcile plan` and pass --auto-approve, or apply a saved plan file."
        )
    click.echo(f"\n{question or 'Do you want to perform these actions?'} Only 'yes' will be accepted to approve.")
    answer = click.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        raise ReconcileError("apply cancelled")


@cli.command("drift")
@click.argument("path", type=click.Path(exists=True), default=".")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "junit", "html"]), default="text",
              show_default=True, help="html: one self-contained page (graph, differences, filters, history).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the report here instead of stdout.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the report as one self-contained HTML page.")
@click.option("--notify", metavar="URL", help="POST a JSON summary (Slack-compatible `text`) when drift is found.")
@click.option("--report-url", metavar="URL", help="Where the published report can be read: linked from the "
                                                   "notification.")
@click.option("--since", "since_run", type=int, metavar="RUN", help="Show only what is new since drift run RUN.")
@click.option("--limit", multiple=True, metavar="HOST", help="Only resources on these hosts (repeatable).")
@click.option("--parallelism", default=10, show_default=True, type=click.IntRange(1, 256),
              help="How many targets are observed at once.")
@state_option
@common_options
def drift_cmd(path: str, fmt: str, output: str | None, html_out: str | None, notify: str | None,
              report_url: str | None, since_run: int | None, limit: tuple[str, ...], parallelism: int,
              state_path: str | None) -> int:
    """Report what changed behind reconcile's back (read-only; never takes the apply lock)."""
    from reconciler.report import drift_formats
    from reconciler.report.notify import post_json

    session = session_for(path, state_path, parallelism)
    if output or html_out:
        refuse_overwriting([output, html_out], session.spec_reads())
    spec_name = str(Path(path))
    outcome = session.drift(limit=limit, since=since_run,
                            report_body=lambda found, run_id: drift_formats.to_json(found, spec_name, run_id))
    found = outcome.report
    page_text = ""
    if fmt == "html" or html_out:
        from reconciler.report.html import drift_page, render_page

        texts = session.text_diffs(outcome.plan, [i.address for i in found.items])
        page = drift_page(found, spec_name, session.validate().graph, _families(session), outcome.history,
                          _placements(session), texts)
        page_text = session.redactor.redact(render_page(page))
        if html_out:
            write_output(html_out, page_text)
    texts = session.text_diffs(outcome.plan, [i.address for i in found.items]) if fmt == "text" else {}
    text = page_text if fmt == "html" else drift_formats.render(found, spec_name, fmt, outcome.run_id, texts)
    if output:
        write_output(output, text)
    else:
        click.echo(text, nl=False)
    if notify and found.found:
        problem = post_json(notify, drift_formats.notification(found, spec_name, outcome.run_id, report_url))
        if problem:
            click.echo(f"Error: {problem}", err=True)
    if found.errors:
        return EXIT_ERROR
    return EXIT_CHANGES if found.found else EXIT_OK


@cli.group("schema")
@common_options
def schema_group() -> None:
    """JSON Schemas for editors and CI."""


@schema_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@common_options
def schema_export(directory: str) -> int:
    """Write reconcile.schema.json (the spec with every resource type composed in) and the per-type schemas."""
    from reconciler.registry import Registry
    from reconciler.spec.schema_export import export

    try:
        written = export(Registry.installed(), Path(directory))
    except OSError as exc:
        raise ReconcileError(f"cannot write the schemas to {directory}: {exc.strerror}") from None
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"\nIn a spec file, for editor validation and completion:\n"
               f"# yaml-language-server: $schema={Path(written[0]).absolute()}")
    return EXIT_OK


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


@cli.command("types")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@common_options
def types_cmd(as_json: bool) -> int:
    """List the installed resource types, their family and the package that provides each."""
    from reconciler.registry import Registry

    registry = Registry.installed()
    rows = []
    for name in registry.types:
        entry = registry.entry(name)
        summary = str(registry.schema(name).get("description", "")).split("\n")[0].split(". ")[0].rstrip(".")
        rows.append({"type": name, "family": registry.module_class(name).family, "origin": entry.origin,
                     "class": entry.reference, "description": summary})
    for name, why in sorted(registry.broken.items()):  # reported, and left out of everything else
        if not name.startswith("family:"):
            entry = registry.entry(name)
            rows.append({"type": name, "family": "?", "origin": entry.origin, "class": entry.reference,
                         "description": f"cannot be loaded: {why}"})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(r["type"]) for r in rows)
    fam = max(len(r["family"]) for r in rows)
    origin = max(len(r["origin"]) for r in rows)
    for r in rows:
        click.echo(f"{r['type']:<{width}}  {r['family']:<{fam}}  {r['origin']:<{origin}}  {r['description']}".rstrip())
    return EXIT_OK


@cli.command("output")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--spec", default=".", show_default=True, type=click.Path(), help="The spec whose state to read.")
@state_option
@common_options
def output_cmd(name: str | None, as_json: bool, spec: str, state_path: str | None) -> int:
    """Print the outputs recorded by the last apply (read from the state; nothing is observed).
    A sensitive output is never stored: it is shown after each apply, masked."""
    session = session_for(spec, state_path)
    _existing_state(session)
    with session.state() as store:
        stored: dict[str, Any] = dict(store.outputs)
    if name is not None:
        if name not in stored:
            known = ", ".join(sorted(stored)) or "none"
            raise ReconcileError(f"no output {name!r} in the state (outputs: {known}); apply the spec first")
        entry = stored[name]
        if entry.get("sensitive"):
            raise ReconcileError(f"output {name} is sensitive: it is never stored in the state")
        value = entry.get("value")
        click.echo(json.dumps(value) if as_json or not isinstance(value, str) else value)
        return EXIT_OK
    if as_json:
        click.echo(json.dumps({k: {"value": v.get("value"), "sensitive": bool(v.get("sensitive"))}
                               for k, v in sorted(stored.items())}, indent=2))
        return EXIT_OK
    width = max((len(k) for k in stored), default=0)
    for key, entry in sorted(stored.items()):
        shown = "(sensitive)" if entry.get("sensitive") else json.dumps(entry.get("value"))
        click.echo(f"{key.ljust(width)} = {shown}")
    return EXIT_OK


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


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@common_options
def completion_cmd(shell: str) -> int:
    """Print the shell completion script: e.g. `eval "$(reconcile completion bash)"` in ~/.bashrc."""
    from click.shell_completion import get_completion_class

    completion = get_completion_class(shell)
    assert completion is not None
    click.echo(completion(cli, {}, "reconcile", COMPLETE_VAR).source())
    return EXIT_OK


@cli.command("docs")
@click.argument("type_name", required=False, metavar="[TYPE]")
@click.option("--write", "write_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write a Markdown page per built-in type (and an index) into DIR instead.")
@common_options
def docs_cmd(type_name: str | None, write_dir: str | None) -> int:
    """Document the resource types: list them, or show one (attributes and an example), like ansible-doc."""
    import dataclasses

    from reconciler.registry import Registry
    from reconciler.report.module_docs import (
        data_doc,
        doc_of,
        render_index,
        render_text,
        type_doc,
        write_pages,
    )

    registry = Registry.installed()
    if write_dir:
        try:
            written = write_pages(registry, Path(write_dir))
        except OSError as exc:
            raise ReconcileError(f"cannot write the pages to {write_dir}: {exc.strerror}") from None
        click.echo(f"wrote {len(written)} pages to {write_dir}")
    elif type_name:
        click.echo(render_text(doc_of(registry, type_name)), nl=False)
    else:
        click.echo(render_index([*(type_doc(registry, t) for t in registry.types),
                                 *(dataclasses.replace(data_doc(registry, t), family=f"data {data_doc(registry, t).family}")
                                   for t in registry.data_types)]), nl=False)
    return EXIT_OK


def _add_migrate() -> None:
    from reconciler.migrate.commands import migrate_group

    for command in [migrate_group, *migrate_group.commands.values()]:
        common_options(command)  # every command takes the global options
    cli.add_command(migrate_group)


_add_migrate()


@cli.command("trust")
@click.argument("host")
@click.option("--spec", default=".", show_default=True, type=click.Path(), help="The spec whose inventory names HOST.")
@click.option("--known-hosts", type=click.Path(dir_okay=False),
              help="File to add the key to (default: the spec's known_hosts, else ~/.ssh/known_hosts).")
@click.option("--yes", is_flag=True, help="Add the key without asking.")
@common_options
def trust_cmd(host: str, spec: str, known_hosts: str | None, yes: bool) -> int:
    """Show a host's SSH key fingerprint and add it to known_hosts."""
    from reconciler.targets.ssh import append_known_host, fetch_host_key, fingerprint, known_hosts_name

    validated = session_for(spec).validate(unset_env_ok=True)
    entry = validated.spec.inventory.hosts.get(host)
    if entry is None:
        raise ReconcileError(f"host {host} is not in the inventory of {spec}")
    key = fetch_host_key(entry.address, entry.port)
    name = known_hosts_name(entry.address, entry.port)
    click.echo(f"{host} ({name}) presents {key.get_name()} key {fingerprint(key)}")
    if not yes:
        if not sys.stdin.isatty():
            raise ReconcileError("not adding the key: confirm with --yes, or run on a terminal")
        if click.prompt("Trust this key? Only 'yes' will be accepted", default="", show_default=False) != "yes":
            raise ReconcileError("key not added")
    path = known_hosts or validated.spec.inventory.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
    try:
        append_known_host(path, name, key)
    except OSError as exc:
        raise ReconcileError(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"Added {name} to {path}")
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


# -- the state -------------------------------------------------------------------------------------
spec_option = click.option("--spec", default=".", show_default=True, type=click.Path(),
                           help="The spec whose state to use.")


def _existing_state(session: Session) -> None:
    if not session.backend.exists():
        raise ReconcileError(f"no state found for workspace {session.ws}: looked for {session.backend.location} "
                             "(apply the spec first, or give --spec / --state / --workspace / --backend-config)")


@cli.group("state")
@common_options
def state_group() -> None:
    """Inspect or edit the state (local or remote)."""


@state_group.command("list")
@spec_option
@state_option
@common_options
def state_list(spec: str, state_path: str | None) -> int:
    """List the resources the state manages (with how reconcile came to manage them)."""
    session = session_for(spec, state_path)
    _existing_state(session)
    with session.state() as store:
        for record in store.records().values():
            click.echo(record.address if record.origin == "created" else f"{record.address}  ({record.origin})")
    return EXIT_OK


@state_group.command("show")
@click.argument("address")
@spec_option
@state_option
@common_options
def state_show(address: str, spec: str, state_path: str | None) -> int:
    """Show one resource's record (secrets appear as salted hashes)."""
    session = session_for(spec, state_path)
    _existing_state(session)
    with session.state() as store:
        record = store.get(address)
    if record is None:
        raise ReconcileError(f"no resource {address} in the state {session.backend.location}")
    click.echo(json.dumps(record.to_json(), indent=2, default=str))
    return EXIT_OK


@state_group.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@spec_option
@state_option
@common_options
def state_rm(addresses: Sequence[str], spec: str, state_path: str | None) -> int:
    """Forget resources without touching them (reconcile stops managing them)."""
    session = session_for(spec, state_path)
    _existing_state(session)
    with session.state(lock="state rm") as store:
        missing = [a for a in addresses if store.get(a) is None]
        if missing:
            raise ReconcileError(f"no resource {', '.join(missing)} in the state")
        for address in addresses:
            store.forget(address)
            click.echo(f"Removed {address}")
        store.bump_serial()
    return EXIT_OK


@state_group.command("mv")
@click.argument("source")
@click.argument("destination")
@spec_option
@state_option
@common_options
def state_mv(source: str, destination: str, spec: str, state_path: str | None) -> int:
    """Give a resource's record a new address (the object is not touched; see also `moved:`)."""
    session = session_for(spec, state_path)
    _existing_state(session)
    with session.state(lock="state mv") as store:
        if store.get(destination) is not None:
            raise ReconcileError(f"{destination} is already in the state")
        if not store.move(source, destination):
            raise ReconcileError(f"no resource {source} in the state")
        store.bump_serial()
    click.echo(f"Moved {source} to {destination}")
    return EXIT_OK


@state_group.command("import")
@click.argument("address")
@click.argument("object_id", metavar="ID")
@spec_option
@state_option
@common_options
def state_import(address: str, object_id: str, spec: str, state_path: str | None) -> int:
    """Adopt an existing object (by its id or name) as ADDRESS of the spec; the next plan reads it and shows
    what would change. It is recorded as found: removing it from the spec later leaves it in place."""
    from reconciler.state.records import FOUND, StateRecord, now_text

    session = session_for(spec, state_path)
    validated = session.validate()
    resource = next((r for r in validated.spec.resources if r.address == address), None)
    if resource is None:
        raise ReconcileError(f"{address} is not a resource of the spec; add it to the spec first, then import it")
    module = session.registry.module(resource.type)  # type: ignore[union-attr]
    with session.state(lock="state import") as store:
        if store.get(address) is not None:
            raise ReconcileError(f"{address} is already in the state (`reconcile state rm {address}` first)")
        store.put(StateRecord(address, resource.type, resource.name, resource.target, resource.host,
                              module.import_identity(object_id), {}, {}, (), False, now_text(), FOUND))
        store.bump_serial()
    click.echo(f"Imported {object_id} as {address}; `reconcile plan` shows how it differs from the spec")
    return EXIT_OK


@state_group.command("pull")
@spec_option
@state_option
@common_options
def state_pull(spec: str, state_path: str | None) -> int:
    """Print the whole state as JSON (secrets appear as salted hashes)."""
    session = session_for(spec, state_path)
    _existing_state(session)
    with session.state() as store:
        document = store.document()
    click.echo(json.dumps(document.to_json(), indent=2, default=str))
    return EXIT_OK


@state_group.command("push")
@click.argument("file", type=click.Path(dir_okay=False))
@spec_option
@state_option
@click.option("--force", is_flag=True, help="Push even a state of another lineage or an older serial.")
@common_options
def state_push(file: str, spec: str, state_path: str | None, force: bool) -> int:
    """Replace the state by FILE (from `state pull`): refused for another lineage or an older serial."""
    from reconciler.state.records import StateDocument

    try:
        document = StateDocument.from_json(json.loads(Path(file).read_text(encoding="utf-8")), file)
    except (OSError, ValueError) as exc:
        raise ReconcileError(f"cannot read {file}: {exc}") from None
    session = session_for(spec, state_path)
    with session.state(lock="state push") as store:
        _check_lineage(store, document, force)
        store.replace_with(document)
    click.echo(f"Pushed {file} (serial {document.serial}) to {session.backend.location}")
    return EXIT_OK


def _check_lineage(store: Any, document: Any, force: bool) -> None:
    if force or not store.records() and not store.serial:
        return
    if store.lineage and document.lineage != store.lineage:
        raise ReconcileError(f"refusing to push: the file is of lineage {document.lineage}, the state of "
                             f"{store.lineage} (another state altogether); --force if you are sure")
    if document.serial < store.serial:
        raise ReconcileError(f"refusing to push: the file has serial {document.serial}, older than the state's "
                             f"{store.serial}; pull again, or --force")


@state_group.command("migrate")
@click.option("--to", "to", type=click.Choice(["s3", "local"]), required=True)
@click.option("--to-config", "target_config", multiple=True, metavar="KEY=VALUE",
              help="Settings of the new backend (bucket=…, key=…, region=…, endpoint_url=…, path=…).")
@spec_option
@state_option
@common_options
def state_migrate(to: str, target_config: Sequence[str], spec: str, state_path: str | None) -> int:
    """Copy the state to another backend, check the copy, then say how to switch the spec to it."""
    from reconciler.state.backend import make_backend, parse_backend_config

    session = session_for(spec, state_path)
    _existing_state(session)
    settings = {"backend": to, **parse_backend_config(target_config, environ={})}
    target = make_backend(settings, spec, session.ws, stack=session.stack_name()[1])
    if to == session.backend.name and set(settings) == {"backend", "encryption"}:  # encryption on or off, in place
        target = session.backend.sealed_with(target.sealing)
    if "encryption" not in settings:
        target = target.sealed_with(session.backend.sealing)  # the copy is encrypted as the state is
    if target.location == session.backend.location:
        if "encryption" not in settings:
            raise ReconcileError(f"the state is already in {target.location}")
        with session.backend.lock("state migrate"), target.open(writable=True) as store:
            store.rekey(target.sealing)
        how = f"encrypted with {target.sealing.names}" if target.sealing else "no longer encrypted"
        click.echo(f"The state {target.location} is {how} (its history, journal and backups too).")
        if target.sealing is None:
            click.echo("Remove `encryption:` from the spec's state: block, or it is encrypted again by the next run.")
        return EXIT_OK
    with session.state(lock="state migrate") as store:
        document = store.document()
        with target.lock("state migrate"), target.open(writable=True) as copy:
            if copy.records() or copy.serial:
                raise ReconcileError(f"{target.location} already holds a state; remove it first")
            copy.replace_with(document)
        with target.open() as check:
            copied = check.document()
    if copied.to_json() != document.to_json():
        raise ReconcileError(f"the copy in {target.location} differs from the state; nothing was switched")
    click.echo(f"Copied {plural(len(document.resources), 'resource')}, serial {document.serial}, lineage {document.lineage}, "
               f"to {target.location}.")
    block = "\n".join(f"  {k}: {v}" for k, v in settings.items())
    click.echo("Now point the spec at it (state: block), or pass the same settings as --backend-config:\n"
               f"state:\n{block}")
    return EXIT_OK


@state_group.command("rekey")
@click.option("--old-passphrase-env", metavar="VAR",
              help="The variable holding the passphrase the state is encrypted with now (default: the one it "
                   "was encrypted with, as recorded in it). A state under KMS needs none: KMS opens it.")
@spec_option
@state_option
@common_options
def state_rekey(old_passphrase_env: str | None, spec: str, state_path: str | None) -> int:
    """Re-encrypt the state, its history, journal and backups under the key `state.encryption` names now."""
    from reconciler.key_source import PASSPHRASE, Sealing

    session = session_for(spec, state_path)
    _existing_state(session)
    backend = session.backend
    if backend.sealing is None:
        raise ReconcileError("`reconcile state rekey` seals under the key the spec's `state.encryption` names: set it "
                             "to the new key first ({passphrase_env: VAR} or {key_provider: aws_kms, key_id: KEY})")
    new = backend.sealing
    if old_passphrase_env:
        backend = backend.reading_with(Sealing(PASSPHRASE, passphrase_env=old_passphrase_env))
    with backend.lock("state rekey"), backend.open(writable=True) as store:
        store.rekey(new)
    click.echo(f"The state {backend.location} is encrypted with {new.names} now (its history, journal and backups "
               "too).")
    return EXIT_OK


@state_group.command("versions")
@spec_option
@state_option
@common_options
def state_versions(spec: str, state_path: str | None) -> int:
    """List the saved versions of the state (local: a copy before each run that changes it; S3: the bucket's
    object versions)."""
    session = session_for(spec, state_path)
    versions = session.backend.versions()
    if not versions:
        raise ReconcileError(f"no state and no backups found: looked for {session.backend.location}")
    for v in versions:
        serial = "" if v.serial is None else f"serial {v.serial}"
        click.echo(f"{v.version:<36} {serial:<12} {v.saved_at}  {v.size} bytes{'  (current)' if v.current else ''}")
    return EXIT_OK


@state_group.command("restore")
@click.argument("version")
@spec_option
@state_option
@click.option("--yes", is_flag=True, help="Restore without asking.")
@common_options
def state_restore(version: str, spec: str, state_path: str | None, yes: bool) -> int:
    """Put a saved version back as the current state (`reconcile state versions` lists them)."""
    session = session_for(spec, state_path)
    where = session.backend.location
    if not yes and not sys.stdin.isatty():
        raise ReconcileError("not restoring: confirm with --yes, or run on a terminal")
    if not yes and click.prompt(f"Replace the state {where} with {version}? Only 'yes' will be accepted",
                                default="", show_default=False) != "yes":
        raise ReconcileError("nothing restored")
    with session.backend.lock("state restore"):
        restored = session.backend.restore(version)
    click.echo(f"Restored {version}" + (f" (serial {restored.serial})" if restored.serial is not None else "")
               + f" as {where}")
    return EXIT_OK


@cli.command("force-unlock")
@click.argument("lock_id")
@spec_option
@click.option("--yes", is_flag=True, help="Remove the lock without asking.")
@common_options
def force_unlock_cmd(lock_id: str, spec: str, yes: bool) -> int:
    """Remove a stale lock left by a run that died (its id is in the "locked by" message)."""
    session = session_for(spec)
    if not yes:
        if not sys.stdin.isatty():
            raise ReconcileError("not unlocking: confirm with --yes, or run on a terminal")
        if click.prompt(f"Remove lock {lock_id} from {session.backend.location}? Only 'yes' will be accepted",
                        default="", show_default=False) != "yes":
            raise ReconcileError("lock left in place")
    held = session.backend.force_unlock(lock_id)
    click.echo(f"Removed the lock of {held.get('operation')} by {held.get('who')} on {held.get('host')} "
               f"(since {held.get('since')})")
    return EXIT_OK


@cli.command("history")
@click.option("--limit", "count", default=20, show_default=True, type=click.IntRange(1, 100000),
              help="How many runs to list, newest first.")
@click.option("--drift", "only_drift", is_flag=True, help="Only drift runs, with their counts.")
@spec_option
@state_option
@common_options
def history_cmd(count: int, only_drift: bool, spec: str, state_path: str | None) -> int:
    """List past runs."""
    session = session_for(spec, state_path)
    _existing_state(session)
    with session.state() as store:
        runs = store.runs(kind="drift" if only_drift else None, limit=count)
    keys = ("added", "changed", "destroyed", "forgotten", "failed", "drifted", "pending", "missing", "duplicate",
            "unmanaged", "errors")
    for run in runs:
        s = run.summary
        counts = ", ".join(f"{s.get(k, 0)} {k}" for k in keys if k in s)
        click.echo(f"#{run.id}  {run.started_at}  {run.kind:<6} {run.status:<11} {run.user}@{run.host}  {counts}")
    return EXIT_OK


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
    from reconciler.engine.session import selected_workspace

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
    from reconciler.engine.session import selected_workspace

    _check_workspace_name(name)
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
        if callable(getattr(store, "flush", None)):
            store.flush()
    _select(spec, name)
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
    _select(spec, name)
    click.echo(f"Selected workspace {name}")
    return EXIT_OK


@workspace_group.command("delete")
@click.argument("name")
@spec_option
@click.option("--force", is_flag=True, help="Delete even if its state still manages resources.")
@common_options
def workspace_delete(name: str, spec: str, force: bool) -> int:
    """Delete a workspace's state; refused while it still manages resources, or while a run holds its lock."""
    from reconciler.engine.session import selected_workspace

    if name == "default":
        raise ReconcileError("the default workspace cannot be deleted")
    if name not in _workspaces(spec):
        raise ReconcileError(f"no workspace {name}")
    if selected_workspace(spec) == name:
        raise ReconcileError(f"workspace {name} is selected; select another one first")
    settings()["workspace"] = name
    session = session_for(spec)
    with session.backend.lock("workspace delete"):  # refused while an apply (or anything else) holds it
        with session.state() as store:
            count = len(store.records())
        if count and not force:
            raise ReconcileError(f"workspace {name} still manages {plural(count, 'resource')}; destroy them first "
                                 f"(`reconcile destroy --workspace {name}`) or pass --force")
        session.backend.delete()
    click.echo(f"Deleted workspace {name}")
    return EXIT_OK


def _check_workspace_name(name: str) -> None:
    from reconciler.model import workspace_problem

    problem = workspace_problem(name)
    if problem:
        raise ReconcileError(problem)


def _select(spec: str, name: str) -> None:
    from reconciler.engine.session import workspace_file

    path = workspace_file(spec)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(name + "\n")


# -- entry point -----------------------------------------------------------------------------------
def tune_gc() -> None:
    """A spec of 10,000 resources allocates millions of small acyclic objects; the default
    collector thresholds make that quadratic. Collect rarely, and never scan the imports."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def main(argv: Sequence[str] | None = None) -> None:
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:  # the shell asks for completions (see `reconcile completion`)
        from click.shell_completion import shell_complete

        sys.exit(shell_complete(cli, {}, "reconcile", COMPLETE_VAR, instruction))
    tune_gc()
    args = list(argv) if argv is not None else sys.argv[1:]
    context_settings: dict[str, Any] = {}
    try:
        configure_logging(0, None, False, lambda: context_settings.get("redactor") or Redactor())
        with cli.make_context("reconcile", list(args), obj=context_settings) as ctx:
            rc = cli.invoke(ctx)
    except SpecError as exc:
        for d in exc.diagnostics:
            _event_error(context_settings, _mask(d.message, context_settings), d)
        click.echo("\n".join(_mask(str(d), context_settings) for d in exc.diagnostics), err=True)
        sys.exit(EXIT_ERROR)
    except ReconcileError as exc:
        _event_error(context_settings, _mask(str(exc), context_settings))
        click.echo(f"Error: {_mask(str(exc), context_settings)}", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR if exc.exit_code == 2 else exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:  # `reconcile types | head`: the reader left; end quietly, as a pipe's writer does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except Exception as exc:  # noqa: BLE001 - a bug: its traceback goes to the log, never in the user's face
        log.critical("internal error", exc_info=exc)
        where = context_settings.get("log_file")
        hint = "(run again with --debug to see the traceback" + (f"; it is in {where})" if where else ")")
        if context_settings.get("debug"):
            import traceback

            traceback.print_exc()
        click.echo(f"Error: internal error: {_mask(f'{type(exc).__name__}: {exc}', context_settings)} {hint}",
                   err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(rc if isinstance(rc, int) else EXIT_OK)


def _event_error(context: dict[str, Any], message: str, diagnostic: Diagnostic | None = None) -> None:
    """In --json/--json-stream mode, the error that stopped the command is an event on stdout too."""
    events = context.get("events")
    if events is None:
        return
    where = diagnostic.location if diagnostic is not None else None
    events.error(message, {"file": str(where.file), "line": where.line, "column": where.col} if where else None)


def _mask(text: str, context: dict[str, Any]) -> str:
    redactor = context.get("redactor")
    return redactor.redact(text) if redactor is not None else text
