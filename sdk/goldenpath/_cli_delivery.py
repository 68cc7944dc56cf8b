"""Delivery commands: where a progressive rollout stands, and pause, resume, promote, abort.

Each command parses, calls the SDK's public API (gp.get(...).rollout()), and prints the
next step."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
Env = Annotated[str, typer.Option("--env", "-e", help="environment")]


def register(app: typer.Typer) -> None:
    """Add the delivery commands to the `goldenpath` CLI."""
    app.command()(rollout)
    app.command()(outcomes)


def parse_steps(text: str | None) -> list[int] | None:
    """`--steps 10,50,100` as percents."""
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give percents separated by commas, e.g. "
                                 "10,50,100") from None


def rollout(name: str, env: Env,
            pause: Annotated[bool, typer.Option("--pause", help="hold the current step")] = False,
            resume: Annotated[bool, typer.Option("--resume", help="go on")] = False,
            promote: Annotated[bool, typer.Option(
                "--promote", help="skip the remaining steps: all traffic to the candidate")
            ] = False,
            abort: Annotated[bool, typer.Option(
                "--abort", help="all traffic back to the stable release")] = False,
            comment: Annotated[str, typer.Option(help="why (kept in the audit trail)")] = ""
            ) -> None:
    """Show the progressive rollout of NAME in --env (canary, shadow, blue-green,
    champion-challenger), or act on it."""
    import goldenpath as gp

    actions = [a for a, on in (("pause", pause), ("resume", resume), ("promote", promote),
                               ("abort", abort)) if on]
    if len(actions) > 1:
        raise typer.BadParameter("give one of --pause, --resume, --promote, --abort")
    r = gp.get(name, env).rollout()
    if actions:
        getattr(r, actions[0])(comment)
    s = r.state
    console.print(f"[bold]{s.strategy}[/] of {s.service} v{s.candidate_version} in "
                  f"{s.environment} (stable v{s.stable_version}): [bold]{s.state}[/], "
                  f"{s.weight:.0%} of requests to the candidate"
                  + (", every request mirrored to it" if s.mirror else ""))
    console.print(s.message)
    if s.preview_url:
        console.print(f"preview: {s.preview_url}")
    if s.windows:
        table = Table("step", "weight", "stable req", "cand. req", "cand. errors",
                      "p99 stable/cand. ms", "agreement", "verdict")
        for w in s.windows[-10:]:
            p99 = (w.stable.latency_ms.p99, w.candidate.latency_ms.p99)
            table.add_row(str(w.step + 1), f"{w.weight:.0%}", str(w.stable.requests),
                          str(w.candidate.requests), str(w.candidate.errors),
                          " / ".join("–" if v is None else f"{v:.0f}" for v in p99),
                          "–" if w.paired.agreement is None else f"{w.paired.agreement:.1%}",
                          w.verdict + (f": {'; '.join(w.reasons)}" if w.reasons else ""))
        console.print(table)
    if s.state == "paused":
        console.print(f"next: goldenpath rollout {name} --env {env} --resume | --promote | "
                      "--abort")


def outcomes(name: str, env: Env,
             file: Annotated[Path, typer.Argument(
                 help="CSV with the columns request_id and value (the true label or number)",
                 exists=True, dir_okay=False, readable=True)]) -> None:
    """Send ground truth for earlier answers of NAME in --env (by their X-Request-Id): each
    variant of the running rollout is scored on it (accuracy, AUC, RMSE)."""
    import goldenpath as gp

    with file.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"request_id", "value"} - set(reader.fieldnames or [])
        if missing:
            raise typer.BadParameter(f"{file} lacks the column(s) {', '.join(sorted(missing))}"
                                     ": give a header line request_id,value")
        pairs = [(row["request_id"], _value(row["value"])) for row in reader]
    if not pairs:
        raise typer.BadParameter(f"{file} has no rows after its header")
    receipt = gp.get(name, env).rollout().send_outcomes(pairs)
    console.print(f"{receipt.matched} of {receipt.sent} outcomes matched answers "
                  f"({receipt.unknown} request ids not remembered)")
    table = Table("variant", "outcomes", "accuracy", "AUC", "RMSE")
    for variant, m in receipt.ground_truth.items():
        table.add_row(variant, str(m.outcomes), *("–" if v is None else f"{v:.4g}"
                                                  for v in (m.accuracy, m.auc, m.rmse)))
    console.print(table)


def _value(text: str) -> Any:
    """A CSV cell as the model would have answered it: an int, a float, or the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
