"""Experiment behind the inventory fix proposed in docs/benchmarks.md (not part of run_all).

On the same seeded store as bench_server.py (1,000 services, 10,000 releases, 1,400
deployments), in one process and without HTTP, times:
  current   Platform.list_services() as shipped (ORM entities for every row, JSON columns
            decoded, then dicts)
  columns   one Core SELECT of only the columns the inventory shows (services LEFT JOIN
            deployments JOIN releases), rows -> dicts
  json      json.dumps of the result (a floor for what the HTTP layer adds)
and the same for one status read (Platform.status: three ORM queries) against one Core join.

    .venv/bin/python bench/experiment_inventory.py
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table, write_result  # noqa: E402
from bench_server import seed  # noqa: E402


def timed(fn: Any, reps: int = 15) -> tuple[float, float, Any]:
    fn()
    samples, result = [], None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[-1], result


def contended(fn: Any, threads: int, rate: float = 200.0, seconds: float = 3.0) -> dict[str, float]:
    """Call fn at `rate` calls/s in total, spread over `threads` threads; latency percentiles."""
    import threading

    lat: list[float] = []
    interval = threads / rate
    stop = time.perf_counter() + seconds

    def loop() -> None:
        nxt = time.perf_counter()
        while nxt < stop:
            t = time.perf_counter()
            fn()
            lat.append((time.perf_counter() - t) * 1000)
            nxt += interval
            time.sleep(max(0.0, nxt - time.perf_counter()))

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    lat.sort()
    return {"p50_ms": round(lat[len(lat) // 2], 2), "p99_ms": round(lat[int(len(lat) * 0.99)], 2)}


def main() -> None:
    from sqlalchemy import select

    from goldenpath_server import Platform, Settings
    from goldenpath_server._db import DeploymentRow, ReleaseRow, ServiceRow

    home = Path(tempfile.mkdtemp(prefix="bench-inventory-"))
    seed(home)
    platform = Platform(Settings(home=home))  # not started: no monitor, no reconcile

    def columns() -> list[dict[str, Any]]:
        query = (
            select(
                ServiceRow.id,
                ServiceRow.name,
                ServiceRow.kind,
                ServiceRow.team,
                ServiceRow.created_at,
                DeploymentRow.environment,
                DeploymentRow.status,
                DeploymentRow.url,
                DeploymentRow.message,
                DeploymentRow.release_id,
                DeploymentRow.previous_release_id,
                DeploymentRow.target,
                DeploymentRow.updated_at,
                ReleaseRow.version,
                ReleaseRow.digest,
            )
            .select_from(ServiceRow)
            .outerjoin(DeploymentRow, DeploymentRow.service_id == ServiceRow.id)
            .outerjoin(ReleaseRow, ReleaseRow.id == DeploymentRow.release_id)
            .order_by(ServiceRow.name)
        )
        out: dict[int, dict[str, Any]] = {}
        with platform.store.engine.connect() as conn:
            for r in conn.execute(query):
                svc = out.get(r.id)
                if svc is None:
                    svc = out[r.id] = {
                        "name": r.name,
                        "kind": r.kind,
                        "team": r.team,
                        "created_at": r.created_at.isoformat(),
                        "deployments": [],
                    }
                if r.environment is not None:
                    svc["deployments"].append(
                        {
                            "service": r.name,
                            "environment": r.environment,
                            "status": r.status,
                            "url": r.url,
                            "message": r.message,
                            "release_id": r.release_id,
                            "release_version": r.version,
                            "digest": r.digest,
                            "previous_release_id": r.previous_release_id,
                            "target": r.target,
                            "updated_at": r.updated_at.isoformat(),
                        }
                    )
        return list(out.values())

    def status_core(service: str = "svc-0777", env: str = "dev") -> dict[str, Any]:
        query = (
            select(
                DeploymentRow.environment,
                DeploymentRow.status,
                DeploymentRow.url,
                DeploymentRow.message,
                DeploymentRow.release_id,
                DeploymentRow.previous_release_id,
                DeploymentRow.target,
                DeploymentRow.updated_at,
                ReleaseRow.version,
                ReleaseRow.digest,
            )
            .join(ServiceRow, ServiceRow.id == DeploymentRow.service_id)
            .join(ReleaseRow, ReleaseRow.id == DeploymentRow.release_id)
            .where(ServiceRow.name == service, DeploymentRow.environment == env)
        )
        with platform.store.engine.connect() as conn:
            r = conn.execute(query).one()
        return {"service": service, **r._asdict(), "updated_at": r.updated_at.isoformat()}

    st_med, st_max, _ = timed(lambda: platform.rollouts.status("svc-0777", "dev"), reps=200)
    sc_med, sc_max, _ = timed(status_core, reps=200)
    conc = {
        f"{label}, {n} threads": contended(fn, n)
        for label, fn in (
            ("Platform.status", lambda: platform.rollouts.status("svc-0777", "dev")),
            ("Core join", status_core),
        )
        for n in (1, 4, 20)
    }
    cur_med, cur_max, current = timed(platform.releases.list_services)
    col_med, col_max, fast = timed(columns)
    js_med, js_max, _ = timed(lambda: json.dumps(current))
    assert [s["name"] for s in fast] == [s["name"] for s in current]
    assert sum(len(s["deployments"]) for s in fast) == sum(len(s["deployments"]) for s in current)
    rows = [
        ["current Platform.list_services()", cur_med, cur_max],
        ["one Core SELECT of the shown columns", col_med, col_max],
        ["json.dumps of the inventory", js_med, js_max],
        ["status: current Platform.status()", st_med, st_max],
        ["status: one Core SELECT joining the 3 tables", sc_med, sc_max],
    ]
    headers = ["store read, in-process (no HTTP)", "median ms", "max ms"]
    print(table(headers, rows))
    print(f"response size: {len(json.dumps(current)) / 1024:.0f} KiB")
    conc_headers = ["status read, 200 calls/s spread over N threads", "p50 ms", "p99 ms"]
    conc_rows = [[k, v["p50_ms"], v["p99_ms"]] for k, v in conc.items()]
    print(table(conc_headers, conc_rows))
    platform.store.engine.dispose()
    shutil.rmtree(home, ignore_errors=True)
    write_result(
        "experiment_inventory",
        {
            "headers": headers,
            "rows": rows,
            "contended_headers": conc_headers,
            "contended_rows": conc_rows,
            "response_kib": len(json.dumps(current)) / 1024,
        },
    )


if __name__ == "__main__":
    main()
