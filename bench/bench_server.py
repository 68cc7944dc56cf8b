"""Benchmark 3: the promotion server under inventory, status and upload load.

  inventory  GET /api/v1/services (every service with its deployments) over 10,000 releases
             (1,000 services x 10 releases, 1,400 deployments), seeded through the store;
             also GET /api/v1/services/{name} (one service, its 10 releases). 1 client.
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


def hey(url: str, *, seconds: int, workers: int, rate_per_worker: int = 0) -> dict[str, Any]:
    """Run hey for `seconds`; exact percentiles from its per-request CSV."""
    cmd = [str(HEY), "-z", f"{seconds}s", "-c", str(workers), "-o", "csv"]
    if rate_per_worker:
        cmd += ["-q", str(rate_per_worker)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    lat = sorted(float(r["response-time"]) * 1000 for r in rows)
    codes = [r["status-code"] for r in rows]
    offsets = [float(r["offset"]) for r in rows]
    span = (max(offsets) - min(offsets)) if len(offsets) > 1 else float(seconds)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] if lat else float("nan")

    return {
        "requests": len(lat),
        "errors": sum(c != "200" for c in codes),
        "achieved_rps": round(len(lat) / span, 1) if span else float("nan"),
        "p50_ms": round(pct(50), 2),
        "p90_ms": round(pct(90), 2),
        "p99_ms": round(pct(99), 2),
        "max_ms": round(lat[-1], 2) if lat else float("nan"),
    }


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


def _answers(url: str) -> bool:
    try:
        get_json(url, timeout=60)
        return True
    except Exception:  # noqa: BLE001 - older servers have no such route
        return False


def wait_quiet(pid: int, cpu_below: float = 10.0, timeout: float = 120.0) -> float:
    """Seconds until process `pid` uses < cpu_below % CPU over one second."""
    import psutil

    proc, t = psutil.Process(pid), time.perf_counter()
    proc.cpu_percent(None)
    while time.perf_counter() - t < timeout:
        if proc.cpu_percent(1.0) < cpu_below:
            break
    return round(time.perf_counter() - t, 1)


def queries(work: Path, seconds: int, profile_s: int = 0) -> dict[str, Any]:
    home = work / "seeded"
    t = time.perf_counter()
    counts = seed(home)
    seed_s = round(time.perf_counter() - t, 1)
    log(f"seeded {counts} in {seed_s}s")
    port = free_port()
    proc = start_server(
        [
            str(PRODUCT_PY),
            str(BENCH / "_seeded_server.py"),
            "--home",
            str(home),
            "--port",
            str(port),
        ],
        port,
        work / "seeded.log",
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        settle_s = wait_quiet(proc.pid)
        log(
            f"server settled {settle_s}s after answering (start-up reconcile of "
            f"{counts['deployments']} live deployments)"
        )
        listing = get_json(f"{base}/services", timeout=60)["services"]
        assert (
            len(listing) == SERVICES
            and sum(len(s["deployments"]) for s in listing) == counts["deployments"]
        ), "inventory does not show every seeded deployment"
        # the inventory: GET /inventory (every deployment with release, approvals, evidence)
        # where the server has it, else the service list; GET /services is measured too
        inv_url = f"{base}/inventory"
        if not _answers(inv_url):
            inv_url = f"{base}/services"
        hey(inv_url, seconds=2, workers=1)  # warm-up
        inventory = hey(inv_url, seconds=seconds, workers=1)
        inventory["url"] = inv_url.removeprefix(f"http://127.0.0.1:{port}")
        service_list = hey(f"{base}/services", seconds=seconds, workers=1)
        detail = hey(f"{base}/services/svc-0500", seconds=max(2, seconds // 2), workers=1)
        hey(f"{base}/services/svc-0001/environments/dev", seconds=2, workers=20, rate_per_worker=10)
        status = hey(
            f"{base}/services/svc-0777/environments/dev",
            seconds=seconds,
            workers=20,
            rate_per_worker=10,
        )
        healthz = hey(
            f"http://127.0.0.1:{port}/healthz", seconds=seconds, workers=20, rate_per_worker=10
        )  # the floor: same HTTP stack, no store
        profile = status_profile = None
        if profile_s:  # where the time goes (py-spy on the server process)
            spy, out = pyspy_start(proc.pid, "server-inventory", profile_s)
            hey(inv_url, seconds=profile_s, workers=1)
            spy.wait(timeout=60)
            profile = {
                "file": shown_path(out),
                "top_inclusive_pct": summarize_profile(out, top=25),
            }
            spy, out = pyspy_start(proc.pid, "server-status", profile_s)
            hey(
                f"{base}/services/svc-0777/environments/dev",
                seconds=profile_s,
                workers=20,
                rate_per_worker=10,
            )
            spy.wait(timeout=60)
            status_profile = {
                "file": shown_path(out),
                "top_inclusive_pct": summarize_profile(out, top=25),
            }
    finally:
        kill_tree(proc.pid)
    return {
        "seed": counts,
        "seed_s": seed_s,
        "inventory": inventory,
        "service_detail": detail,
        "service_list": service_list,
        "status_200rps": status,
        "inventory_profile": profile,
        "status_profile": status_profile,
        "settle_s": settle_s,
        "healthz_200rps": healthz,
    }


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
        "inventory p99 < 50 ms (10,000 releases)": (q["inventory"]["p99_ms"], "inventory_p99_ms"),
        "status p99 < 100 ms at 200 req/s": (q["status_200rps"]["p99_ms"], "status_p99_ms"),
        f"RSS growth < 100 MB uploading {a.upload_mb} MB": (
            up["growth_mb"],
            "upload_rss_growth_mb",
        ),
    }
    targets = {k: {"value": v, "met": v < TARGETS[key]} for k, (v, key) in checks.items()}
    headers = ["measure", "p50 ms", "p99 ms", "max ms", "achieved req/s", "requests", "errors"]
    rows = [
        [
            label,
            r["p50_ms"],
            r["p99_ms"],
            r["max_ms"],
            r["achieved_rps"],
            r["requests"],
            r["errors"],
        ]
        for label, r in (
            (
                f"inventory GET {q['inventory']['url']} (1,400 deployments of 10,000 releases), "
                "1 client",
                q["inventory"],
            ),
            (
                "service list GET /api/v1/services (1,000 services + deployments), 1 client",
                q["service_list"],
            ),
            ("service detail GET /services/{name}, 1 client", q["service_detail"]),
            ("status GET .../environments/dev at 200 req/s", q["status_200rps"]),
            ("(floor) GET /healthz at 200 req/s, no store access", q["healthz_200rps"]),
        )
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
