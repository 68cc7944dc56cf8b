"""A promotion server that watches drift, for the Galata drift spec (scripts/test.sh starts it).

    python jupyter_ext/ui-tests/drift_platform.py --state DIR   # serve until SIGTERM

The platform of tests/jupyter_ext/_platform.py (same users, tokens, process handling), with
dev judging drift every 100 logged rows, checked every 0.3 s. Writes DIR/server.json
({"url", "token", "service", "environment", "model_url", "shifted", "requests"}) once
`churn` (a logistic regression over four numeric features, deployed with its training data)
is live in dev. The spec sends the requests itself: requests["in"], 100 in-distribution rows,
then requests["shifted"], 100 rows with `visits` shifted by three standard deviations.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "jupyter_ext"))
import _platform  # noqa: E402 - the shared test platform, found above

WINDOW = 100  # rows per drift window
PER_REQUEST = 10
FEATURES = ["tenure", "spend", "visits", "age"]
SHIFTED = "visits"

PLATFORM_CONFIG = f"""
environments:
  dev:
    target: local
    monitoring: {{sample: 1.0, window_rows: {WINDOW}}}
"""

DEPLOY_CHURN = """
import goldenpath as gp
from sklearn.linear_model import LogisticRegression
train = TABLE(3000, seed=1)
labels = (train["tenure"] + train["spend"] / 4 > 44).astype(int)
model = LogisticRegression(max_iter=500).fit(train, labels)
d = gp.deploy(model, name="churn", sample=train[:5], data={"train": train}, env="dev",
              quiet=True)
print(d.url)
"""

TABLE = """
import numpy as np
import pandas as pd

def TABLE(rows, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"tenure": rng.normal(24, 6, rows), "spend": rng.normal(80, 20, rows),
                          "visits": rng.normal(10, 3, rows), "age": rng.normal(40, 10, rows)})
    frame["visits"] += shift * 3  # in standard deviations of the training data
    return frame
"""


def requests_of(rows: int, seed: int, shift: float = 0.0) -> list[dict[str, Any]]:
    """POST /predict bodies of PER_REQUEST rows each, as the SDK sends them (records)."""
    namespace: dict[str, Any] = {}
    exec(TABLE, namespace)  # noqa: S102 - the same table the model was trained on
    frame = namespace["TABLE"](rows, seed, shift)
    records = json.loads(frame.to_json(orient="records"))
    return [{"inputs": records[i:i + PER_REQUEST]} for i in range(0, rows, PER_REQUEST)]


def deploy_churn(platform: _platform.Platform) -> str:
    out = subprocess.run([sys.executable, "-c", TABLE + DEPLOY_CHURN], env=platform.env(),
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"gp.deploy failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()
    os.environ["GOLDENPATH_MONITOR_INTERVAL_S"] = "0.3"  # the server judges windows quickly
    _platform.PLATFORM_CONFIG = PLATFORM_CONFIG  # start() writes it as the platform config
    platform = _platform.start(args.state / "home")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        url = deploy_churn(platform)
        (args.state / "server.json").write_text(json.dumps({
            "url": platform.url, "token": platform.delegation, "service": "churn",
            "environment": "dev", "model_url": url, "shifted": SHIFTED,
            "window_rows": WINDOW, "features": FEATURES,
            "requests": {"in": requests_of(WINDOW, seed=2),
                         "shifted": requests_of(WINDOW, seed=3, shift=1.0)}}))
        print(f"goldenpath server {platform.url}: churn live in dev at {url}, drift judged "
              f"every {WINDOW} rows", flush=True)
        while platform.proc.poll() is None:
            time.sleep(1)
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
