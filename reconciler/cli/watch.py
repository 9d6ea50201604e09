"""watch: continuous reconciliation of one stack, with a dashboard, a JSON status and Prometheus metrics."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import click

from reconciler.cli.options import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    common_options,
    session_for,
    state_option,
)
from reconciler.cli.root import cli
from reconciler.errors import ReconcileError
from reconciler.secrets import Redactor


@cli.command("watch")
@click.argument("path", type=click.Path(exists=True), default=".")
@click.option("--interval", metavar="DURATION", help="How often everything is observed (30s, 5m, 1h) "
                                                     "[default: the spec's watch.interval, else 10m].")
@click.option("--listen", default="127.0.0.1:9464", show_default=True, metavar="HOST:PORT",
              help="Where the dashboard, /metrics, /api/status and POST /run are served; `off`: nowhere.")
@click.option("--once", is_flag=True, help="One run (observe, repair what may be repaired), then exit: 0 when no "
                                            "drift is left, 2 when some is, 1 when the run failed.")
@click.option("--max-changes", type=click.IntRange(0), metavar="N",
              help="Blast radius: a remediation of more changes is held [default: watch.max_changes, else 10].")
@click.option("--notify", multiple=True, metavar="URL", help="A webhook told once of each new and each resolved "
                                                             "drift (repeatable; replaces watch.notify).")
@click.option("--token-env", metavar="NAME", help="POST /run needs `Authorization: Bearer $NAME`.")
@click.option("--parallelism", default=10, show_default=True, type=click.IntRange(1, 256),
              help="How many targets are observed at once.")
@state_option
@common_options
def watch_cmd(path: str, interval: str | None, listen: str, once: bool, max_changes: int | None,
              notify: tuple[str, ...], token_env: str | None, parallelism: int, state_path: str | None) -> int:
    """Observe the stack on an interval, repair the drift of `drift: {remediate: auto}` resources within the
    blast radius, report the rest once, and serve its state (runs forever; SIGTERM stops it cleanly)."""
    try:
        from reconciler.watch.metrics import WatchMetrics
    except ImportError:
        raise ReconcileError("reconcile watch needs prometheus_client: pip install 'reconcile-iac[watch]'") from None
    from reconciler.watch.cycle import RunRecord
    from reconciler.watch.loop import Watcher
    from reconciler.watch.notices import Notifier
    from reconciler.watch.settings import listen_address, watch_settings
    from reconciler.watch.status import WatchStatus

    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise ReconcileError(f"--token-env {token_env}: the variable is not set (or empty); set it to the token "
                                 "POST /run must carry")
    redactor = Redactor()
    if token:
        redactor.add(token)
    validated = session_for(path, state_path, parallelism, redactor).validate()
    settings = watch_settings(validated.spec.document.data.get("watch"), interval=interval, max_changes=max_changes,
                              notify=notify)
    address = None if once or listen == "off" else listen_address(listen)
    spec_name = str(Path(path))
    status = WatchStatus(spec_name, settings.interval, settings.max_changes)

    def said(run: RunRecord) -> None:
        counts = ", ".join(f"{n} {k}" for k, n in run.report.counts().items() if n) if run.report else ""
        line = f"run {run.number}: {run.result}" + (f" ({counts})" if counts else "") \
            + (f"; repaired {', '.join(run.repaired)}" if run.repaired else "") \
            + (f"; held: {run.held.why}" if run.held else "") + (f"; {run.error}" if run.error else "")
        click.echo(redactor.redact(line), err=run.result == "failed")

    notifier = Notifier(settings.notify, redactor.redact)
    watcher = Watcher(lambda: session_for(path, state_path, parallelism, redactor), settings, spec_name, status,
                      WatchMetrics(), notifier, said)
    if once:
        try:
            run = watcher.run()
        finally:
            notifier.close()
        return EXIT_ERROR if run.result == "failed" else EXIT_CHANGES if watcher.ledger.current else EXIT_OK
    return _serve(watcher, address, token, redactor)


def _serve(watcher: Any, address: tuple[str, int] | None, token: str | None, redactor: Redactor) -> int:
    from reconciler.durations import spoken
    from reconciler.watch.server import Service, make_server

    stop, wake = threading.Event(), threading.Event()

    def stopping(signum: int, frame: Any) -> None:
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    server = None
    if address is not None:
        try:
            server = make_server(Service(watcher.status, watcher.metrics, wake, redactor.redact, token), *address)
        except OSError as exc:
            raise ReconcileError(f"--listen {address[0]}:{address[1]}: {exc.strerror or exc}") from None
        threading.Thread(target=server.serve_forever, name="watch-http", daemon=True).start()
        host, port = str(server.server_address[0]), int(server.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"Serving http://{shown}:{port}/ (dashboard, /metrics, /api/status, POST /run)")
    click.echo(f"Watching {watcher.spec_name} every {spoken(watcher.settings.interval)}"
               f" (blast radius: {watcher.settings.max_changes} changes)", nl=True)
    try:
        watcher.forever(stop, wake)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        watcher.notifier.close()
    click.echo("Stopped.")
    return EXIT_OK
