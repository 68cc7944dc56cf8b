"""Monitoring commands: a live model's drift against the reference profile captured at
deploy, and the platform's delivery figures. Each command parses, calls the SDK's public API
(gp.get(...).drift(), gp.figures()), and prints the next step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
Env = Annotated[str, typer.Option("--env", "-e", help="environment")]
_STYLE = {"drift": "bold red", "ok": "green"}


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to the `goldenpath` CLI."""
    app.command()(drift)
    app.command()(figures)


def drift(name: str, env: Env,
          report: Annotated[Path | None, typer.Option(
              help="write the newest window's HTML report (a plot per feature) here")] = None,
          windows: Annotated[int, typer.Option(min=1, max=500,
                                               help="windows listed, newest first")] = 5
          ) -> None:
    """Drift of NAME's live inputs and predictions in --env against the training data's
    profile, per window of logged requests."""
    import goldenpath as gp

    d = gp.get(name, env)
    s = d.drift(windows)
    console.print(f"[bold]{s.service}[/] in {s.environment}: "
                  f"[{_STYLE.get(s.status, 'bold')}]{s.status}[/] "
                  f"({s.logged_requests} requests logged, {s.sample:.0%} sampled, windows of "
                  f"{s.window_rows} rows)")
    if s.latest is None:
        console.print("no window judged yet: it is judged once it holds its rows"
                      if s.status == "waiting" else "the environment logs no requests "
                      "(monitoring.sample: 0 in its config)")
        return
    if s.latest.message:
        console.print(s.latest.message)
    table = Table("feature", "kind", "test", "score", "threshold", "drifted",
                  title=f"window {s.latest.id}: {s.latest.rows} rows, {s.latest.at}")
    for c in s.latest.columns:
        table.add_row(c.name, c.kind, c.method, _number(c.score if c.p_value is None
                                                        else c.p_value),
                      _number(c.threshold), "[bold red]yes[/]" if c.drifted else "no")
    console.print(table)
    for w in s.windows[1:]:
        console.print(f"  window {w.id}: {w.status}"
                      + (f" ({', '.join(w.drifted)})" if w.drifted else ""))
    if report is not None:
        d.drift_report(report, window=s.latest.id)
        console.print(f"report written to {report}")
    elif s.status == "drift":
        console.print(f"see the plots: goldenpath drift {name} --env {env} --report drift.html")


def figures(as_json: Annotated[bool, typer.Option("--json", help="the API's document")] = False
            ) -> None:
    """The platform's delivery figures by track (model, app): change failure rate per
    environment, lead time, validation to production, time to restore, production releases
    per service, model autonomy and governance compliance."""
    import goldenpath as gp

    f = gp.figures()
    if as_json:
        print(f.model_dump_json(indent=2))
        return
    console.print(f"[bold]figures[/] (production: {f.production}, audit events up to "
                  f"{f.last_event_id})")
    table = Table("track", "environment", "rollouts", "rollbacks", "failed", "aborted",
                  "change failure rate", title="changes")
    for c in f.change_failure:
        table.add_row(c.track, c.environment, str(c.rollouts_started), str(c.rollbacks),
                      str(c.failed_rollouts), str(c.aborted_rollouts), f"{c.rate:.0%}")
    console.print(table)
    durations = Table("track", "figure", "observed", "mean", title="durations")
    for label, rows in (("validation to production", f.validation_to_production),
                        ("lead time", f.lead_time), ("time to restore", f.time_to_restore)):
        for d in rows:
            durations.add_row(d.track, label, str(d.count), duration(d.mean_seconds))
    console.print(durations)
    releases = Table("track", "service", "production releases", title="update frequency")
    for r in f.production_releases:
        releases.add_row(r.track, r.service, str(r.releases))
    console.print(releases)
    a = f.model_autonomy
    console.print(f"model autonomy: {a.autonomous} of {a.releases} production model releases"
                  + (f" ({a.ratio:.0%})" if a.ratio is not None else ""))
    for g in f.governance_compliance:
        console.print(f"governance compliance ({g.track}): {g.compliant} of "
                      f"{g.production_rollouts} production rollouts ({g.ratio:.0%})")


def duration(seconds: float | None) -> str:
    """`seconds` in the largest unit that keeps it readable ("-" when none)."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
