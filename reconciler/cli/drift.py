"""drift: what changed behind reconcile's back, reported in five formats."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.options import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    common_options,
    refuse_overwriting,
    session_for,
    state_option,
    write_output,
)
from reconciler.cli.root import cli
from reconciler.cli.run import families_of, placements_of


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
        page = drift_page(found, spec_name, session.validate().graph, families_of(session), outcome.history,
                          placements_of(session), texts)
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
