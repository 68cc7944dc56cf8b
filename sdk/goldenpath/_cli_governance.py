"""Governance commands: approvals, policies, evidence, inventory, audit, users and tokens.

Each command parses, calls the server through the SDK's client, and prints the next step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
Env = Annotated[str, typer.Option("--env", "-e", help="environment")]
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their roles per team (admin).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (admin); only their hashes are stored.",
                         no_args_is_help=True)


def _client() -> Any:
    from goldenpath._deploy import client

    return client()


def register(app: typer.Typer) -> None:
    """Add the governance commands to the `goldenpath` CLI."""
    for command in (approvals, approve, reject, policies, evidence, card, inventory, whoami):
        app.command(command.__name__.replace("whoami", "me"))(command)
    app.add_typer(audit_app, name="audit")
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")


def print_policy_results(results: list[dict[str, Any]]) -> None:
    table = Table("policy", "track", "action", "result", "how to fix")
    for r in results:
        mark = "[green]pass[/]" if r["passed"] else (
            "[red]FAIL[/]" if r["action"] == "enforce" else "[yellow]warn[/]")
        table.add_row(r["name"], r["track"], r["action"], mark,
                      "" if r["passed"] else f"{r.get('message', '')}\n{r.get('hint', '')}")
    console.print(table)


def approvals(service: Annotated[str | None, typer.Option(help="only this service")] = None
              ) -> None:
    """List the promotions waiting for approval."""
    found = _client().request("GET", "/api/v1/promotions", params={
        "status": "waiting_for_approval", **({"service": service} if service else {})})
    table = Table("service", "version", "environment", "requested by", "approvals", "policies")
    for p in found["promotions"]:
        table.add_row(p["service"], f"v{p['release_version']}", p["environment"],
                      p["requested_by"], f"{len(p['approvals'])}/{p['required_approvals']}",
                      p["policy_outcome"])
    console.print(table)
    if found["promotions"]:
        console.print("approve one: goldenpath approve SERVICE --env ENV --comment '...'")


def approve(name: str, env: Env,
            comment: Annotated[str, typer.Option(help="why")] = "") -> None:
    """Approve the release of NAME waiting in --env (not your own: four eyes)."""
    import goldenpath as gp

    result = gp.approve(name, env, comment)
    if isinstance(result, gp.Promotion):
        console.print(f"approved; {name} still waits for "
                      f"{result._info['required_approvals'] - len(result.approvals)} more")
    else:
        console.print(f"[green]live[/] {name} v{result.version} in {env}: {result.url}")


def reject(name: str, env: Env,
           comment: Annotated[str, typer.Option(help="why (shown to the submitter)")] = ""
           ) -> None:
    """Reject the release of NAME waiting in --env."""
    import goldenpath as gp

    gp.approve(name, env, comment, reject=True)
    console.print(f"[red]rejected[/] {name} for {env}")


def policies(name: str, env: Env,
             source: Annotated[str, typer.Option("--from", help="where the release runs")]
             = "dev") -> None:
    """Check what --env's policies say about the release running in --from."""
    import goldenpath as gp

    result = gp.get(name, source).policies(env)
    console.print(f"[bold]{name}[/] → {env}: {result['outcome']}")
    print_policy_results(result["results"])


def evidence(name: str, env: Annotated[str, typer.Option("--env", "-e")] = "dev",
             test_report: Annotated[str, typer.Option(help="test report URL")] = "",
             review: Annotated[str, typer.Option(help="review URL")] = "") -> None:
    """Show the evidence of the release in --env, or attach a test report / review."""
    import json

    import goldenpath as gp

    d = gp.get(name, env)
    attach = {k: v for k, v in (("test_report", test_report), ("review", review)) if v}
    found = (d._client.attach_evidence(d.release_id, attach) if attach else d.evidence())
    shown = {k: v for k, v in found.items() if k not in ("card", "card_draft")}
    console.print_json(json.dumps(shown, default=str))


def card(name: str, env: Annotated[str, typer.Option("--env", "-e")] = "dev",
         set_: Annotated[Path | None, typer.Option("--set", help="attach this Markdown file")]
         = None) -> None:
    """Print the model card of the release in --env, or attach one with --set FILE."""
    import goldenpath as gp

    d = gp.get(name, env)
    if set_ is not None:
        d.card = set_.read_text()
        console.print(f"attached {set_} as the model card of {name} v{d.version}")
    else:
        print(d.card)


def inventory(env: Annotated[str | None, typer.Option("--env", "-e")] = None,
              csv: Annotated[Path | None, typer.Option(help="write CSV here")] = None) -> None:
    """What runs where, since when, approved by whom, on what evidence."""
    c = _client()
    params = {"environment": env} if env else {}
    if csv is not None:
        response = c.http.get(f"{c.base}/api/v1/inventory.csv", params=params, timeout=60)
        if response.status_code >= 400:
            c.request("GET", "/api/v1/inventory.csv", params=params)  # raises the error
        csv.write_bytes(response.content)
        console.print(f"wrote {csv}")
        return
    table = Table("environment", "service", "kind", "version", "digest", "since",
                  "approved by", "status")
    for item in c.pages("/api/v1/inventory", "inventory", params):
        table.add_row(item["environment"], item["service"], item["kind"],
                      f"v{item['version']}", item["digest"][:19] + "…", item["since"][:19],
                      ", ".join(item["approved_by"]) or "-", item["status"])
    console.print(table)


def whoami() -> None:
    """Who the server thinks you are, and your roles."""
    me = _client().request("GET", "/api/v1/me")
    roles = ", ".join(f"{role} of {team}" for team, role in me["roles"].items()) or "no roles"
    console.print(f"{me['user']}: {roles}")


@audit_app.command("verify")
def audit_verify(head: Annotated[list[str] | None, typer.Option(
        help="SEQ:HASH printed by an earlier verify, kept outside the database: the chain "
             "must still hold it")] = None) -> None:
    """Recompute the audit hash chain and re-hash the rows it covers (releases, evidence,
    promotions, approvals, deployments, access); exit 1 naming each edited row."""
    result = _client().request("GET", "/api/v1/audit/verify", params={"head": head or []})
    if result["ok"]:
        console.print(f"[green]audit trail intact[/]: {result['events']} events and "
                      f"{result.get('rows', 0)} rows, head "
                      f"{result['head']['seq']}:{result['head']['hash']}")
        console.print("keep that head outside the database (--head it later) to detect a "
                      "rewritten chain")
        return
    console.print(f"[red]audit trail broken[/]: {len(result['problems'])} problem(s)")
    for problem in result["problems"]:
        where = (f"{problem['table']} row {problem['row']}" if "table" in problem
                 else f"event {problem['seq']} (id {problem['id']})")
        console.print(f"  {where}: {problem['problem']}", highlight=False)
    raise typer.Exit(1)


@audit_app.command("log")
def audit_log(service: Annotated[str | None, typer.Option(help="only this service")] = None,
              limit: Annotated[int, typer.Option(help="how many")] = 50) -> None:
    """The latest audit events: who did what, when."""
    params: dict[str, Any] = {"limit": limit, **({"service": service} if service else {})}
    for e in _client().request("GET", "/api/v1/events", params=params)["events"]:
        if e["type"] != "rollout_progress":
            console.print(f"{e['seq']:>6} {e['at'][:19]} {e['actor'] or '-':<14} "
                          f"{e['type']:<20} {e['message']}", highlight=False)


@users_app.command("ls")
def users_ls() -> None:
    """Users, their roles per team and their tokens."""
    table = Table("user", "roles", "tokens")
    for u in _client().request("GET", "/api/v1/users")["users"]:
        table.add_row(u["name"], ", ".join(f"{t}:{r}" for t, r in u["roles"].items()),
                      ", ".join(t["id"] + (" (revoked)" if t["revoked"] else "")
                                for t in u["tokens"]))
    console.print(table)


@users_app.command("grant")
def users_grant(user: str, team: Annotated[str, typer.Option(help="team, or * for all")],
                role: Annotated[str, typer.Option(help="viewer|submitter|approver|admin")]
                ) -> None:
    """Give USER a role in a team (creates the user)."""
    _client().request("PUT", f"/api/v1/users/{user}/roles", json={"team": team, "role": role})
    console.print(f"{user} is {role} of {team}; create a token: goldenpath tokens create {user}")


@users_app.command("revoke")
def users_revoke(user: str, team: Annotated[str, typer.Option(help="team")]) -> None:
    """Remove USER's role in a team."""
    _client().request("DELETE", f"/api/v1/users/{user}/roles/{team}")
    console.print(f"{user} has no role in {team} any more")


@tokens_app.command("create")
def tokens_create(user: str, name: Annotated[str, typer.Option(help="label")] = "",
                  delegation: Annotated[bool, typer.Option(
                      help="for a service that signs users in and acts for them (the "
                           "Jupyter extension); creates USER as that service")] = False
                  ) -> None:
    """Create an API token for USER; it is shown once."""
    kind = "delegation" if delegation else "user"
    token = _client().request("POST", f"/api/v1/users/{user}/tokens",
                              json={"name": name, "kind": kind})
    label = "delegation token" if delegation else "token"
    console.print(f"{label} {token['id']} for {user} (shown once, store it now):")
    print(token["token"])


@tokens_app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    _client().request("DELETE", f"/api/v1/tokens/{token_id}")
    console.print(f"revoked {token_id}")
