"""Governance commands: approvals, policies, evidence, inventory, audit, users and tokens.

Each command parses, calls the SDK's public API (gp.*, gp.admin.*), and prints the next
step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from goldenpath_api.rules import ROLES

console = Console()
Env = Annotated[str, typer.Option("--env", "-e", help="environment")]
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their roles per team (admin).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (admin); only their hashes are stored.",
                         no_args_is_help=True)


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
    import goldenpath as gp

    found = gp.approvals(service)
    table = Table("service", "version", "environment", "requested by", "approvals", "policies")
    for p in found:
        table.add_row(p.service, f"v{p.version}", p.environment, p.requested_by,
                      f"{len(p.approvals)}/{p.required_approvals}", p.policy_outcome)
    console.print(table)
    if found:
        console.print("approve one: goldenpath approve SERVICE --env ENV --comment '...'")


def approve(name: str, env: Env,
            comment: Annotated[str, typer.Option(help="why")] = "") -> None:
    """Approve the release of NAME waiting in --env (not your own: four eyes)."""
    import goldenpath as gp

    result = gp.approve(name, env, comment)
    if isinstance(result, gp.Promotion):
        console.print(f"approved; {name} still waits for {result.approvals_missing} more")
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
    found = d.attach_evidence(**attach) if attach else d.evidence()
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
    import goldenpath as gp

    if csv is not None:
        console.print(f"wrote {gp.export_inventory(csv, env)}")
        return
    table = Table("environment", "service", "kind", "version", "digest", "since",
                  "approved by", "status")
    for item in gp.inventory(env):
        table.add_row(item["environment"], item["service"], item["kind"],
                      f"v{item['version']}", item["digest"][:19] + "…", item["since"][:19],
                      ", ".join(item["approved_by"]) or "-", item["status"])
    console.print(table)


def whoami() -> None:
    """Who the server thinks you are, and your roles."""
    import goldenpath as gp

    me = gp.whoami()
    roles = ", ".join(f"{role} of {team}" for team, role in me["roles"].items()) or "no roles"
    console.print(f"{me['user']}: {roles}")


@audit_app.command("verify")
def audit_verify(head: Annotated[list[str] | None, typer.Option(
        help="SEQ:HASH printed by an earlier verify, kept outside the database: the chain "
             "must still hold it")] = None) -> None:
    """Recompute the audit hash chain and re-hash the rows it covers (releases, evidence,
    promotions, approvals, deployments, access); exit 1 naming each edited row."""
    import goldenpath as gp

    result = gp.verify_audit(head)
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
    import goldenpath as gp

    for e in gp.audit_log(service, limit):
        if e["type"] != "rollout_progress":
            console.print(f"{e['seq']:>6} {e['at'][:19]} {e['actor'] or '-':<14} "
                          f"{e['type']:<20} {e['message']}", highlight=False)


@users_app.command("ls")
def users_ls() -> None:
    """Users, their roles per team and their tokens."""
    import goldenpath as gp

    table = Table("user", "roles", "tokens")
    for u in gp.admin.users():
        table.add_row(u["name"], ", ".join(f"{t}:{r}" for t, r in u["roles"].items()),
                      ", ".join(t["id"] + (" (revoked)" if t["revoked"] else "")
                                for t in u["tokens"]))
    console.print(table)


@users_app.command("grant")
def users_grant(user: str, team: Annotated[str, typer.Option(help="team, or * for all")],
                role: Annotated[str, typer.Option(help="|".join(ROLES))]) -> None:
    """Give USER a role in a team (creates the user)."""
    import goldenpath as gp

    gp.admin.grant(user, team, role)
    console.print(f"{user} is {role} of {team}; create a token: goldenpath tokens create {user}")


@users_app.command("revoke")
def users_revoke(user: str, team: Annotated[str, typer.Option(help="team")]) -> None:
    """Remove USER's role in a team."""
    import goldenpath as gp

    gp.admin.revoke(user, team)
    console.print(f"{user} has no role in {team} any more")


@tokens_app.command("create")
def tokens_create(user: str, name: Annotated[str, typer.Option(help="label")] = "",
                  delegation: Annotated[bool, typer.Option(
                      help="for a service that signs users in and acts for them (the "
                           "Jupyter extension); creates USER as that service")] = False
                  ) -> None:
    """Create an API token for USER; it is shown once."""
    import goldenpath as gp

    token = gp.admin.create_token(user, name, delegation=delegation)
    label = "delegation token" if delegation else "token"
    console.print(f"{label} {token['id']} for {user} (shown once, store it now):")
    print(token["token"])


@tokens_app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    import goldenpath as gp

    gp.admin.revoke_token(token_id)
    console.print(f"revoked {token_id}")
