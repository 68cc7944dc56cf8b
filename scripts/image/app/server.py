"""An example app for the Kubernetes path: answers GET / with JSON saying who it is, GET
/fail with a 500 (for SLO tests and demos), and exports its request counters on /metrics
in the Prometheus convention the platform reads for apps' SLOs: `http_requests_total{code}`
and the histogram `http_request_duration_seconds`."""

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8080"))
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_lock = threading.Lock()
_requests: dict[int, int] = {}
_buckets = [0] * (len(BUCKETS) + 1)  # the last one: +Inf
_seconds = 0.0


def _count(code: int, seconds: float) -> None:
    global _seconds
    with _lock:
        _requests[code] = _requests.get(code, 0) + 1
        for i, bound in enumerate((*BUCKETS, float("inf"))):
            if seconds <= bound:
                _buckets[i] += 1
        _seconds += seconds


def _metrics() -> bytes:
    with _lock:
        lines = ["# TYPE http_requests_total counter"]
        lines += [f'http_requests_total{{code="{c}"}} {n}' for c, n in sorted(_requests.items())]
        lines.append("# TYPE http_request_duration_seconds histogram")
        for bound, n in zip((*BUCKETS, float("inf")), _buckets):
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {n}')
        lines += [f"http_request_duration_seconds_count {_buckets[-1]}",
                  f"http_request_duration_seconds_sum {_seconds}"]
    return ("\n".join(lines) + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path == "/metrics":
            self._send(200, _metrics(), "text/plain; version=0.0.4")
            return
        began = time.perf_counter()
        code = 500 if self.path == "/fail" else 200
        body = json.dumps({"app": "goldenpath-example-app", "path": self.path,
                           "pod": socket.gethostname()}).encode()
        self._send(code, body, "application/json")
        _count(code, time.perf_counter() - began)

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
