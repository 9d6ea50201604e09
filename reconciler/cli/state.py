"""state …, force-unlock, history and output: the commands that read or edit the state."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.errors import ReconcileError
from reconciler.words import plural

if TYPE_CHECKING:  # the engine is imported by the commands that use it: `--version` and `--help` stay light
    from reconciler.engine.session import Session
from reconciler.cli.options import EXIT_OK, common_options, session_for, spec_option, state_option
from reconciler.cli.root import cli


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
    existing_state(session)
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


def existing_state(session: Session) -> None:
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
    existing_state(session)
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
    existing_state(session)
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
    existing_state(session)
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
    existing_state(session)
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
    from reconciler.state.operations import adopt

    session = session_for(spec, state_path)
    validated = session.validate()
    resource = next((r for r in validated.spec.resources if r.address == address), None)
    if resource is None:
        raise ReconcileError(f"{address} is not a resource of the spec; add it to the spec first, then import it")
    module = session.registry.module(resource.type)  # type: ignore[union-attr]
    with session.state(lock="state import") as store:
        adopt(store, resource, module.import_identity(object_id))
    click.echo(f"Imported {object_id} as {address}; `reconcile plan` shows how it differs from the spec")
    return EXIT_OK


@state_group.command("pull")
@spec_option
@state_option
@common_options
def state_pull(spec: str, state_path: str | None) -> int:
    """Print the whole state as JSON (secrets appear as salted hashes)."""
    session = session_for(spec, state_path)
    existing_state(session)
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
    from reconciler.state.operations import push
    from reconciler.state.records import StateDocument

    try:
        document = StateDocument.from_json(json.loads(Path(file).read_text(encoding="utf-8")), file)
    except (OSError, ValueError) as exc:
        raise ReconcileError(f"cannot read {file}: {exc}") from None
    session = session_for(spec, state_path)
    with session.state(lock="state push") as store:
        push(store, document, force)
    click.echo(f"Pushed {file} (serial {document.serial}) to {session.backend.location}")
    return EXIT_OK


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
    from reconciler.state.operations import copy_state

    session = session_for(spec, state_path)
    existing_state(session)
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
        document = copy_state(store, target)
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
    existing_state(session)
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
    existing_state(session)
    with session.state() as store:
        runs = store.runs(kind="drift" if only_drift else None, limit=count)
    keys = ("added", "changed", "destroyed", "forgotten", "failed", "drifted", "pending", "missing", "duplicate",
            "unmanaged", "errors")
    for run in runs:
        s = run.summary
        counts = ", ".join(f"{s.get(k, 0)} {k}" for k in keys if k in s)
        click.echo(f"#{run.id}  {run.started_at}  {run.kind:<6} {run.status:<11} {run.user}@{run.host}  {counts}")
    return EXIT_OK
