"""`reconcile migrate terraform|ansible`: the way in for an estate managed by a peer."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import click

from reconciler.errors import ReconcileError

_STACK = re.compile(r"[^A-Za-z0-9_-]+")


@click.group("migrate")
def migrate_group() -> None:
    """Turn a Terraform state or Ansible playbook into a reconcile spec."""


def _report(*kinds: tuple[str, Iterable[object]]) -> None:
    """What a migration left out or folded in, one line each, under its kind."""
    for kind, items in kinds:
        for item in items:
            click.echo(f"  {kind}: {item}")


@migrate_group.command("terraform")
@click.argument("state_file", metavar="STATE.json", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default="migrated", show_default=True, type=click.Path(file_okay=False),
              help="Directory to write the spec (main.yaml) and its adoption state into; must hold neither yet.")
@click.option("--name", "stack_name", help="The stack name (default: the --out directory's name).")
@click.option("--region", help="AWS region of the spec (default: the region most objects are in, by their ARNs "
                               "and buckets' regions; else us-east-1).")
@click.option("--endpoint-url", help="The AWS endpoint the spec talks to (a test endpoint, a VPC endpoint); "
                                     "default: AWS's own.")
@click.option("--verify", is_flag=True, help="Plan the generated spec against the real objects first, and write "
                                             "it only when that plan makes no change at all; otherwise show the "
                                             "plan and write nothing.")
def migrate_terraform(state_file: str, out_dir: str, stack_name: str | None, region: str | None,
                      endpoint_url: str | None, verify: bool) -> int:
    """Write a spec for every resource of a Terraform state (`terraform show -json` output or a
    terraform.tfstate, format version 4) whose type reconcile supports, and an adoption state, so that
    the first `reconcile plan` shows no changes. Split resources (rules, routes, attachments, a bucket's
    settings) are folded into their objects; what cannot be carried is listed, per resource. Everything is
    written to a temporary directory and moved into place at the end: a failure leaves nothing behind."""
    from reconciler.migrate.output import check_directory, staged_directory, to_yaml, write_file
    from reconciler.migrate.terraform import migrate
    from reconciler.migrate.tfstate import MalformedEntry, at_line, read_state
    from reconciler.registry import Registry

    try:
        migration = migrate(read_state(Path(state_file)), Registry.installed())
    except MalformedEntry as exc:
        raise at_line(Path(state_file), exc) from None
    if not migration.resources:
        raise ReconcileError(f"{state_file} holds no resource of a type reconcile supports"
                             + (f" (unsupported: {', '.join(migration.unsupported)})" if migration.unsupported else ""))
    out = Path(out_dir)
    check_directory(out)
    name = stack_name or _STACK.sub("-", out.absolute().name).strip("-") or "migrated"
    secrets = sorted({v for m in migration.resources for v in m.secrets.values()})
    aws: dict[str, object] = {"region": region or migration.region or "us-east-1"}
    if endpoint_url:
        aws["endpoint_url"] = endpoint_url
    document: dict[str, object] = {"name": name, "aws": aws}
    if secrets:
        document["vars_from_env"] = secrets
    document["resources"] = [{"type": m.type, "name": m.name, **m.attributes} for m in migration.resources]
    header = [f"Migrated from the Terraform state {Path(state_file).name} by `reconcile migrate terraform`.",
              "Every object below is adopted (recorded as found): removing it from this spec releases it.",
              *(f"Merged: {m}" for m in migration.merged),
              *(f"Not migrated (no reconcile type): {u}" for u in migration.unsupported),
              *(f"Not carried: {c}" for c in migration.not_carried),
              *(f"Note: {n}" for n in migration.notes)]
    with staged_directory(out) as staging:
        for m in migration.resources:
            for relative, theirs in m.files.items():
                _copy_beside(Path(state_file).parent, theirs, staging / relative, m.address)
        write_file(staging / "main.yaml", to_yaml(document, header))
        adopted = _adopt(staging, migration)
        if verify:
            _verify(staging)
    spec_file = out / "main.yaml"
    click.echo(f"Wrote {spec_file} ({len(migration.resources)} resources) and adopted {adopted} objects in its state.")
    _report(("merged", migration.merged), ("not migrated", migration.unsupported),
            ("not carried", migration.not_carried), ("note", migration.notes))
    click.echo("Verified: the first plan makes no change." if verify else
               f"Next: reconcile plan {out}  (it should say: No changes.)")
    return 0


def _copy_beside(base: Path, theirs: str, dest: Path, address: str) -> None:
    """A file Terraform read (a function's zip), copied where the spec reads it."""
    import shutil

    source = Path(theirs) if Path(theirs).is_absolute() else base / theirs
    if not source.is_file():
        raise ReconcileError(f"{address}: Terraform deployed {theirs}, which is not at {source}: run migrate from "
                             "the Terraform directory's state, or copy the file there")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)


def _verify(staging: Path) -> None:
    """The generated spec's plan against the real objects: any change at all refuses the migration."""
    from reconciler.engine.session import Session
    from reconciler.report import plan_text

    plan = Session(staging).plan()
    if plan.actionable or plan.failures:
        text = plan_text.render_plan(plan, False, 40)
        raise ReconcileError("the migrated spec would change what exists, so nothing was written:\n" + text.rstrip()
                             + "\n(look at the notes above, fix what they name, and migrate again)")


def _valid_spec(directory: Path, document: dict[str, object], header: list[str], conversion: object) -> list[str]:
    """Write the converted spec so that it validates, always: a resource that would make it invalid is left
    out and listed (with what validation said), until what is left validates."""
    from reconciler.engine.session import Session
    from reconciler.errors import SpecError
    from reconciler.migrate.output import to_yaml

    resources = list(document["resources"])  # type: ignore[call-overload]
    dropped: list[str] = []
    spec_file = directory / "main.yaml"
    for _ in range(len(resources) + 1):
        spec_file.write_text(to_yaml({**document, "resources": resources}, header + [f"Not converted: {d}"
                                                                                      for d in dropped]))
        try:
            Session(directory).validate(unset_env_ok=True)
            break
        except SpecError as exc:
            bad = sorted({d.json_path[1] for d in exc.diagnostics if len(d.json_path) > 1
                          and d.json_path[0] == "resources" and isinstance(d.json_path[1], int)}, reverse=True)
            if not bad:
                raise
            for index in bad:
                gone = resources.pop(index)
                address = f"{gone.get('type')}.{gone.get('name')}"
                why = "; ".join(d.message for d in exc.diagnostics if d.json_path[1:2] == (index,))
                dropped.append(f"{address}: left out, it would not validate ({why})")
                for other in list(resources):  # nothing waits for, or is triggered by, what is left out
                    for key in ("depends_on", "notify", "restart_on", "triggered_by"):
                        if isinstance(other.get(key), list):
                            kept = [a for a in other[key] if str(a).split(":")[0] != address]
                            if kept:
                                other[key] = kept
                            elif key == "triggered_by":  # a handler of it alone: it would never run
                                resources.remove(other)
                                dropped.append(f"{other.get('type')}.{other.get('name')}: left out with "
                                               f"{address}, the only change that triggered it")
                                break
                            else:
                                other.pop(key)
    document["resources"] = resources
    if conversion is not None and hasattr(conversion, "resources"):
        conversion.resources[:] = resources
    return dropped


def _adopt(out: Path, migration: object) -> int:
    """Record every migrated object as found, under its address, by the id Terraform knew it by (and what
    its type records beside it, such as the salted hash of a password Terraform's state held)."""
    from reconciler.engine.session import Session
    from reconciler.migrate.terraform import Migration
    from reconciler.state.records import FOUND, StateRecord, now_text

    assert isinstance(migration, Migration)
    session = Session(out)
    validated = session.validate(unset_env_ok=True)  # secrets the spec reads from the environment may be unset
    by_address = {r.address: r for r in validated.spec.resources}
    with session.state(lock="migrate terraform") as store:
        for m in migration.resources:
            resource = by_address[m.address]
            module = session.type_registry.module(resource.type)
            store.put(StateRecord(m.address, resource.type, resource.name, resource.target, resource.host,
                                  {**module.import_identity(m.object_id), **m.identity}, {}, {}, (), False,
                                  now_text(), FOUND))
        store.bump_serial()
    return len(migration.resources)


@migrate_group.command("ansible")
@click.argument("playbook", metavar="PLAYBOOK.yml", type=click.Path(dir_okay=False))
@click.option("-i", "--inventory", "inventory", required=True, type=click.Path(dir_okay=False),
              help="The Ansible inventory (YAML or INI; group_vars/ and host_vars/ beside it are read).")
@click.option("--out", "out_dir", default="migrated", show_default=True, type=click.Path(file_okay=False),
              help="Directory to write the spec (main.yaml) and its templates into; must hold no spec yet.")
@click.option("--name", "stack_name", help="The stack name (default: the --out directory's name).")
def migrate_ansible(playbook: str, inventory: str, out_dir: str, stack_name: str | None) -> int:
    """Convert a playbook's plays and its inventory into a spec: the tasks of the modules reconcile covers
    become resources (loops become for_each, when stays when, handlers become triggers); the tasks it
    cannot convert are listed with their file and line."""
    from reconciler.migrate.ansible import convert
    from reconciler.migrate.output import staged_directory, write_file
    from reconciler.registry import Registry

    conversion = convert(Path(playbook), Path(inventory), Registry.installed())
    if not conversion.resources:
        raise ReconcileError(f"no task of {playbook} could be converted: "
                             + "; ".join(map(str, conversion.unconverted)) if conversion.unconverted
                             else f"{playbook} has no tasks")
    out = Path(out_dir)
    name = stack_name or _STACK.sub("-", out.absolute().name).strip("-") or "migrated"
    document: dict[str, object] = {"name": name, "inventory": conversion.inventory}
    if conversion.variables:
        document["vars"] = conversion.variables
    document["resources"] = conversion.resources
    header = [f"Converted from the Ansible playbook {Path(playbook).name} by `reconcile migrate ansible`.",
              *(f"Not converted: {u}" for u in conversion.unconverted),
              *(f"Note: {n}" for n in conversion.notes)]
    with staged_directory(out) as staging:
        for relative, text in conversion.templates.items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            write_file(staging / relative, text)
        dropped = _valid_spec(staging, document, header, conversion)
    spec_file = out / "main.yaml"
    click.echo(f"Wrote {spec_file}: {len(conversion.resources)} resources"
               + (f", {len(conversion.templates)} templates" if conversion.templates else "") + ".")
    _report(("not converted", [*conversion.unconverted, *dropped]), ("note", conversion.notes))
    converted = max(0, conversion.converted - len(dropped))
    click.echo(f"Converted {converted} of {conversion.tasks} tasks "
               f"({converted / max(1, conversion.tasks):.0%}) into {len(conversion.resources)} "
               "resources.")
    click.echo(f"Next: reconcile plan {out}  (the spec validates)")
    return 0
