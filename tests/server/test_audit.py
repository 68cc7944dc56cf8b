"""The audit chain: tampering with the database directly is detected (SQLite, PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text

from goldenpath_server import Platform
from goldenpath_server._access import Principal
from goldenpath_server._db import make_engine, migrate
from tests.server.conftest import make_platform, wait_until

IMAGE = "registry.example/audit@sha256:" + "c" * 64
ALICE = Principal("alice", {"shop": "submitter"})


def _history(platform: Platform, releases: int = 3) -> None:
    for _ in range(releases):
        release = platform.releases.create_app_release("audited", IMAGE, 80, actor=ALICE,
                                                       team="shop")
        platform.promotions.promote(release["id"], "dev", actor=ALICE)
        wait_until(lambda r=release: platform.rollouts.status("audited", "dev")["release_id"]
                   == r["id"]
                   and platform.rollouts.status("audited", "dev")["status"] == "live")


def _sql(platform: Platform, statement: str) -> None:
    """Tamper as someone with database access would: raw SQL, bypassing the platform."""
    with platform.store.engine.begin() as connection:
        connection.execute(text(statement))


def _problems(platform: Platform) -> list[str]:
    result = platform.oversight.verify_audit()
    assert result["ok"] is not bool(result["problems"])
    return [p["problem"] for p in result["problems"]]


def test_an_intact_chain_verifies(governed: Platform) -> None:
    _history(governed)
    result = governed.oversight.verify_audit()
    assert result["ok"] and result["events"] >= 9
    assert result["head"]["seq"] == result["events"] and len(result["head"]["hash"]) == 64


def test_an_edited_row_is_detected(governed: Platform) -> None:
    _history(governed)
    _sql(governed, "UPDATE events SET actor = 'nobody' WHERE seq = 4")
    assert _problems(governed) == ["content changed after it was written"]


def test_an_edited_message_with_a_recomputed_own_hash_breaks_the_next_link(
        governed: Platform) -> None:
    _history(governed)
    from goldenpath_server._audit import _FIELDS, event_hash
    from goldenpath_server._db import EventRow

    with governed.store.sessions() as db:  # read through the ORM, forge with raw SQL
        row = db.query(EventRow).filter(EventRow.seq == 2).one()
        forged = {k: getattr(row, k) for k in _FIELDS} | {"message": "nothing happened"}
    with governed.store.engine.begin() as connection:
        connection.execute(text("UPDATE events SET message = :m, hash = :h WHERE seq = 2"),
                           {"m": forged["message"], "h": event_hash(forged)})
    assert _problems(governed) == ["does not link to the event before it"]


def test_a_deleted_row_is_detected(governed: Platform) -> None:
    _history(governed)
    _sql(governed, "DELETE FROM events WHERE seq = 5")
    problems = _problems(governed)
    assert "events 5..5 are missing (deleted)" in problems
    assert "does not link to the event before it" in problems


def test_a_cut_tail_is_detected_by_the_head(governed: Platform) -> None:
    _history(governed)
    _sql(governed, "DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)")
    problems = _problems(governed)  # the rows that event recorded no longer match either
    assert any("events at the end were removed" in problem for problem in problems)


def test_cli_audit_verify_exits_1_on_tampering(tmp_path: Path) -> None:
    """`goldenpath audit verify` against a real server process whose database was edited."""
    from tests._servers import start_server

    server = start_server(tmp_path)
    try:
        env = {"GOLDENPATH_SERVER": server.url}
        import os

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "goldenpath", *args],
                                  capture_output=True, text=True, timeout=120,
                                  env={**os.environ, **env})

        assert cli("release", "app", "--name", "cli-audit", "--image", IMAGE).returncode == 0
        ok = cli("audit", "verify")
        assert ok.returncode == 0 and "audit trail intact" in ok.stdout
        engine = create_engine(f"sqlite:///{server.home / 'goldenpath.db'}")
        with engine.begin() as connection:
            connection.execute(text("UPDATE events SET message = 'edited' WHERE seq = 1"))
        engine.dispose()
        broken = cli("audit", "verify")
        assert broken.returncode == 1
        assert "event 1" in broken.stdout and "content changed" in broken.stdout
    finally:
        server.stop()


def test_events_from_before_the_chain_join_it_on_upgrade(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(
        Path(__import__("goldenpath_server").__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        for i in range(3):
            connection.execute(text(
                "INSERT INTO events (at, service, environment, release_id, type, message, data)"
                f" VALUES ('2026-01-0{i + 1} 10:00:00.000000', 'old', '', '', 'release_created',"
                f" 'old event {i}', '{{}}')"))
    migrate(engine)
    engine.dispose()
    platform = make_platform(tmp_path, f"sqlite:///{tmp_path / 'old.db'}")
    try:
        platform.releases.create_app_release("old", IMAGE, 80, actor="ci")
        result = platform.oversight.verify_audit()
        assert result["ok"] and result["events"] == 4
    finally:
        platform.close()


def test_inventory_is_a_fixed_number_of_queries(governed: Platform) -> None:
    """No N+1: the inventory of many services costs the same few queries as of one."""
    bob = Principal("bob", {"*": "approver"})
    for i in range(12):
        release = governed.releases.create_app_release(f"inv-{i}", IMAGE, 80, actor=ALICE,
                                                       team="shop",
                                              resources={"cpu": 1, "memory_gb": 1})
        governed.promotions.attach_evidence(release["id"], {"test_report": "r", "review": "r"},
                                 actor=ALICE)
        governed.promotions.promote(release["id"], "prod", actor=ALICE)
        governed.promotions.decide(release["id"], "prod", "approve", actor=bob)
    wait_until(lambda: all(r["status"] == "live" for r in governed.oversight.inventory("prod"))
               and len(governed.oversight.inventory("prod")) == 12)
    statements: list[str] = []
    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(governed.store.engine, "before_cursor_execute", record)
    rows = governed.oversight.inventory()
    event.remove(governed.store.engine, "before_cursor_execute", record)
    assert len(rows) == 12 and all(r["approved_by"] == ["bob"] for r in rows)
    assert len(statements) <= 3, statements


def _approved_prod(platform: Platform) -> dict[str, str]:
    """A release with evidence, promoted dev → prod with bob's approval."""
    bob = Principal("bob", {"shop": "approver"})
    release = platform.releases.create_app_release("covered", IMAGE, 80, actor=ALICE, team="shop",
                                          resources={"cpu": 0.5, "memory_gb": 1})
    platform.promotions.attach_evidence(release["id"], {"review": "https://git/pr/1",
                                             "test_report": "https://ci/1"}, actor=ALICE)
    platform.promotions.promote(release["id"], "dev", actor=ALICE)
    wait_until(lambda: platform.rollouts.status("covered", "dev")["status"] == "live")
    waiting = platform.promotions.promote(release["id"], "prod", actor=ALICE)
    platform.promotions.decide(release["id"], "prod", "approve", actor=bob, comment="looks fine")
    wait_until(lambda: platform.rollouts.status("covered", "prod")["status"] == "live")
    return {"release": release["id"], "promotion": waiting["id"]}


def test_the_rows_decisions_rest_on_are_covered(governed: Platform) -> None:
    _approved_prod(governed)
    result = governed.oversight.verify_audit()
    assert result["ok"], result["problems"]
    assert result["rows"] >= 8  # service, release, promotions, approval, deployments, ...


def test_edited_evidence_is_named(governed: Platform) -> None:
    ids = _approved_prod(governed)
    with governed.store.sessions.begin() as db:  # raise a metric behind the platform's back
        from goldenpath_server._db import ReleaseRow

        row = db.get(ReleaseRow, ids["release"])
        row.evidence = {**row.evidence, "review": "https://git/pr/forged"}
    [problem] = governed.oversight.verify_audit()["problems"]
    assert problem["table"] == "releases" and problem["row"] == ids["release"]
    assert "changed after the trail recorded it" in problem["problem"]


def test_an_edited_approval_and_promotion_are_named(governed: Platform) -> None:
    ids = _approved_prod(governed)
    _sql(governed, "UPDATE approvals SET \"user\" = 'ceo', comment = 'ok'")
    _sql(governed, f"UPDATE promotions SET requested_by = 'someone-else' "
                   f"WHERE id = '{ids['promotion']}'")
    problems = {p["table"]: p for p in governed.oversight.verify_audit()["problems"]}
    assert set(problems) == {"approvals", "promotions"}
    assert "by ceo" in problems["approvals"]["problem"]
    assert problems["promotions"]["row"] == ids["promotion"]


def test_a_row_added_or_deleted_outside_the_platform_is_named(governed: Platform) -> None:
    _approved_prod(governed)
    _sql(governed, "INSERT INTO users (name, created_at) VALUES ('eve', CURRENT_TIMESTAMP)")
    _sql(governed, "DELETE FROM deployments WHERE environment = 'dev'")
    problems = [p["problem"] for p in governed.oversight.verify_audit()["problems"]]
    assert any("users row" in p and "added outside the platform" in p for p in problems)
    assert any("deployments row" in p and "deleted outside the platform" in p
               for p in problems)


def test_a_head_kept_outside_the_database_catches_a_rewritten_chain(
        tmp_path: Path) -> None:
    head_file = tmp_path / "audit-head.log"
    platform = make_platform(tmp_path, audit_head_file=head_file)
    try:
        _history(platform, releases=1)
        seq, digest = head_file.read_text().split("\n")[-2].split()
        assert platform.oversight.verify_audit()["ok"] and int(seq) == platform.oversight.head_seq()
        assert platform.oversight.verify_audit([(int(seq), digest)])["ok"]
        # someone rewrites the tail of the chain consistently (recomputing every hash)
        _sql(platform, f"DELETE FROM events WHERE seq = {seq}")
        _sql(platform, f"UPDATE audit_head SET seq = {int(seq) - 1}, hash = "
                       f"(SELECT hash FROM events WHERE seq = {int(seq) - 1})")
        problems = [p["problem"] for p in platform.oversight.verify_audit()["problems"]]
        assert any("head recorded outside the database" in p for p in problems)
    finally:
        platform.close()
