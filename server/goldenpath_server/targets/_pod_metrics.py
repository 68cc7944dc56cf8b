"""A runtime's own request counters (Prometheus text on /metrics), read by the server:
requests, 5xx answers and the latency histogram. A model's are BentoML's, of `/predict`
(`BENTOML`); an app's are the names its environment's config gives (`Scrape`), by default
the Prometheus convention `http_requests_total{code}` and `http_request_duration_seconds`.

Two readers: SLOs (_slo_watch.py: the local process's port, or every pod of the release) and
the analysis of a progressive rollout on Kubernetes (_k8s_delivery.py), which reads every pod
of each variant through the API server's pod proxy and takes the difference between two
readings, pod by pod, as the window: without a mesh the cluster counts no requests per
variant, but each runtime does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from goldenpath_server.targets._pods import running_pods

MAX_METRICS_BYTES = 4 << 20


@dataclass(frozen=True)
class Scrape:
    """Where a runtime's request counters are and what they are called."""

    path: str = "/metrics"
    requests: str = "bentoml_service_request_total"  # a counter labelled by status
    duration: str = "bentoml_service_request_duration_seconds"  # a histogram (seconds)
    status_label: str = "http_response_code"  # 5xx ("500", or "5xx") counts as an error
    endpoint: str | None = "/predict"  # only samples whose `endpoint` label is this


BENTOML = Scrape()


def scrape_for(app_metrics: dict[str, str] | None) -> Scrape:
    """A model's counters (`None`: its runtime's own), or the ones an app exports, named by
    its environment's monitoring.app_metrics (any endpoint)."""
    return BENTOML if app_metrics is None else Scrape(endpoint=None, **app_metrics)


@dataclass
class Counters:
    """Cumulative counts of one process (or a sum of several)."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> answers at most that

    def since(self, earlier: Counters | None) -> Counters:
        """What was counted after `earlier` (a process that restarted counts from zero)."""
        if earlier is None or self.requests < earlier.requests:
            return Counters(self.requests, self.errors, dict(self.buckets))
        return Counters(self.requests - earlier.requests, max(0.0, self.errors - earlier.errors),
                        {le: max(0.0, n - earlier.buckets.get(le, 0.0))
                         for le, n in self.buckets.items()})

    def add(self, other: Counters) -> Counters:
        buckets = dict(self.buckets)
        for le, n in other.buckets.items():
            buckets[le] = buckets.get(le, 0.0) + n
        return Counters(self.requests + other.requests, self.errors + other.errors, buckets)

    def slower_than(self, seconds: float) -> float:
        """Answers slower than `seconds`, from the first bucket at or above it (a boundary
        below it would count answers as slow that were not)."""
        fast = min((b for b in self.buckets if b >= seconds and not math.isinf(b)),
                   default=None)
        counted = self.buckets.get(math.inf, self.requests)
        return max(counted - self.buckets[fast], 0.0) if fast is not None else 0.0

    def quantile(self, q: float) -> float | None:
        """Seconds at quantile q, interpolated within its bucket (PromQL's histogram_quantile)."""
        bounds = sorted(self.buckets)
        total = self.buckets.get(math.inf, 0.0) if bounds else 0.0
        if total <= 0:
            return None
        rank, lower, below = q * total, 0.0, 0.0
        for le in bounds:
            count = self.buckets[le]
            if count >= rank:
                if math.isinf(le):
                    return lower
                inside = count - below
                return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = le, count
        return lower

    def summary(self) -> dict[str, Any]:
        """The shape of the local router's per-variant window (goldenpath_router._metrics)."""
        return {"requests": int(self.requests), "errors": int(self.errors),
                "error_rate": self.errors / self.requests if self.requests else None,
                "latency_ms": {f"p{q}": None if (s := self.quantile(q / 100)) is None
                               else round(s * 1000, 3) for q in (50, 95, 99)},
                "predictions": {}}


def parse(text: str, scrape: Scrape = BENTOML) -> Counters:
    """The request counters in a runtime's Prometheus text; ValueError if it is not that."""
    counters = Counters()
    bucket = scrape.duration + "_bucket"
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if scrape.endpoint is not None and s.labels.get("endpoint") != scrape.endpoint:
                continue
            if s.name == scrape.requests:
                counters.requests += s.value
                if str(s.labels.get(scrape.status_label, "")).startswith("5"):
                    counters.errors += s.value
            elif s.name == bucket:
                bound = float(s.labels.get("le", "inf"))
                counters.buckets[bound] = counters.buckets.get(bound, 0.0) + s.value
    return counters


def process_counters(base: str, scrape: Scrape = BENTOML) -> Counters | None:
    """One local process's counters, from `scrape.path` below `base`; None when it does
    not answer with Prometheus text (it is starting, or going, or exports none)."""
    try:
        with requests.get(base + scrape.path, timeout=5, stream=True) as answer:
            answer.raise_for_status()
            text = answer.raw.read(MAX_METRICS_BYTES, decode_content=True)
        return parse(text.decode("utf-8", "replace"), scrape)
    except (requests.RequestException, ValueError):
        return None


def pod_counters(api: Any, core: Any, namespace: str, release_id: str, port: int,
                 scrape: Scrape = BENTOML) -> dict[str, Counters]:
    """Each running pod of `release_id`'s counters, read through the API server (a pod that
    does not answer is left out: it is starting, or going)."""
    found = {}
    for pod in running_pods(core, namespace, release_id):
        path = (f"/api/v1/namespaces/{namespace}/pods/{pod.metadata.name}:{port}/proxy"
                f"{scrape.path}")
        try:
            request = api.param_serialize("GET", path, header_params={"Accept": "text/plain"},
                                          auth_settings=["BearerToken"])
            response = api.call_api(*request, _request_timeout=10)
            data = response.read()
            if response.status != 200 or len(data) > MAX_METRICS_BYTES:
                continue
            found[pod.metadata.name] = parse(data.decode("utf-8", "replace"), scrape)
        except Exception:  # noqa: BLE001 - the API server's or the pod's refusal alike
            continue
    return found


def window_of(now: dict[str, Counters], before: dict[str, Counters]) -> Counters:
    """The counts of a window: pod by pod since the earlier reading, summed."""
    total = Counters()
    for pod, counters in now.items():
        total = total.add(counters.since(before.get(pod)))
    return total
