"""`goldenpath server`: run the promotion server, or stop the one a state folder belongs to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

server_app = typer.Typer(help="Run the promotion server (SQLite + the local process target "
                              "unless configured), or stop it: goldenpath server stop.",
                         invoke_without_command=True)
console = Console()


def _home(home: Path | None) -> Path:
    return home or Path(os.environ.get("GOLDENPATH_HOME") or Path.home() / ".goldenpath")


@server_app.callback()
def server(ctx: typer.Context,
           host: Annotated[str | None, typer.Option(
               help="interface to listen on (default 127.0.0.1, or GOLDENPATH_HOST)")] = None,
           port: Annotated[int | None, typer.Option(
               help="port to listen on (default 8731, or GOLDENPATH_PORT)")] = None,
           home: Annotated[Path | None, typer.Option(
               help="state folder (default ~/.goldenpath, or GOLDENPATH_HOME)")] = None
           ) -> None:
    """Run the promotion server in the foreground."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        from goldenpath_server import Settings, serve
    except ImportError as exc:
        if not exc.name or exc.name.split(".")[0].startswith("goldenpath"):
            raise  # a broken install of ours, not a missing dependency: show it whole
        raise typer.BadParameter(
            f"the promotion server is not installed here (no module {exc.name})",
            param_hint="install it: pip install 'goldenpath[server]'") from None

    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port),
                                                   ("home", home)) if v is not None}
    serve(Settings(**overrides))


@server_app.command("stop")
def stop(home: Annotated[Path | None, typer.Option(
            help="the server's state folder (default ~/.goldenpath, or GOLDENPATH_HOME)")]
         = None,
         keep_models: Annotated[bool, typer.Option(
             help="leave the serving processes running (a restarted server adopts them)")]
         = False) -> None:
    """Stop the server whose state is in --home, and the serving processes it started."""
    import goldenpath as gp

    for what in gp.stop_server(_home(home), keep_models=keep_models):
        console.print(f"stopped {what}")
