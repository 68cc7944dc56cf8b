"""The server's own parity check: before a release gets traffic, replay the notebook's
sample against it over HTTP and compare with the notebook's answer (every output).

The serving runtime replays it too when it loads, but that runs beside the model's code,
which could fake it; this check is the server's, so its result is verified evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests

from goldenpath_server.targets._base import TargetError
from goldenpath_serving._parity import answer_differences, describe


def verify(url: str, case: dict[str, Any], http: Any = requests, timeout: float = 60.0,
           **request: Any) -> dict[str, Any]:
    """POST the sample to `url`/predict; the result, or TargetError(code=parity_failed)."""
    rows = len(case["outputs"])
    try:
        response = http.post(f"{url.rstrip('/')}/predict", json={"inputs": case["inputs"]},
                             timeout=timeout, **request)
    except requests.RequestException as exc:
        raise TargetError(f"parity check: the new release did not answer /predict ({exc})",
                          code="parity_failed") from None
    if response.status_code != 200:
        raise TargetError(f"parity check: the new release answered the notebook's sample "
                          f"with HTTP {response.status_code}: {response.text[:500]}",
                          code="parity_failed")
    try:
        answered = response.json()
    except ValueError:
        answered = response.text[:200]
    diffs = answer_differences(case, answered)
    if diffs:
        raise TargetError(describe(diffs, rows), code="parity_failed",
                          details={"differences": diffs[:10], "rows": rows})
    return {"passed": True, "rows": rows, "at": datetime.now(UTC).isoformat()}
