"""The terminal's view of an apply or destroy (engine.apply.ApplyHooks): the plan, the question, progress
while it runs (live bars on a colour terminal, one line per change elsewhere), then the table per target,
the summary and the outputs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from reconciler.errors import ReconcileError
from reconciler.model import Change, Plan, Result
from reconciler.report import plan_text, progress


def ask_approval(question: str | None = None) -> None:
    """Asks on the terminal; anything but `yes` cancels. Without a terminal nobody can answer: refused."""
    if not sys.stdin.isatty():
        raise ReconcileError(
            "refusing to apply: stdin is not a terminal, so nobody can approve the plan. "
            "Review it with `reconcile plan` and pass --auto-approve, or apply a saved plan file."
        )
    click.echo(f"\n{question or 'Do you want to perform these actions?'} Only 'yes' will be accepted to approve.")
    answer = click.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        raise ReconcileError("apply cancelled")


class ApplyView:
    """One apply's view. `live`: rich's live progress (report.live.LiveProgress), or None for plain lines;
    `ask`: whether to ask before changing anything (not with --auto-approve or a saved plan);
    `planned`: called once the plan is shown (the caller stops feeding observe progress to `live`)."""

    def __init__(self, *, color: bool, diff_lines: int, live: Any, ask: bool, question: str | None = None,
                 planned: Callable[[], None] = lambda: None):
        self.color, self.diff_lines, self.live, self.ask, self.question = color, diff_lines, live, ask, question
        self.planned = planned
        self.reporter: Any = None

    # -- before: the plan and the question -----------------------------------------------------------
    def show(self, plan: Plan) -> None:
        if self.live is not None:
            self.live.stop()  # before the plan is printed and approval asked for
        click.echo(plan_text.render_plan(plan, self.color, self.diff_lines), nl=False)
        if self.live is None:
            total = len(plan.actionable) + len(plan.failures)
            self.reporter = progress.ApplyReporter(total, color=self.color, progress=sys.stdout.isatty())
        else:
            self.planned()

    def approve(self, plan: Plan) -> bool:
        if self.ask:
            ask_approval(self.question)
        click.echo("")
        if self.live is not None and self.reporter is None:
            from reconciler.report.live import LiveApplyReporter

            self.reporter = LiveApplyReporter(len(plan.actionable) + len(plan.failures), self.live, color=self.color)
        return True

    # -- during: ApplyHooks ---------------------------------------------------------------------------
    def started(self, change: Change) -> None:
        if self.reporter is not None:
            self.reporter.started(change)

    def finished(self, result: Result) -> None:
        if self.reporter is not None:
            self.reporter.finished(result)

    def note(self, message: str) -> None:
        if self.reporter is not None:
            self.reporter.note(message)

    def close(self) -> None:
        if self.reporter is not None:
            self.reporter.close()
        if self.live is not None:
            self.live.stop()

    # -- after: what was done --------------------------------------------------------------------------
    def outcome(self, outcome: Any) -> None:
        """The table per target, the summary and the outputs (engine.session.ApplyOutcome)."""
        if not outcome.applied:
            if outcome.outputs and not outcome.failed:
                click.echo("\n" + plan_text.render_outputs(outcome.outputs), nl=False)
            return
        if self.live is not None:
            from reconciler.report.live import per_target_table

            click.echo("")
            per_target_table(outcome.results, outcome.targets)
            click.echo(progress.render_summary(outcome.results, self.color, outcome.runs), nl=False)
        else:
            click.echo("\n" + progress.per_target(outcome.results, outcome.targets)
                       + progress.render_summary(outcome.results, self.color, outcome.runs), nl=False)
        if outcome.outputs:
            click.echo("\n" + plan_text.render_outputs(outcome.outputs), nl=False)
