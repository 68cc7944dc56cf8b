"""The `goldenpath` command: each command parses, calls one SDK/server function, prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from goldenpath._cli_governance import print_policy_results
from goldenpath._cli_governance import register as register_governance
from goldenpath.errors import GoldenpathError, InvalidInput

app = typer.Typer(help="goldenpath: notebook models to production on the governed path.",
                  no_args_is_help=True, add_completion=False)
release_app = typer.Typer(help="Create releases without deploying them.", no_args_is_help=True)
app.add_typer(release_app, name="release")
console = Console()
Env = Annotated[str | None, typer.Option("--env", "-e", help="environment (default: dev)")]


@app.command()
def server(host: Annotated[str, typer.Option(help="interface to listen on")] = "",
           port: Annotated[int, typer.Option(help="port to listen on")] = 0,
           home: Annotated[Path | None, typer.Option(help="state folder")] = None) -> None:
    """Run the promotion server (SQLite + local process target unless configured)."""
    from goldenpath_server import Settings, serve

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    if home:
        overrides["home"] = home
    serve(Settings(**overrides))


@app.command()
def deploy(path: Annotated[Path, typer.Argument(help=".bento archive, bento folder, or a "
                                                     "pickled model file (with --sample)")],
           name: Annotated[str | None, typer.Option(help="service name")] = None,
           env: Env = None,
           sample: Annotated[Path | None, typer.Option(help="CSV/.npy/.json sample rows, "
                                                             "for a model file")] = None,
           team: Annotated[str, typer.Option(help="owning team")] = "",
           cpu: Annotated[float, typer.Option(help="CPU cores it needs")] = 0.0,
           memory_gb: Annotated[float, typer.Option(help="memory it needs (GB)")] = 0.0
           ) -> None:
    """Deploy a bundle or a saved model and wait until it is live."""
    import goldenpath as gp
    from goldenpath._cli_inputs import export_bento_dir, load_model_file, load_sample

    resources = {"cpu": cpu, "memory_gb": memory_gb} if cpu or memory_gb else None
    if path.is_dir():
        archive, default = export_bento_dir(path)
        d = gp.deploy_archive(archive, name=name or default, env=env, team=team,
                              resources=resources)
    elif path.suffix == ".bento":
        d = gp.deploy_archive(path, name=name or path.stem.split("-")[0], env=env, team=team,
                              resources=resources)
    else:
        if sample is None:
            raise InvalidInput(f"{path} is a model file: goldenpath needs sample rows to infer "
                               "its schema", "pass --sample X_test.csv (or .npy / .json)")
        d = gp.deploy(load_model_file(path), name=name or path.stem, sample=load_sample(sample),
                      env=env, team=team, resources=resources)
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
    for header in ("kind", "env", "version", "status"):
        table.add_column(header)
    table.add_column("endpoint", no_wrap=True, min_width=24)
    for svc in gp.list():
        for dep in svc["deployments"] or [{}]:
            table.add_row(svc["name"], svc["kind"], dep.get("environment", "-"),
                          f"v{dep['release_version']}" if dep else "-", dep.get("status", "-"),
                          dep.get("url", ""))
    console.print(table)


@app.command()
def status(name: str, env: Env = None) -> None:
    """Show a deployment's status and recent events."""
    import goldenpath as gp

    d = gp.get(name, env)
    info = d.status()
    console.print(f"[bold]{name}[/] in {info['environment']}: {info['status']} "
                  f"v{info['release_version']} {info['url']}")
    if info["message"]:
        console.print(f"  {info['message']}")
    events = d._client.events(name)[-10:]
    for event in events:
        console.print(f"  [dim]{event['at'][:19]}[/] {event['type']}: {event['message']}",
                      highlight=False)


@app.command()
def logs(name: str, env: Env = None,
         tail: Annotated[int, typer.Option(help="lines")] = 100) -> None:
    """Print the last log lines of a deployment."""
    import goldenpath as gp

    print(gp.get(name, env).logs(tail))


@app.command()
def promote(name: str, to: Annotated[str, typer.Option("--to", help="target environment")],
            env: Annotated[str, typer.Option("--from", help="source environment")] = "dev"
            ) -> None:
    """Promote the release running in --from to --to (same bytes, no rebuild)."""
    import goldenpath as gp

    d = gp.get(name, env).promote(to)
    if isinstance(d, gp.Promotion):
        console.print(f"[yellow]waiting for approval[/]: {name} v{d._info['release_version']} "
                      f"→ {to} needs {d._info['required_approvals']} approval(s)")
        console.print(f"an approver runs: goldenpath approve {name} --env {to}")
        return
    console.print(f"[green]live[/] {d.name} v{d.version} in {d.environment}: {d.url}")


@app.command()
def rollback(name: str, env: Env = None) -> None:
    """Put the previous release back."""
    import goldenpath as gp

    d = gp.rollback(name, env)
    console.print(f"[green]rolled back[/] {d.name} to v{d.version} in {d.environment}")


@release_app.command("app")
def release_app_cmd(name: Annotated[str, typer.Option(help="service name")],
                    image: Annotated[str, typer.Option(help="REGISTRY/IMG@sha256:...")],
                    port: Annotated[int, typer.Option(help="container port")] = 8080,
                    team: Annotated[str, typer.Option(help="owning team")] = "",
                    env: Env = None) -> None:
    """Create an app release from a pinned image digest, and deploy it with --env."""
    from goldenpath._deploy import client

    c = client()
    release = c.request("POST", f"/api/v1/services/{name}/app-releases",
                        json={"image": image, "port": port, "team": team})
    console.print(f"created {name} v{release['version']} ({release['id']})")
    if env:
        after = c.last_event_id(name)
        if c.deploy(release["id"], env).get("status") == "waiting_for_approval":
            console.print(f"[yellow]waiting for approval[/] in {env}: an approver runs "
                          f"goldenpath approve {name} --env {env}")
            return
        info = c.wait(name, env, after=after)
        console.print(f"[green]live[/] {name} v{info['release_version']} in {env}")


register_governance(app)


def main() -> None:
    try:
        app()
    except GoldenpathError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            Console(stderr=True).print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
        if isinstance(exc.details, dict) and "results" in exc.details:
            print_policy_results(exc.details["results"])
        elif exc.details:
            Console(stderr=True).print(json.dumps(exc.details, indent=2)[:3000],
                                       highlight=False)
        sys.exit(1)
