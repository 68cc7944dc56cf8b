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
PREDICT_MARKER = "GOLDENPATH_PREDICT_FAILED"  # a request the model raised on (the SDK reads it)


class ParityMismatch(Exception):
    """The model answered the notebook's sample differently; `differences` says where."""

    def __init__(self, differences: list[dict[str, Any]], rows: int) -> None:
        super().__init__(describe(differences, rows))
        self.differences = differences
        self.rows = rows


def save_case(directory: Path, inputs: list[Any], answer: dict[str, list[Any]]) -> None:
    """Write the notebook's sample and its answer (every output) next to the model.
    `outputs` repeats the first output's rows for readers of the older format."""
    rows = min(len(inputs), MAX_ROWS)
    first = next(iter(answer.values()))
    (directory / PARITY_FILE).write_text(json.dumps(
        {"inputs": inputs[:rows], "outputs": first[:rows],
         "answer": {key: values[:rows] for key, values in answer.items()}}, allow_nan=True))


def load_case(directory: Path) -> dict[str, Any] | None:
    path = directory / PARITY_FILE
    return json.loads(path.read_text()) if path.exists() else None


def expected_answer(case: dict[str, Any]) -> dict[str, list[Any]]:
    """What /predict must answer to the case's inputs: every output the notebook saw."""
    answer = case.get("answer")
    return answer if isinstance(answer, dict) and answer else {"predictions": case["outputs"]}


def answer_differences(case: dict[str, Any], answered: Any) -> list[dict[str, Any]]:
    """Where a /predict answer (the JSON object) differs from the notebook's, per output."""
    expected = expected_answer(case)
    if not isinstance(answered, dict):
        return [{"row": "all", "notebook": f"an answer with {', '.join(expected)}",
                 "bundle": _short(answered)}]
    diffs = []
    for key, rows in expected.items():
        for diff in differences(rows, answered.get(key)):
            diffs.append(diff if key == "predictions" else {**diff, "output": key})
    return diffs


def differences(expected: list[Any], actual: Any) -> list[dict[str, Any]]:
    """Rows where `actual` differs from `expected` (numbers within TOLERANCE are equal)."""
    if not isinstance(actual, list):
        return [{"row": "all", "notebook": f"{len(expected)} predictions",
                 "bundle": _short(actual)}]
    diffs = []
    for i, (a, b) in enumerate(zip(expected, actual, strict=False)):
        if not same(a, b):
            diffs.append({"row": i, "notebook": a, "bundle": b})
    if len(expected) != len(actual):
        diffs.append({"row": "count", "notebook": len(expected), "bundle": len(actual)})
    return diffs


def describe(diffs: list[dict[str, Any]], rows: int) -> str:
    shown = "; ".join(f"row {d['row']}{' ' + d['output'] if 'output' in d else ''}: "
                      f"notebook {_short(d['notebook'])}, bundle {_short(d['bundle'])}"
                      for d in diffs[:3])
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


def report_request_failure(exc: BaseException) -> None:
    """Log why the model raised on a request, in one line the SDK finds in the logs (the
    HTTP answer stays BentoML's generic 500: API callers see no internals)."""
    line = json.dumps(failure_details(exc, "request"), default=str)[:16000]
    print(f"{PREDICT_MARKER} {line}", file=sys.stderr, flush=True)


def read_failure(text: str, marker: str = FAILURE_MARKER) -> dict[str, Any] | None:
    """The last failure a serving process reported in its log `text`, if any."""
    for line in reversed(text.splitlines()):
        if line.startswith(marker):
            try:
                found = json.loads(line[len(marker):])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def failure_details(exc: BaseException, when: str) -> dict[str, Any]:
    """What a serving process says about the model's own exception: its type and message,
    the line of the user's code it came from, and a fix that fits it. `when` is "load",
    "predict" (the notebook's sample) or "request"."""
    where = user_frame(exc)
    return {"exception": type(exc).__name__, "error": str(exc)[:2000], "where": where,
            "hint": fix_for(exc, when, where)}


def fix_for(exc: BaseException, when: str, where: str = "") -> str:
    """The fix for an exception the model raised while loading or predicting."""
    text = str(exc)
    if isinstance(exc, ModuleNotFoundError):
        return (f"module {exc.name!r} is not installed where the model runs: import it in "
                "the notebook before gp.deploy so its version is pinned in the bundle, or "
                "keep that code in the notebook or a module beside it (it travels with the "
                "model)")
    if when == "load" and isinstance(exc, (AttributeError, ImportError)) \
            and "attribute" in text.lower():
        return ("the model refers to code the bundle does not carry: define the class or "
                "function in the notebook or in a module beside it, then deploy again")
    if where:
        return (f"the error is in your code at {where}: fix it there and deploy again"
                + (" (predict() gets the sample as /predict parses it: the schema's columns "
                   "and dtypes)" if when == "predict" else ""))
    if when == "load":
        return (f"the model could not be unpickled ({type(exc).__name__}): deploy from the "
                "environment you trained in (the bundle pins its library versions)")
    return (f"the model raised {type(exc).__name__} on the notebook's sample as /predict "
            "parses it (the schema's columns and dtypes): make predict() accept those types, "
            "or pass sample= exactly as you will send requests")


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


def same(a: Any, b: Any) -> bool:
    """Equal answers: numbers within TOLERANCE, strings and labels exactly, objects (class
    probabilities, a pipeline's label and score) and lists element by element."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(same(a[k], b[k]) for k in a))
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list) and any(
            isinstance(v, (dict, str, list)) for v in a):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                equal_nan=True, **TOLERANCE))
    except (TypeError, ValueError):
        return bool(a == b)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
