"""`reconcile watch`: continuous reconciliation of one stack.

It observes on an interval (and each resource on its own `drift.every`), repairs the drift of resources whose
policy is `drift: {remediate: auto}` within a blast radius (`max_changes`, never a destroy or a replacement),
reports the rest, tells webhooks once per new and per resolved drift, and serves a dashboard, a JSON status
and Prometheus metrics on 127.0.0.1.

- `settings`: what the spec's `watch:` block and the command line ask for;
- `ledger`: which drift is current, so that each is announced once and its end once;
- `cycle`: one run (observe, classify, remediate what it may) as a value;
- `loop`: the cadences, the wake-ups and the clean stop;
- `status`, `metrics`, `dashboard`, `server`: what the service shows;
- `notices`: webhook bodies, delivered in the background with retries.

May import the engine, the report and the state; not the CLI.
"""
