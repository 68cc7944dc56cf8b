"""Monitoring commands: a live model's drift against the reference profile captured at
deploy. Each command parses, calls the SDK's public API (gp.get(...).drift()), and prints
the next step."""

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


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
