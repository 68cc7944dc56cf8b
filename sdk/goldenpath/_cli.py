"""The `goldenpath` command: each command parses, calls one SDK function, prints the next step.

Deployment commands are here; the server's own commands in _cli_server.py; governance in
_cli_governance.py. Every error is one line (and its hint): a GoldenpathError as the
server or SDK said it, a file that cannot be read with its path."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from goldenpath._cli_delivery import parse_steps
from goldenpath._cli_delivery import register as register_delivery
from goldenpath._cli_governance import print_policy_results
from goldenpath._cli_governance import register as register_governance
from goldenpath._cli_monitoring import register as register_monitoring
from goldenpath._cli_server import server_app
from goldenpath.errors import GoldenpathError, InvalidInput

app = typer.Typer(help="goldenpath: notebook models to production on the governed path.",
                  no_args_is_help=True, add_completion=False)
release_app = typer.Typer(help="Create releases without deploying them.", no_args_is_help=True)
app.add_typer(release_app, name="release")
app.add_typer(server_app, name="server")
console = Console()
Env = Annotated[str | None, typer.Option("--env", "-e", help="environment (default: dev)")]
Team = Annotated[str, typer.Option(help="owning team")]
Cpu = Annotated[float, typer.Option(help="CPU cores it needs")]
Memory = Annotated[float, typer.Option(help="memory it needs (GB)")]
Replicas = Annotated[int, typer.Option(help="replicas (Kubernetes)")]


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """NAME=VALUE options as a dict (InvalidInput naming the one that is not)."""
    pairs = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--{what} {value!r} is not NAME=VALUE",
                               f"e.g. --{what} accuracy=0.93" if what == "metric"
                               else f"e.g. --{what} train=train.csv")
        pairs[name] = rest
    return pairs


def _metrics(values: list[str] | None) -> dict[str, float] | None:
    try:
        return {k: float(v) for k, v in _pairs(values, "metric").items()} or None
    except ValueError:
        raise InvalidInput(f"--metric needs numbers: {values}", "e.g. --metric accuracy=0.93"
                           ) from None


def _resources(cpu: float, memory_gb: float, replicas: int = 0) -> dict[str, float] | None:
    resources = {k: v for k, v in (("cpu", cpu), ("memory_gb", memory_gb),
                                   ("replicas", replicas)) if v}
    return resources or None


@app.command()
def deploy(path: Annotated[Path, typer.Argument(help=".bento archive, bento folder, or a "
                                                     "pickled model file (with --sample)")],
           name: Annotated[str | None, typer.Option(help="service name")] = None,
           env: Env = None,
           sample: Annotated[Path | None, typer.Option(help="CSV/.npy/.json sample rows, "
                                                             "for a model file")] = None,
           team: Team = "", cpu: Cpu = 0.0, memory_gb: Memory = 0.0,
           metric: Annotated[list[str] | None, typer.Option(
               help="NAME=VALUE measured on held-out data (repeat it)")] = None,
           data: Annotated[list[str] | None, typer.Option(
               help="NAME=FILE of the data it was trained or evaluated on: fingerprinted "
                    "(repeat it)")] = None,
           card: Annotated[Path | None, typer.Option(help="model card (Markdown file)")] = None
           ) -> None:
    """Deploy a bundle or a saved model and wait until it is live.

    --metric, --data and --card are the evidence environments' policies ask for, as with
    gp.deploy."""
    import goldenpath as gp
    from goldenpath._cli_inputs import export_bento_dir, load_model_file, load_sample

    resources = _resources(cpu, memory_gb)
    evidence: dict[str, Any] = {"metrics": _metrics(metric),
                                "data": {k: Path(v) for k, v in _pairs(data, "data").items()}
                                or None, "card": card.read_text() if card else None}
    for file in (evidence["data"] or {}).values():
        file.stat()  # a missing file: one line with its path (see main)
    if path.is_dir():
        archive, default = export_bento_dir(path)
        d = gp.deploy_archive(archive, name=name or default, env=env, team=team,
                              resources=resources, **evidence)
    elif path.suffix == ".bento":
        path.stat()
        d = gp.deploy_archive(path, name=name or path.stem.split("-")[0], env=env, team=team,
                              resources=resources, **evidence)
    else:
        if sample is None:
            raise InvalidInput(f"{path} is a model file: goldenpath needs sample rows to infer "
                               "its schema", "pass --sample X_test.csv (or .npy / .json)")
        d = gp.deploy(load_model_file(path), name=name or path.stem, sample=load_sample(sample),
                      env=env, team=team, resources=resources, **evidence)
    if isinstance(d, gp.Promotion):
        console.print(f"[yellow]waiting for approval[/] in {d.environment}: an approver runs "
                      f"goldenpath approve {d.service} --env {d.environment}")
        return
    console.print(f"[green]live[/] {d.name} v{d.version} in {d.environment}: [bold]{d.url}[/]")
    console.print(f"try it: curl -X POST {d.url}/predict -H 'Content-Type: application/json' "
                  "-d '{\"inputs\": [...]}'", highlight=False)


@app.command("ls")
def list_services() -> None:
    """List services and where they run."""
    import goldenpath as gp

    table = Table()
    table.add_column("service", no_wrap=True)  # names and URLs get copied: never cut them
    for header in ("kind", "team", "env", "version", "status"):
        table.add_column(header)
    table.add_column("endpoint", no_wrap=True, min_width=24)
    for svc in gp.list():
        for dep in svc["deployments"] or [{}]:
            table.add_row(svc["name"], svc["kind"], svc["team"] or "-",
                          dep.get("environment", "-"),
                          f"v{dep['release_version']}" if dep else "-", dep.get("status", "-"),
                          dep.get("url", ""))
    console.print(table)


@app.command()
def status(name: str, env: Env = None) -> None:
    """Show a deployment's status, its rollouts and its recent events in that environment."""
    import goldenpath as gp

    d = gp.get(name, env)
    info = d.status()
    console.print(f"[bold]{name}[/] in {info['environment']}: {info['status']} "
                  f"v{info['release_version']} {info['url']}")
    if info["message"]:
        console.print(f"  {info['message']}", highlight=False)
    if info.get("drift"):
        drifted = f" ({', '.join(info['drifted'])})" if info.get("drifted") else ""
        console.print(f"  drift: {info['drift']}{drifted}: goldenpath drift {name} --env "
                      f"{info['environment']}", highlight=False)
    history = d.history()[:10]
    if history:
        console.print("rollouts (newest first; `goldenpath rollback --to VERSION` restores one "
                      "that succeeded):")
        for r in history:
            console.print(f"  [dim]{r['started_at'][:19]}[/] v{r['release_version']} "
                          f"{r['reason']} by {r['started_by'] or '-'}: {r['status']}",
                          highlight=False)
    for event in d.events()[-10:]:
        console.print(f"  [dim]{event['at'][:19]}[/] {event['type']}: {event['message']}",
                      highlight=False)


@app.command()
def logs(name: str, env: Env = None,
         tail: Annotated[int, typer.Option(help="lines")] = 100) -> None:
    """Print the last log lines of a deployment (of its failed attempt, after one)."""
    import goldenpath as gp

    lines = gp.get(name, env).logs(tail)
    print(lines or f"(no log lines for {name} yet)")


@app.command()
def promote(name: str, to: Annotated[str, typer.Option("--to", help="target environment")],
            env: Annotated[str, typer.Option("--from", help="source environment")] = "dev",
            strategy: Annotated[str | None, typer.Option(
                help="rolling, blue-green, canary, shadow or champion-challenger (default: "
                     "the environment's)")] = None,
            steps: Annotated[str | None, typer.Option(
                help="canary traffic steps in percent, e.g. 10,50,100")] = None,
            wait: Annotated[bool, typer.Option(help="wait until it is live")] = True
            ) -> None:
    """Promote the release running in --from to --to (same bytes, no rebuild)."""
    import goldenpath as gp

    d = gp.get(name, env).promote(to, wait=wait, strategy=strategy, steps=parse_steps(steps))
    if isinstance(d, gp.Promotion):
        console.print(f"[yellow]waiting for approval[/]: {name} v{d.version} "
                      f"→ {to} needs {d.required_approvals} approval(s)")
        console.print(f"an approver runs: goldenpath approve {name} --env {to}")
        return
    if d.unchanged:
        console.print(d.message)
        return
    if d.state.progression in ("starting", "progressing", "paused"):
        console.print(f"[yellow]{d.state.strategy} {d.state.progression}[/]: {d.name} "
                      f"v{d.version} in {d.environment}; follow it: goldenpath rollout "
                      f"{d.name} --env {d.environment}")
        return
    console.print(f"[green]live[/] {d.name} v{d.version} in {d.environment}: {d.url}")


@app.command()
def rollback(name: str, env: Env = None,
             to: Annotated[int | None, typer.Option(
                 help="the version to restore (default: the one live before the current one; "
                      "each rollback goes one further back)")] = None) -> None:
    """Put an earlier release back (no rebuild)."""
    import goldenpath as gp

    before = gp.get(name, env).version
    d = gp.rollback(name, env, to=to)
    console.print(f"[green]rolled back[/] {d.name} in {d.environment} from v{before} to "
                  f"v{d.version}")


@app.command()
def delete(name: str, env: Annotated[str, typer.Option("--env", "-e", help="environment")]
           ) -> None:
    """Take NAME out of --env (its releases stay, to promote or roll back to).

    Its process, or every Kubernetes object its rollouts made, goes."""
    import goldenpath as gp

    gp.get(name, env).delete()
    console.print(f"removed {name} from {env}")


@app.command()
def export(name: str, env: Env = None,
           output: Annotated[Path | None, typer.Option(
               "--output", "-o", help="where to write it (default NAME.bento)")] = None
           ) -> None:
    """Write the exact bundle NAME runs in --env (digest checked), for stock BentoML."""
    import goldenpath as gp

    d = gp.get(name, env)
    path = d.export(output or Path(f"{name}.bento"))
    console.print(f"wrote {path} ({d.status()['digest']})")
    console.print(f"serve it with stock BentoML: mkdir {name} && tar -xf {path} -C {name} && "
                  f"pip install -r {name}/env/python/requirements.txt && bentoml serve {name}",
                  highlight=False)


@app.command()
def team(name: str, set_: Annotated[str | None, typer.Option(
        "--set", help="the team to give the service to (admins)")] = None) -> None:
    """Show the team owning NAME, or give it to another team with --set."""
    import goldenpath as gp

    if set_ is not None:
        svc = gp.set_team(name, set_)
        console.print(f"{name} now belongs to team {svc['team'] or '(none)'}")
        return
    found = next((s for s in gp.list() if s["name"] == name), None)
    if found is None:
        raise InvalidInput(f"no service named {name!r}", "list services with `goldenpath ls`")
    console.print(f"{name} belongs to team {found['team'] or '(none)'}")


@release_app.command("app")
def release_app_cmd(name: Annotated[str, typer.Option(help="service name")],
                    image: Annotated[str, typer.Option(help="REGISTRY/IMG@sha256:...")],
                    port: Annotated[int, typer.Option(help="container port")] = 8080,
                    team: Team = "", cpu: Cpu = 0.0, memory_gb: Memory = 0.0,
                    replicas: Replicas = 0,
                    test_report: Annotated[str, typer.Option(help="test report URL")] = "",
                    review: Annotated[str, typer.Option(help="review URL")] = "",
                    env: Env = None) -> None:
    """Create an app release from a pinned image digest, and deploy it with --env."""
    import goldenpath as gp

    result = gp.release_app(name, image, port=port, team=team,
                            resources=_resources(cpu, memory_gb, replicas), env=env,
                            test_report=test_report, review=review)
    if isinstance(result, gp.Promotion):
        console.print(f"[yellow]waiting for approval[/] in {env}: an approver runs "
                      f"goldenpath approve {name} --env {env}")
    elif isinstance(result, gp.Deployment):
        console.print(f"[green]live[/] {name} v{result.version} in {env}: {result.url}")
    else:
        console.print(f"created {name} v{result['version']} ({result['id']}); deploy it: "
                      f"goldenpath promote {name} ... or release app ... --env ENV")


register_governance(app)
register_delivery(app)
register_monitoring(app)


def main() -> None:
    err = Console(stderr=True)
    try:
        app()
    except GoldenpathError as exc:
        err.print(f"[red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err.print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
        if isinstance(exc.details, dict) and "results" in exc.details:
            print_policy_results(exc.details["results"])
        elif exc.details:
            err.print(json.dumps(exc.details, indent=2)[:3000], highlight=False)
        sys.exit(1)
    except OSError as exc:  # a file a command was given: one line, with its path
        if exc.filename is None:
            raise
        err.print(f"[red]error:[/] cannot read {exc.filename}: {exc.strerror}",
                  highlight=False)
        sys.exit(1)
