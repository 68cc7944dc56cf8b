"""Draw docs/images/delivery.png from two real canaries on the embedded default: a good
release stepping 10 → 25 → 50 → 100, and one that errors on a share of requests, rolled
back by the analysis. Traffic is real (fresh-connection POSTs to the stable URL); the
weights are the progression's, the measured share and success rate the clients'.

    .venv/bin/python scripts/delivery_plot.py [--out docs/images/delivery.png]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._servers import start_server, stop_model_processes  # noqa: E402

CONFIG = """
environments:
  dev: {}
  prod:
    delivery:
      canary: {steps: [10, 25, 50, 100], hold_s: 5, min_requests: 20}
"""
SAMPLE = np.array([[0.1, 0.1], [0.9, 0.2], [0.6, 0.3]])


class Threshold:
    def __init__(self, cut: float, fail_above: float | None = None) -> None:
        self.cut, self.fail_above = cut, fail_above

    def predict(self, X: Any) -> Any:
        X = np.asarray(X, dtype=float)
        if self.fail_above is not None and (X[:, 1] > self.fail_above).any():
            raise ValueError("this release fails on large x1")
        return (X[:, 0] > self.cut).astype(int)


def run(gp: Any, name: str, candidate: Any) -> dict[str, list[Any]]:
    """v1 live in prod, then a canary of `candidate` under traffic; what happened, per tick."""
    v1 = gp.deploy(Threshold(0.5), name=name, sample=SAMPLE, quiet=True).promote("prod")
    v2 = gp.deploy(candidate, name=name, sample=SAMPLE, quiet=True)
    answers: list[tuple[float, str, int]] = []
    stop = threading.Event()

    def send() -> None:
        rng = random.Random(1)
        while not stop.is_set():
            response = requests.post(f"{v1.url}/predict", timeout=30,
                                     json={"inputs": [[rng.random(), rng.random()]]})
            answers.append((time.time(), response.headers.get("X-Goldenpath-Variant", ""),
                            response.status_code))
            time.sleep(0.01)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    t0 = time.time()
    there = v2.promote("prod", strategy="canary", wait=False)
    ticks: dict[str, list[Any]] = {"t": [], "weight": []}
    rollout = there.rollout()
    while rollout.status not in ("succeeded", "aborted"):
        time.sleep(0.5)
        rollout.refresh()
        ticks["t"].append(time.time() - t0)
        ticks["weight"].append(0.0 if rollout.status == "aborted" else rollout.weight)
    ticks["t"].append(time.time() - t0)
    ticks["weight"].append(1.0 if rollout.status == "succeeded" else 0.0)
    time.sleep(3)  # the settled state, measured
    stop.set()
    for thread in threads:
        thread.join()
    ticks["status"] = [rollout.status, rollout.message]
    seconds = int(time.time() - t0) + 1
    ticks["second"], ticks["share"], ticks["success"] = [], [], []
    for s in range(seconds):
        bucket = [(v, c) for t, v, c in answers if s <= t - t0 < s + 1]
        if not bucket:
            continue
        ticks["second"].append(s + 0.5)
        # after the switch the relay answers directly: no header, all the new release's
        ticks["share"].append(sum(v == "candidate" or (v == "" and rollout.status ==
                                  "succeeded" and s > ticks["t"][-1]) for v, _ in bucket)
                              / len(bucket))
        ticks["success"].append(sum(c == 200 for _, c in bucket) / len(bucket))
    return ticks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "delivery.png")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import goldenpath as gp

    tmp = Path(tempfile.mkdtemp(prefix="gp-delivery-plot-"))
    (tmp / "goldenpath.yaml").write_text(CONFIG)
    server = start_server(tmp, {"GOLDENPATH_CONFIG": str(tmp / "goldenpath.yaml")})
    try:
        gp.configure(server=server.url)
        good = run(gp, "plot-good", Threshold(0.5))
        bad = run(gp, "plot-bad", Threshold(0.5, fail_above=0.8))
    finally:
        server.stop()
        stop_model_processes(server.home)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, run_, title in ((axes[0], good, "a good canary goes live"),
                            (axes[1], bad, "an erroring canary is rolled back")):
        ax.step(run_["t"], run_["weight"], where="post", label="planned weight", lw=2)
        ax.plot(run_["second"], run_["share"], "o-", ms=3, label="share answered by candidate")
        ax.plot(run_["second"], run_["success"], "s--", ms=3, label="clients' success rate")
        ax.set_title(f"{title}\n({run_['status'][0]})", fontsize=10)
        ax.set_xlabel("seconds since the promotion")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of requests")
    axes[1].legend(loc="center right", fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}\ngood: {good['status'][1]}\nbad: {bad['status'][1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
