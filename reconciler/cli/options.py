"""Options every command takes, and the helpers the commands share (settings, the session, output files)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.errors import ReconcileError
from reconciler.logs import configure_logging
from reconciler.report import plan_text
from reconciler.secrets import Redactor

if TYPE_CHECKING:  # the engine is imported by the commands that use it: `--version` and `--help` stay light
    from reconciler.engine.session import Session


EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
COMPLETE_VAR = "_RECONCILE_COMPLETE"  # set by the completion scripts when the shell asks for completions
log = logging.getLogger("reconciler")


def print_version(ctx: click.Context, value: bool) -> None:
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


def use_color() -> bool:
    return not settings().get("no_color") and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def live_progress() -> Any:
    """Live progress bars (rich) on a terminal with colour; None for logs, pipes, CI and --no-color."""
    if not use_color():
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


def diff_lines() -> int:
    return int(settings().get("diff_lines", plan_text.DIFF_LINES))


def session_for(spec: str | Path, state_path: str | None = None, parallelism: int = 10,
                redactor: Redactor | None = None) -> Session:
    from reconciler.spec.variables import VarOverrides, parse_var_args
    from reconciler.state.backend import parse_backend_config

    overrides = VarOverrides(tuple(settings().get("var_files") or ()),
                             parse_var_args(settings().get("var_args") or ()))
    from reconciler.engine.session import Session

    session = Session(spec, workspace=settings().get("workspace"), state_path=state_path, parallelism=parallelism,
                      backend_config=parse_backend_config(settings().get("backend_config") or ()),
                      var_overrides=overrides, scheduler=settings().get("scheduler"),
                      diff_context=int(settings().get("diff_context", 3)), redactor=redactor or Redactor())
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


# -- the state -------------------------------------------------------------------------------------
spec_option = click.option("--spec", default=".", show_default=True, type=click.Path(),
                           help="The spec whose state to use.")
