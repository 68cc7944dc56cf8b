"""Parity: the bundle must predict what the notebook predicted, wherever it runs.

The bundle carries the sample the notebook passed to gp.deploy and the notebook's own
predictions on it (`parity.json` beside the model). The serving runtime replays them when it
loads, before it reports ready, so a process that would answer differently never serves;
the promotion server replays them again over HTTP before it sends traffic (its own check,
which model code cannot fake). Both compare with `differences`.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

PARITY_FILE = "parity.json"
MAX_ROWS = 100  # rows of the sample kept for parity (the schema is inferred from all of it)
TOLERANCE = {"rtol": 1e-6, "atol": 1e-8}
FAILURE_MARKER = "GOLDENPATH_SERVING_FAILED"  # a log line the targets read the reason from


class ParityMismatch(Exception):
    """The model answered the notebook's sample differently; `differences` says where."""

    def __init__(self, differences: list[dict[str, Any]], rows: int) -> None:
        super().__init__(describe(differences, rows))
        self.differences = differences
        self.rows = rows


def save_case(directory: Path, inputs: list[Any], outputs: list[Any]) -> None:
    """Write the notebook's sample and predictions next to the model."""
    rows = min(len(inputs), MAX_ROWS)
    (directory / PARITY_FILE).write_text(json.dumps(
        {"inputs": inputs[:rows], "outputs": outputs[:rows]}, allow_nan=True))


def load_case(directory: Path) -> dict[str, Any] | None:
    path = directory / PARITY_FILE
    return json.loads(path.read_text()) if path.exists() else None


def differences(expected: list[Any], actual: Any) -> list[dict[str, Any]]:
    """Rows where `actual` differs from `expected` (numbers within TOLERANCE are equal)."""
    if not isinstance(actual, list):
        return [{"row": "all", "notebook": f"{len(expected)} predictions",
                 "bundle": _short(actual)}]
    diffs = []
    for i, (a, b) in enumerate(zip(expected, actual, strict=False)):
        if not _same(a, b):
            diffs.append({"row": i, "notebook": a, "bundle": b})
    if len(expected) != len(actual):
        diffs.append({"row": "count", "notebook": len(expected), "bundle": len(actual)})
    return diffs


def describe(diffs: list[dict[str, Any]], rows: int) -> str:
    shown = "; ".join(f"row {d['row']}: notebook {_short(d['notebook'])}, bundle "
                      f"{_short(d['bundle'])}" for d in diffs[:3])
    more = f" (and {len(diffs) - 3} more)" if len(diffs) > 3 else ""
    return (f"the bundled model predicts differently from the notebook on {len(diffs)} of "
            f"{rows} sample rows: {shown}{more}")


def report_failure(code: str, message: str, details: dict[str, Any] | None = None) -> None:
    """Say why this process will not serve, in one line the targets recognise (and in the
    Kubernetes termination message, where the pod's status shows it)."""
    line = json.dumps({"code": code, "message": message, "details": details or {}},
                      default=str)[:16000]
    print(f"{FAILURE_MARKER} {line}", file=sys.stderr, flush=True)
    try:
        with open("/dev/termination-log", "w") as fh:
            fh.write(f"{code}: {message}"[:4000])
    except OSError:
        pass  # not on Kubernetes


def read_failure(text: str) -> dict[str, Any] | None:
    """The last failure a serving process reported in its log `text`, if any."""
    for line in reversed(text.splitlines()):
        if line.startswith(FAILURE_MARKER):
            try:
                found = json.loads(line[len(FAILURE_MARKER):])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def user_frame(exc: BaseException) -> str:
    """The innermost frame of the model's own code (a notebook cell, the user's module) in
    `exc`'s traceback: where to look. Frames of installed packages and of this runtime are
    skipped; "" when none is the user's."""
    ours = str(Path(__file__).parent)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        if "site-packages" in name or "dist-packages" in name or name.startswith(ours) \
                or name.startswith(sys.prefix) or name.startswith(sys.base_prefix):
            continue
        line = f"File {name!r}, line {frame.lineno}, in {frame.name}"
        return f"{line}: {frame.line}" if frame.line else line
    return ""


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                equal_nan=True, **TOLERANCE))
    except (TypeError, ValueError):
        return bool(a == b)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
