"""What the router measures (_proxy.py): each variant's answers in a window
(counts, latencies, the distribution of its predictions) and the answers both variants gave
to the same requests, compared. Written on the router's event-loop thread only.

A window travels as raw() (counts and samples) from each in-cluster router pod to the
promotion server, which merges them (Window.merge) before it summarizes: percentiles of
several pods cannot be made from each pod's percentiles."""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Iterator
from itertools import zip_longest
from typing import Any

_SAMPLES = 10_000  # latency and value samples kept per variant per window
_MAX_LABELS = 1_000  # distinct labels per window: free-text outputs must not grow memory
_PAIRS = ("pairs", "dropped", "labels", "equal", "floats", "diff")  # Window's pair counts
SKIP: Any = object()  # an answer that is not compared (not 2xx), or a missing element


def _flat(values: list[Any]) -> Iterator[Any]:
    for v in values:
        if isinstance(v, list):
            yield from _flat(v)
        else:
            yield v


def predictions_of(value: Any) -> list[Any]:
    """An answer's predictions, flat (one per input row), or the whole answer."""
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    predictions = value.get("predictions") if isinstance(value, dict) else None
    return list(_flat(predictions)) if isinstance(predictions, list) else [value]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _pct(ordered: list[float], q: int) -> float | None:
    return ordered[min(len(ordered) - 1, len(ordered) * q // 100)] if ordered else None


class _Variant:
    """One release's answers in a window: counts, latencies, prediction distribution."""

    def __init__(self) -> None:
        self.requests = self.errors = self.count = 0
        self.total = 0.0
        self.latency: deque[float] = deque(maxlen=_SAMPLES)
        self.values: deque[float] = deque(maxlen=_SAMPLES)
        self.labels: Counter[str] = Counter()

    def failed(self) -> None:
        self.requests += 1
        self.errors += 1

    def answered(self, status: int, seconds: float, body: bytes) -> Any:
        """Count one answer; return its JSON value (or bytes) to compare, or SKIP."""
        self.requests += 1
        self.latency.append(seconds)
        if not 200 <= status < 300:
            self.errors += status >= 500
            return SKIP
        try:
            value = json.loads(body)
        except ValueError:
            return body
        predictions = value.get("predictions") if isinstance(value, dict) else None
        for v in _flat(predictions) if isinstance(predictions, list) else ():
            if isinstance(v, float):
                self.count, self.total = self.count + 1, self.total + v
                self.values.append(v)
                continue
            label = v if type(v) is str else str(v) if type(v) is int else json.dumps(v)
            self.labels[label if label in self.labels or len(self.labels) < _MAX_LABELS
                        else "(other)"] += 1
        return value

    def raw(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "count": self.count,
                "total": self.total, "latency": list(self.latency),
                "values": list(self.values), "labels": dict(self.labels)}

    def merge(self, raw: dict[str, Any]) -> None:
        self.requests += int(raw["requests"])
        self.errors += int(raw["errors"])
        self.count += int(raw["count"])
        self.total += float(raw["total"])
        self.latency.extend(float(s) for s in raw["latency"])
        self.values.extend(float(v) for v in raw["values"])
        self.labels.update({str(k): int(n) for k, n in raw["labels"].items()})

    def summary(self) -> dict[str, Any]:
        latency, predictions = sorted(self.latency), dict[str, Any]()
        if self.labels:
            predictions["labels"] = dict(self.labels)
        if self.count:
            predictions.update(mean=self.total / self.count, p50=_pct(sorted(self.values), 50),
                               count=self.count)
        return {"requests": self.requests, "errors": self.errors,
                "error_rate": self.errors / self.requests if self.requests else None,
                "latency_ms": {f"p{q}": None if (s := _pct(latency, q)) is None
                               else round(s * 1000, 3) for q in (50, 95, 99)},
                "predictions": predictions}


class Window:
    """What one deployment measured since the last window(): both variants and their pairs."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.variants = (_Variant(), _Variant())
        self.pairs = self.dropped = self.labels = self.equal = self.floats = 0
        self.diff = 0.0

    def compare(self, a: Any, b: Any) -> None:
        """Element-wise agreement of two answers to one request (whole values if not models')."""
        self.pairs += 1
        pa = a.get("predictions") if isinstance(a, dict) else None
        pb = b.get("predictions") if isinstance(b, dict) else None
        if not (isinstance(pa, list) and isinstance(pb, list)):
            self.labels, self.equal = self.labels + 1, self.equal + (a == b)
            return
        for x, y in zip_longest(_flat(pa), _flat(pb), fillvalue=SKIP):
            if (isinstance(x, float) or isinstance(y, float)) and _number(x) and _number(y):
                self.floats, self.diff = self.floats + 1, self.diff + abs(x - y)
            else:
                self.labels, self.equal = self.labels + 1, self.equal + (x == y)

    def raw(self) -> dict[str, Any]:
        """Everything measured, as JSON, for merge() in another process."""
        return {"seconds": time.monotonic() - self.started,
                "variants": [v.raw() for v in self.variants],
                **{k: getattr(self, k) for k in _PAIRS}}

    def merge(self, raw: dict[str, Any]) -> None:
        """Add another router's window of the same period (raw()) to this one."""
        self.started = min(self.started, time.monotonic() - float(raw["seconds"]))
        for variant, measured in zip(self.variants, raw["variants"], strict=True):
            variant.merge(measured)
        for k in _PAIRS:
            setattr(self, k, getattr(self, k) + type(getattr(self, k))(raw[k]))

    def summary(self) -> dict[str, Any]:
        return {"seconds": round(time.monotonic() - self.started, 3),
                "stable": self.variants[0].summary(), "candidate": self.variants[1].summary(),
                "paired": {"requests": self.pairs, "dropped": self.dropped,
                           "agreement": self.equal / self.labels if self.labels else None,
                           "mad": self.diff / self.floats if self.floats else None}}
