"""Benchmark 3: the promotion server under inventory, status and upload load.

  inventory  GET /api/v1/inventory and GET /api/v1/services over 10,000 releases (1,000
             services x 10 releases, 1,400 deployments), seeded through the store: the first
             page (the default request) and the whole listing followed page by page as the
             SDK reads it; each on a server whose listing cache is off (every request builds
             the page: the miss path) and on one as shipped (cache on; also revalidation
             with If-None-Match -> 304). Also GET /api/v1/services/{name}. 1 client.
  status     GET /api/v1/services/{name}/environments/dev at a steady 200 req/s (hey, 4
             workers x 50 req/s) across services.
  upload     peak RSS growth of `goldenpath server` while a 1 GB bundle is uploaded with the
             SDK's streaming client and ingested (hash, unpack, metadata).
No peer ships a promotion server, so these are checked against the issue's targets only.

    .venv/bin/python bench/bench_server.py [--seconds 8] [--upload-mb 1024]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH,
    HEY,
    PRODUCT_PY,
    free_port,
    get_json,
    kill_tree,
    log,
    poll_until,
    pyspy_start,
    shown_path,
    summarize_profile,
    table,
    tool_version,
    write_result,
)

SERVICES, RELEASES_PER_SERVICE = 1000, 10
TARGETS = {"inventory_p99_ms": 50.0, "status_p99_ms": 100.0, "upload_rss_growth_mb": 100.0}


def seed(home: Path) -> dict[str, int]:
    """10,000 releases through the product's store (its ORM rows and migrations).

    No audit events are written: the server chains them by hash, and the inventory and
    status reads measured here do not read them."""
    from sqlalchemy.orm import Session

    from goldenpath_server import Settings
    from goldenpath_server._db import DeploymentRow, ReleaseRow, ServiceRow, make_engine, migrate

    engine = make_engine(Settings(home=home).resolved_database_url())
    migrate(engine)
    now = datetime.now(UTC)
    counts = {"services": 0, "releases": 0, "deployments": 0}
    with Session(engine) as db, db.begin():
        for s in range(SERVICES):
            name = f"svc-{s:04d}"
            svc = ServiceRow(name=name, kind="model", team=f"team-{s % 17}")
            db.add(svc)
            db.flush()
            releases = []
            for v in range(1, RELEASES_PER_SERVICE + 1):
                digest = "sha256:" + uuid.uuid4().hex * 2
                rel = ReleaseRow(
                    id=uuid.uuid4().hex[:16],
                    service_id=svc.id,
                    version=v,
                    kind="model",
                    digest=digest,
                    size=1_234_567,
                    bento_tag=f"{name}:v{v}",
                    created_by="seed",
                    created_at=now - timedelta(minutes=v),
                    spec={
                        "labels": {"goldenpath.kind": "sklearn"},
                        "models": [f"{name}:m{v}"],
                        "requirements": [
                            "bentoml==1.4.39",
                            "scikit-learn==1.9.1",
                            "numpy==2.4.6",
                            "cloudpickle==3.1.2",
                        ],
                        "schema": {
                            "kind": "ndarray",
                            "dtype": "float64",
                            "shape": [None, 20],
                            "columns": [],
                        },
                    },
                )
                releases.append(rel)
                db.add(rel)
            db.flush()
            envs = ["dev"] + (["staging"] if s % 10 < 3 else []) + (["prod"] if s % 10 == 0 else [])
            for i, env in enumerate(envs):
                rel = releases[-1 - i]
                db.add(
                    DeploymentRow(
                        service_id=svc.id,
                        environment=env,
                        release_id=rel.id,
                        previous_release_id=releases[-2 - i].id,
                        status="live",
                        url=f"http://{name}.{env}.invalid",
                        target="local",
                        target_state={"url": f"http://{name}.{env}.invalid"},
                    )
                )
                counts["deployments"] += 1
            counts["services"] += 1
            counts["releases"] += RELEASES_PER_SERVICE
    engine.dispose()
    return counts


def hey(url: str, *, seconds: int, workers: int, rate_per_worker: int = 0,
        headers: dict[str, str] | None = None, ok: str = "200") -> dict[str, Any]:
    """Run hey for `seconds`; exact percentiles from its per-request CSV."""
    cmd = [str(HEY), "-z", f"{seconds}s", "-c", str(workers), "-o", "csv"]
    if rate_per_worker:
        cmd += ["-q", str(rate_per_worker)]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    lat = sorted(float(r["response-time"]) * 1000 for r in rows)
    codes = [r["status-code"] for r in rows]
    offsets = [float(r["offset"]) for r in rows]
    span = (max(offsets) - min(offsets)) if len(offsets) > 1 else float(seconds)

    return {**_latencies(lat, span), "errors": sum(c != ok for c in codes)}


def _latencies(lat_ms: list[float], span_s: float) -> dict[str, Any]:
    lat = sorted(lat_ms)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] if lat else float("nan")

    return {
        "requests": len(lat),
        "achieved_rps": round(len(lat) / span_s, 1) if span_s else float("nan"),
        "p50_ms": round(pct(50), 2),
        "p90_ms": round(pct(90), 2),
        "p99_ms": round(pct(99), 2),
        "max_ms": round(lat[-1], 2) if lat else float("nan"),
    }


def walk(url: str, key: str) -> list[Any]:
    """Every item of a paged listing, following `next` as the SDK does (pages of 1,000)."""
    import requests

    items, params = [], {"limit": 1000}
    with requests.Session() as http:
        while True:
            page = http.get(url, params=params, timeout=60).json()
            items.extend(page[key])
            if not page.get("next"):
                return items
            params["after"] = page["next"]


def walk_latency(url: str, key: str, seconds: int) -> dict[str, Any]:
    """Whole-listing reads, one after another for `seconds`: latency of each whole walk
    (every page, JSON decoded, as gp.inventory() / gp.list() read it)."""
    lat, errors, start = [], 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        try:
            walk(url, key)
        except Exception:  # noqa: BLE001 - counted, like hey's non-200s
            errors += 1
        lat.append((time.perf_counter() - t) * 1000)
    return {**_latencies(lat, time.perf_counter() - start), "errors": errors}


def start_server(cmd: list[str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "True"}
    env = {k: v for k, v in env.items() if not k.startswith("GOLDENPATH_")}
    proc = subprocess.Popen(
        cmd,
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,  # noqa: SIM115
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=BENCH,
    )
    try:
        poll_until(
            lambda: get_json(f"http://127.0.0.1:{port}/healthz"),
            timeout=90,
            proc=proc,
            what="goldenpath server",
        )
    except (RuntimeError, TimeoutError):
        kill_tree(proc.pid)
        raise RuntimeError(
            f"the server did not start; its log ends:\n"
            f"{log_path.read_text(errors='replace')[-2000:]}"
        ) from None
    return proc


def wait_quiet(pid: int, cpu_below: float = 10.0, timeout: float = 120.0) -> float:
    """Seconds until process `pid` uses < cpu_below % CPU over one second."""
    import psutil

    proc, t = psutil.Process(pid), time.perf_counter()
    proc.cpu_percent(None)
    while time.perf_counter() - t < timeout:
        if proc.cpu_percent(1.0) < cpu_below:
            break
    return round(time.perf_counter() - t, 1)


def seeded_server(work: Path, home: Path, *, cache: bool
                  ) -> tuple[subprocess.Popen[bytes], int, float]:
    """The seeded server, settled after its start-up reconcile (and the seconds that took);
    cache=False: its listing cache is off."""
    port = free_port()
    cmd = [str(PRODUCT_PY), str(BENCH / "_seeded_server.py"), "--home", str(home),
           "--port", str(port)]
    proc = start_server(cmd + ([] if cache else ["--no-listing-cache"]), port,
                        work / f"seeded-{'cache' if cache else 'nocache'}.log")
    settle_s = wait_quiet(proc.pid)
    log(f"server (listing cache {'on' if cache else 'off'}) settled {settle_s}s after "
        "answering (start-up reconcile of the live deployments)")
    return proc, port, settle_s


def profiled(pid: int, name: str, seconds: int, load: Any) -> dict[str, Any]:
    spy, out = pyspy_start(pid, name, seconds)
    load()
    spy.wait(timeout=60)
    return {"file": shown_path(out), "top_inclusive_pct": summarize_profile(out, top=25)}


def queries(work: Path, seconds: int, profile_s: int = 0) -> dict[str, Any]:
    home = work / "seeded"
    t = time.perf_counter()
    counts = seed(home)
    seed_s = round(time.perf_counter() - t, 1)
    log(f"seeded {counts} in {seed_s}s")
    q: dict[str, Any] = {"seed": counts, "seed_s": seed_s}
    status_path = "/services/svc-0777/environments/dev"
    # 1. listing cache off: every listing request queries and serializes (the miss path)
    proc, port, q["settle_s"] = seeded_server(work, home, cache=False)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        listing = walk(f"{base}/services", "services")
        assert (
            len(listing) == SERVICES
            and sum(len(s["deployments"]) for s in listing) == counts["deployments"]
        ), "the service listing does not show every seeded deployment"
        assert len(walk(f"{base}/inventory", "inventory")) == counts["deployments"]
        hey(f"{base}/inventory", seconds=2, workers=1)  # warm-up
        q["inventory_page_miss"] = hey(f"{base}/inventory", seconds=seconds, workers=1)
        q["inventory_1000_miss"] = hey(f"{base}/inventory?limit=1000", seconds=seconds,
                                       workers=1)
        q["inventory_all_miss"] = walk_latency(f"{base}/inventory", "inventory", seconds)
        q["services_page_miss"] = hey(f"{base}/services", seconds=seconds, workers=1)
        q["services_all_miss"] = walk_latency(f"{base}/services", "services", seconds)
        q["service_detail"] = hey(f"{base}/services/svc-0500", seconds=max(2, seconds // 2),
                                  workers=1)
        hey(f"{base}/services/svc-0001/environments/dev", seconds=2, workers=20,
            rate_per_worker=10)
        q["status_200rps"] = hey(f"{base}{status_path}", seconds=seconds, workers=20,
                                 rate_per_worker=10)
        q["healthz_200rps"] = hey(f"http://127.0.0.1:{port}/healthz", seconds=seconds,
                                  workers=20, rate_per_worker=10)  # same HTTP stack, no store
        if profile_s:  # where the time goes (py-spy on the server process)
            q["inventory_profile"] = profiled(
                proc.pid, "server-inventory-miss", profile_s,
                lambda: walk_latency(f"{base}/inventory", "inventory", profile_s))
            q["status_profile"] = profiled(
                proc.pid, "server-status", profile_s,
                lambda: hey(f"{base}{status_path}", seconds=profile_s, workers=20,
                            rate_per_worker=10))
    finally:
        kill_tree(proc.pid)
    # 2. as shipped: the listing cache on; repeated reads and revalidations
    proc, port, _ = seeded_server(work, home, cache=True)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        import requests

        etag = requests.get(f"{base}/inventory", timeout=60).headers["etag"]
        hey(f"{base}/inventory", seconds=2, workers=1)  # warm-up
        q["inventory_page_cached"] = hey(f"{base}/inventory", seconds=seconds, workers=1)
        q["inventory_page_304"] = hey(f"{base}/inventory", seconds=seconds, workers=1,
                                      headers={"If-None-Match": etag}, ok="304")
        q["inventory_all_cached"] = walk_latency(f"{base}/inventory", "inventory", seconds)
        q["services_page_cached"] = hey(f"{base}/services", seconds=seconds, workers=1)
        q["services_all_cached"] = walk_latency(f"{base}/services", "services", seconds)
    finally:
        kill_tree(proc.pid)
    return q


def make_bundle(path: Path, megabytes: int) -> None:
    """A valid bundle (bento.yaml + a model file) of `megabytes` MB, uncompressed tar."""
    with tarfile.open(path, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("bento.yaml", b"name: big\nversion: v1\nmodels:\n  - tag: big:m1\n")
        add("models/big/m1/goldenpath.json", b'{"kind": "sklearn", "schema": null}')
        info = tarfile.TarInfo("models/big/m1/model.pkl")
        info.size = megabytes * 2**20
        block = os.urandom(2**20)
        reader = io.BufferedReader(_Repeat(block, megabytes))  # type: ignore[arg-type]
        tar.addfile(info, reader)


class _Repeat(io.RawIOBase):
    def __init__(self, block: bytes, count: int) -> None:
        self.block, self.left, self.pos = block, count * len(block), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self.left)
        for i in range(0, n, len(self.block)):
            chunk = self.block[: min(len(self.block), n - i)]
            buf[i : i + len(chunk)] = chunk
        self.left -= n
        return n


def upload_rss(work: Path, megabytes: int) -> dict[str, Any]:
    import psutil

    from goldenpath._client import Client
    from goldenpath._config import Config

    archive = work / "big.bento"
    make_bundle(archive, megabytes)
    port = free_port()
    proc = start_server(
        [
            str(PRODUCT_PY),
            "-m",
            "goldenpath",
            "server",
            "--port",
            str(port),
            "--home",
            str(work / "upload-home"),
        ],
        port,
        work / "upload.log",
    )
    server = psutil.Process(proc.pid)
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                samples.append(server.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.02)

    try:
        time.sleep(1.0)
        baseline = server.memory_info().rss
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t = time.perf_counter()
        release = Client(Config(server=f"http://127.0.0.1:{port}", autostart=False)).upload(
            "big", archive
        )
        seconds = time.perf_counter() - t
        done.set()
        sampler.join()
    finally:
        done.set()
        kill_tree(proc.pid)
    return {
        "bundle_mb": megabytes,
        "release_size": release["size"],
        "baseline_rss_mb": round(baseline / 2**20, 1),
        "peak_rss_mb": round(max(samples) / 2**20, 1),
        "growth_mb": round((max(samples) - baseline) / 2**20, 1),
        "upload_s": round(seconds, 2),
        "mb_per_s": round(megabytes / seconds, 1),
        "samples": len(samples),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--upload-mb", type=int, default=1024)
    p.add_argument("--profile", type=int, default=6, help="seconds of py-spy (0: none)")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-server-"))
    try:
        q = queries(work, a.seconds, a.profile)
        up = upload_rss(work, a.upload_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    checks = {
        "inventory p99 < 50 ms (10,000 releases): first page, uncached": (
            q["inventory_page_miss"]["p99_ms"], "inventory_p99_ms"),
        "inventory p99 < 50 ms (10,000 releases): all 1,400 rows, uncached": (
            q["inventory_all_miss"]["p99_ms"], "inventory_p99_ms"),
        "status p99 < 100 ms at 200 req/s": (q["status_200rps"]["p99_ms"], "status_p99_ms"),
        f"RSS growth < 100 MB uploading {a.upload_mb} MB": (
            up["growth_mb"],
            "upload_rss_growth_mb",
        ),
    }
    targets = {k: {"value": v, "met": v < TARGETS[key]} for k, (v, key) in checks.items()}
    headers = ["measure", "p50 ms", "p99 ms", "max ms", "achieved req/s", "requests", "errors"]
    measures = (
        ("inventory GET /api/v1/inventory, first page (100 of 1,400 deployments of 10,000 "
         "releases), uncached, 1 client", "inventory_page_miss"),
        ("inventory, the biggest page (GET ?limit=1000: 1,000 rows), uncached, 1 client",
         "inventory_1000_miss"),
        ("inventory, all 1,400 rows (2 pages of <= 1,000, as gp.inventory() reads them, "
         "JSON decoded), uncached, 1 client", "inventory_all_miss"),
        ("inventory, first page, from the listing cache, 1 client", "inventory_page_cached"),
        ("inventory, first page, If-None-Match -> 304, 1 client", "inventory_page_304"),
        ("inventory, all 1,400 rows (JSON decoded), from the listing cache, 1 client",
         "inventory_all_cached"),
        ("service list GET /api/v1/services, first page (100 of 1,000 services), uncached, "
         "1 client", "services_page_miss"),
        ("service list, all 1,000 services (as gp.list() reads them), uncached, 1 client",
         "services_all_miss"),
        ("service list, first page, from the listing cache, 1 client", "services_page_cached"),
        ("service list, all 1,000 services, from the listing cache, 1 client",
         "services_all_cached"),
        ("service detail GET /services/{name}, 1 client", "service_detail"),
        ("status GET .../environments/dev at 200 req/s", "status_200rps"),
        ("(floor) GET /healthz at 200 req/s, no store access", "healthz_200rps"),
    )
    rows = [
        [label, q[key]["p50_ms"], q[key]["p99_ms"], q[key]["max_ms"], q[key]["achieved_rps"],
         q[key]["requests"], q[key]["errors"]]
        for label, key in measures
    ]
    print(table(headers, rows))
    up_headers = [
        "bundle MB",
        "server RSS before MB",
        "peak MB",
        "growth MB",
        "upload+ingest s",
        "MB/s",
    ]
    up_rows = [
        [
            up["bundle_mb"],
            up["baseline_rss_mb"],
            up["peak_rss_mb"],
            up["growth_mb"],
            up["upload_s"],
            up["mb_per_s"],
        ]
    ]
    print(table(up_headers, up_rows))
    for t, v in targets.items():
        print(f"target {t}: {v['value']} -> {'MET' if v['met'] else 'MISSED'}")
    for key in ("inventory_profile", "status_profile"):
        if q.get(key):
            print(f"{key} (py-spy, inclusive % of server samples):")
            for frame, pct in q[key]["top_inclusive_pct"]:
                print(f"  {pct:5.1f}%  {frame}")
    path = write_result(
        "server",
        {
            "headers": headers,
            "rows": rows,
            "upload_headers": up_headers,
            "upload_rows": up_rows,
            "targets": targets,
            "queries": q,
            "upload": up,
            "load_generator": f"hey {HEY}",
            "hey": tool_version([str(HEY), "-h"]),
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
