"""What every notebook contender shares: argument parsing, the clock, the prediction check."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import kill_tree, poll_until, post_json  # noqa: E402
from _models import one_row, train  # noqa: E402

__all__ = [
    "args",
    "emit",
    "kill_tree",
    "poll_until",
    "post_json",
    "predict_until",
    "one_row",
    "train",
    "tree_bytes",
    "Clock",
]


def args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["notebook", "serve", "bundle"])
    p.add_argument("--model", default="lr", choices=["lr", "rf", "rf-big"])
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", default="bench-clf")
    return p.parse_args()


class Clock:
    """Named laps measured from one start (time.perf_counter)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> float:
        self.laps[name] = round(time.perf_counter() - self.t0, 4)
        return self.laps[name]


def predict_until(
    url: str, row: list[list[float]], expected: list[Any], proc: Any = None, timeout: float = 180.0
) -> Any:
    """POST {"inputs": row} until the endpoint answers with `expected` (first good answer)."""

    def attempt() -> Any:
        body = post_json(url, {"inputs": row}, timeout=30)
        preds = body["predictions"] if isinstance(body, dict) else body
        if [int(p) for p in preds] != [int(e) for e in expected]:
            raise ValueError(f"stale answer {preds}, expected {expected}")
        return preds

    return poll_until(attempt, timeout=timeout, every=0.05, proc=proc, what=url)


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)
