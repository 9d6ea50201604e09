"""The `reconcile` command. Thin: parse options, call the stages, print through report."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from reconciler.engine.apply import Applier
from reconciler.engine.graph import to_dot, to_mermaid
from reconciler.engine.plan import Selection, make_plan
from reconciler.errors import ReconcileError, SpecError
from reconciler.model import Diagnostic, Plan, Status
from reconciler.registry import Registry
from reconciler.report import diagnostics, plan_text, progress
from reconciler.spec.validate import Validated, validate
from reconciler.state.lock import StateLock
from reconciler.state.planfile import check_fresh, is_plan_file, read_plan_file, selection_of, write_plan_file
from reconciler.state.store import StateStore, default_state_path
from reconciler.targets import TargetPool

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def _use_color(ctx: click.Context) -> bool:
    no_color = ctx.find_root().params.get("no_color", False)
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def state_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--state", "state_path", type=click.Path(dir_okay=False),
                        help="State database (default: .reconcile/state.db beside the spec).")(f)


def selection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--target", "targets", multiple=True, metavar="ADDR",
                     help="Only this resource and what it depends on (repeatable).")(f)
    f = click.option("--limit", multiple=True, metavar="HOST", help="Only resources on these hosts (repeatable).")(f)
    f = click.option("--no-prune", is_flag=True, help="Keep resources that were removed from the spec.")(f)
    f = click.option("--allow-data-loss", is_flag=True,
                     help="Allow destroying objects that hold data (e.g. non-empty Docker volumes).")(f)
    f = click.option("--parallelism", default=10, show_default=True, type=click.IntRange(1, 256),
                     help="How many operations run at once.")(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--no-color", is_flag=True, help="Plain output (NO_COLOR is honoured too).")
@click.version_option(package_name="reconcile-iac")
def cli(no_color: bool) -> None:
    """Declarative state for servers, containers and AWS: validate, plan, apply."""


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "junit", "sarif"]), default="text",
              show_default=True)
@click.option("--strict", is_flag=True, help="Add lint rules: undeclared directory dependencies, clear-text "
                                             "secrets, latest image tags.")
def validate_cmd(paths: Sequence[str], fmt: str, strict: bool) -> int:
    """Check specs without contacting any host, engine or cloud."""
    from reconciler.spec.lint import lint

    registry = Registry.builtin()
    checked: list[tuple[str, Sequence[Diagnostic]]] = []
    for path in paths:
        try:
            validated = validate(path, registry, unset_env_ok=True)
            checked.append((path, tuple(lint(validated, registry)) if strict else ()))
        except SpecError as exc:
            checked.append((path, exc.diagnostics))
        except ReconcileError as exc:
            checked.append((path, (Diagnostic(str(exc)),)))
    click.echo(diagnostics.render_diagnostics(checked, fmt), nl=False)
    return EXIT_ERROR if any(d for _, d in checked) else EXIT_OK


def _plan(validated: Validated, registry: Registry, targets: TargetPool, store: StateStore,
          selection: Selection, parallelism: int) -> Plan:
    return make_plan(validated.spec, validated.graph, registry, targets, store, selection, parallelism)


@cli.command("plan")
@click.argument("path", type=click.Path(exists=True))
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan for `reconcile apply FILE`.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (schemas/plan.json).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@selection_options
@state_option
@click.pass_context
def plan_cmd(ctx: click.Context, path: str, out: str | None, as_json: bool, detailed_exitcode: bool,
             targets: tuple[str, ...], limit: tuple[str, ...], no_prune: bool, allow_data_loss: bool,
             parallelism: int, state_path: str | None) -> int:
    """Show what apply would change."""
    registry = Registry.builtin()
    validated = validate(path, registry)
    state_file = Path(state_path) if state_path else default_state_path(path)
    selection = Selection(targets, limit, not no_prune, allow_data_loss)
    with StateStore.open_readonly(state_file) as store, TargetPool(validated.spec) as pool:
        plan = _plan(validated, registry, pool, store, selection, parallelism)
    if out:
        write_plan_file(out, plan, path, str(state_file), selection)
    if as_json:
        click.echo(json.dumps(plan_text.plan_to_json(plan), indent=2, default=str))
    else:
        click.echo(plan_text.render_plan(plan, _use_color(ctx)), nl=False)
        if out:
            click.echo(f"\nSaved the plan to {out}. To perform exactly these actions: reconcile apply {out}")
    if plan.failures or plan.blockers:
        return EXIT_ERROR
    return EXIT_CHANGES if detailed_exitcode and plan.actionable else EXIT_OK


@cli.command("apply")
@click.argument("path", type=click.Path(exists=True))
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--only-drifted", is_flag=True, help="Converge only resources changed behind reconcile's back.")
@selection_options
@state_option
@click.pass_context
def apply_cmd(ctx: click.Context, path: str, auto_approve: bool, only_drifted: bool, targets: tuple[str, ...],
              limit: tuple[str, ...],
              no_prune: bool, allow_data_loss: bool, parallelism: int, state_path: str | None) -> int:
    """Apply a spec (after approval) or a saved plan."""
    registry = Registry.builtin()
    color = _use_color(ctx)
    saved = read_plan_file(path) if is_plan_file(path) else None
    if saved:
        spec_path, state_file, selection = saved["spec_path"], Path(saved["state_path"]), selection_of(saved)
    else:
        spec_path, selection = path, Selection(targets, limit, not no_prune, allow_data_loss)
        state_file = Path(state_path) if state_path else default_state_path(path)
    validated = validate(spec_path, registry)
    with StateLock(state_file), StateStore(state_file) as store, TargetPool(validated.spec) as pool:
        plan = _plan(validated, registry, pool, store, selection, parallelism)
        if saved:
            check_fresh(saved, plan)
        if only_drifted:
            plan = _only_drifted(plan, store, registry)
        click.echo(plan_text.render_plan(plan, color), nl=False)
        if plan.blockers:
            raise ReconcileError("the plan cannot be applied: " + "; ".join(plan.blockers))
        if not plan.actionable:  # nothing to change; the state still learns the spec's current values
            Applier(validated.graph, registry, pool, store, parallelism).apply(plan)
            return EXIT_ERROR if plan.failures else EXIT_OK
        if not saved and not auto_approve:
            _approve()
        run_id = store.start_run("apply", str(Path(spec_path).absolute()))
        click.echo("")
        reporter = progress.ApplyReporter(len(plan.actionable) + len(plan.failures), color=color,
                                        progress=sys.stdout.isatty())
        try:
            results = Applier(validated.graph, registry, pool, store, parallelism, reporter).apply(plan)
        finally:
            reporter.close()
        summary = progress.summarize(results)
        failed = any(r.status in (Status.FAILED, Status.SKIPPED) for r in results)
        store.finish_run(run_id, "failed" if failed else "ok", summary | {
            "resources": {r.address: r.status.value for r in results if r.status is not Status.NOOP}})
        targets = {c.address: c.resource.target for c in plan.changes if c.resource is not None}
        click.echo("\n" + progress.per_target(results, targets) + progress.render_summary(results, color), nl=False)
        return EXIT_ERROR if failed else EXIT_OK


def _only_drifted(plan: Plan, store: StateStore, registry: Registry) -> Plan:
    """The plan with every change that is not a repair of drift (or of a missing resource) left out."""
    from reconciler.engine.drift import classify
    from reconciler.model import Action

    drifted = {i.address for i in classify(plan, store.records(), registry).items if i.kind in ("drifted", "missing")}
    # the rest is left out of the plan altogether (not turned into no-ops: the state must not record
    # spec values that were never applied)
    kept = tuple(c for c in plan.changes if c.address in drifted or (c.action is Action.NOOP and not c.pruned))
    return dataclasses.replace(plan, changes=kept)


def _approve() -> None:
    if not sys.stdin.isatty():
        raise ReconcileError(
            "refusing to apply: stdin is not a terminal, so nobody can approve the plan. "
            "Review it with `reconcile plan` and pass --auto-approve, or apply a saved plan file."
        )
    click.echo("\nDo you want to perform these actions? Only 'yes' will be accepted to approve.")
    answer = click.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        raise ReconcileError("apply cancelled")


@cli.command("drift")
@click.argument("path", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "junit"]), default="text",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the report here instead of stdout.")
@click.option("--notify", metavar="URL", help="POST a JSON summary (Slack-compatible `text`) when drift is found.")
@click.option("--since", "since_run", type=int, metavar="RUN", help="Show only what is new since drift run RUN.")
@click.option("--limit", multiple=True, metavar="HOST", help="Only resources on these hosts (repeatable).")
@click.option("--parallelism", default=10, show_default=True, type=click.IntRange(1, 256))
@state_option
def drift_cmd(path: str, fmt: str, output: str | None, notify: str | None, since_run: int | None,
              limit: tuple[str, ...], parallelism: int, state_path: str | None) -> int:
    """Report what changed behind reconcile's back (read-only; never takes the apply lock)."""
    from reconciler.engine.drift import classify, discover_unmanaged, new_since
    from reconciler.report import drift_formats as drift_report
    from reconciler.report.notify import post_json

    registry = Registry.builtin()
    validated = validate(path, registry)
    state_file = Path(state_path) if state_path else default_state_path(path)
    spec_name = str(Path(path))
    with StateStore.open_readonly(state_file) as store, TargetPool(validated.spec) as pool:
        plan = _plan(validated, registry, pool, store, Selection(limit=limit), parallelism)
        records = store.records()
        in_use = {(r.type, r.target) for r in validated.spec.resources} | {(r.type, r.target) for r in records.values()}
        unmanaged, discovery_errors = discover_unmanaged(
            [(t, n) for t, n in in_use if t in registry], registry, pool)
        found = classify(plan, records, registry, unmanaged)
        if discovery_errors:
            found = dataclasses.replace(found, errors={**found.errors, **discovery_errors})
        if since_run is not None:
            earlier = next((r for r in store.runs(kind="drift", limit=100000) if r.id == since_run), None)
            if earlier is None:
                raise ReconcileError(f"no drift run #{since_run} in the history (see `reconcile history --drift`)")
            found = new_since(found, earlier.summary.get("report", {}))
        run_id = None
        if state_file.exists():
            run_id = store.start_run("drift", str(Path(path).absolute()))
            body = drift_report.to_json(found, spec_name, run_id)
            store.finish_run(run_id, "drift" if found.found else ("error" if found.errors else "ok"),
                             {**found.counts(), "errors": len(found.errors), "report": body})
    text = drift_report.render(found, spec_name, fmt, run_id)
    if output:
        Path(output).write_text(text)
    else:
        click.echo(text, nl=False)
    if notify and found.found:
        problem = post_json(notify, drift_report.notification(found, spec_name, run_id))
        if problem:
            click.echo(f"Error: {problem}", err=True)
    if found.errors:
        return EXIT_ERROR
    return EXIT_CHANGES if found.found else EXIT_OK


@cli.group("schema")
def schema_group() -> None:
    """JSON Schemas for editors and CI."""


@schema_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
def schema_export(directory: str) -> int:
    """Write reconcile.schema.json (the spec with every resource type composed in) and the per-type schemas."""
    from reconciler.spec.schema_export import export

    written = export(Registry.builtin(), Path(directory))
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"\nIn a spec file, for editor validation and completion:\n"
               f"# yaml-language-server: $schema={Path(written[0]).absolute()}")
    return EXIT_OK


@cli.command("trust")
@click.argument("host")
@click.option("--spec", default=".", show_default=True, type=click.Path(), help="The spec whose inventory names HOST.")
@click.option("--known-hosts", type=click.Path(dir_okay=False),
              help="File to add the key to (default: the spec's known_hosts, else ~/.ssh/known_hosts).")
@click.option("--yes", is_flag=True, help="Add the key without asking.")
def trust_cmd(host: str, spec: str, known_hosts: str | None, yes: bool) -> int:
    """Show a host's SSH key fingerprint and add it to known_hosts."""
    from reconciler.targets.ssh import append_known_host, fetch_host_key, fingerprint, known_hosts_name

    validated = validate(spec, Registry.builtin(), unset_env_ok=True)
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
    append_known_host(path, name, key)
    click.echo(f"Added {name} to {path}")
    return EXIT_OK


@cli.command("graph")
@click.argument("path", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid"]), default="dot", show_default=True)
def graph_cmd(path: str, fmt: str) -> int:
    """Print the dependency graph."""
    validated = validate(path, Registry.builtin())
    click.echo(to_dot(validated.graph) if fmt == "dot" else to_mermaid(validated.graph), nl=False)
    return EXIT_OK


def _state_file(spec: str, state_path: str | None) -> Path:
    return Path(state_path) if state_path else default_state_path(spec)


spec_option = click.option("--spec", default=".", show_default=True, type=click.Path(),
                           help="The spec whose state to use.")


@cli.group("state")
def state_group() -> None:
    """Inspect or edit the state."""


@state_group.command("list")
@spec_option
@state_option
def state_list(spec: str, state_path: str | None) -> int:
    with StateStore.open_readonly(_state_file(spec, state_path)) as store:
        for record in store.records().values():
            click.echo(record.address)
    return EXIT_OK


@state_group.command("show")
@click.argument("address")
@spec_option
@state_option
def state_show(address: str, spec: str, state_path: str | None) -> int:
    with StateStore.open_readonly(_state_file(spec, state_path)) as store:
        record = store.get(address)
    if record is None:
        raise ReconcileError(f"no resource {address} in the state")
    click.echo(json.dumps({
        "address": record.address, "type": record.type, "target": record.target, "host": record.host,
        "identity": record.identity, "attributes": record.attributes, "observed": record.observed,
        "depends_on": list(record.depends_on), "prevent_destroy": record.prevent_destroy,
        "updated_at": record.updated_at,
    }, indent=2, default=str))
    return EXIT_OK


@state_group.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@spec_option
@state_option
def state_rm(addresses: Sequence[str], spec: str, state_path: str | None) -> int:
    """Forget resources without touching them (reconcile stops managing them)."""
    path = _state_file(spec, state_path)
    with StateLock(path, "state rm"), StateStore(path) as store:
        for address in addresses:
            if not store.forget(address):
                raise ReconcileError(f"no resource {address} in the state")
            click.echo(f"Removed {address}")
        store.bump_serial()
    return EXIT_OK


@cli.command("history")
@click.option("--limit", "count", default=20, show_default=True, type=int)
@click.option("--drift", "only_drift", is_flag=True, help="Only drift runs, with their counts.")
@spec_option
@state_option
def history_cmd(count: int, only_drift: bool, spec: str, state_path: str | None) -> int:
    """List past runs."""
    with StateStore.open_readonly(_state_file(spec, state_path)) as store:
        runs = store.runs(kind="drift" if only_drift else None, limit=count)
    keys = ("added", "changed", "destroyed", "failed", "drifted", "pending", "missing", "unmanaged", "errors")
    for run in runs:
        s = run.summary
        counts = ", ".join(f"{s.get(k, 0)} {k}" for k in keys if k in s)
        click.echo(f"#{run.id}  {run.started_at}  {run.kind:<6} {run.status:<8} {run.user}@{run.host}  {counts}")
    return EXIT_OK


def tune_gc() -> None:
    """A spec of 10,000 resources allocates millions of small acyclic objects; the default
    collector thresholds make that quadratic. Collect rarely, and never scan the imports."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def main(argv: Sequence[str] | None = None) -> None:
    tune_gc()
    try:
        rc = cli.main(args=list(argv) if argv is not None else None, prog_name="reconcile", standalone_mode=False)
    except SpecError as exc:
        click.echo("\n".join(str(d) for d in exc.diagnostics), err=True)
        sys.exit(EXIT_ERROR)
    except ReconcileError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR if exc.exit_code == 2 else exc.exit_code)
    sys.exit(rc if isinstance(rc, int) else EXIT_OK)
