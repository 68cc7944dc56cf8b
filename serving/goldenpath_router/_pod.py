"""The router as a pod of its own, in front of a service's two releases in a cluster without
a service mesh (the Kubernetes target's `NAME-router`, targets/_k8s_router.py):
`python -m goldenpath_router --config FILE` on the serving runtime's image.

What it routes to comes as one JSON document,
    {"version": N, "split": {"weight", "mirror", "compare"},
     "stable": [[HOST, PORT], ...], "candidate": [[HOST, PORT], ...]}
from the file (the ConfigMap `NAME-router`, read at start and whenever it changes: a new
pod starts with the last one) and from the promotion server (PUT /-/router/config, at once;
the ConfigMap reaches running pods only after the kubelet's sync). The newest version wins.

Its own endpoints are under /-/router/ and never passed on. Except `ready`, they need the
key in the pod's GOLDENPATH_ROUTER_KEY (the Secret `NAME-router`, made per rollout) in the
X-Goldenpath-Router-Key header: the router holds no credential of the platform, and nobody
who can reach the service can change its split or read its answers.
    GET  /-/router/ready     200 once it knows a stable address, else 503
    GET  /-/router/window    {"version", "window": the raw window (_metrics.Window.raw)}, reset
    PUT  /-/router/config    the document above
    POST /-/router/answers   {"ids": [...]} -> {"answers": {id: {"stable": [...], ...}}}
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from goldenpath_router._framing import Message, error_answer, header, json_answer
from goldenpath_router._proxy import ADMIN_PREFIX, Route, Router, Split
from goldenpath_router._upstream import Address

log = logging.getLogger("goldenpath.router")
KEY = "default"  # the pod routes one service
KEY_HEADER = b"x-goldenpath-router-key"
_POLL_S = 1.0


class ConfigError(ValueError):
    """A config document this router cannot use."""


def parse_config(raw: Any) -> tuple[int, Split, list[Address], list[Address]]:
    """(version, split, stable addresses, candidate addresses) of a config document."""
    try:
        split = raw.get("split") or {}
        weight = float(split.get("weight", 0.0))
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"split.weight {weight} is not between 0 and 1")
        stable, candidate = ([(str(h), int(p)) for h, p in raw.get(side) or []]
                             for side in ("stable", "candidate"))
        return (int(raw.get("version", 0)),
                Split(weight=weight, mirror=bool(split.get("mirror", False)),
                      compare=bool(split.get("compare", True))), stable, candidate)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ConfigError(f"not a router config ({exc}): see goldenpath_router/_pod.py") \
            from None


def configure(route: Route, raw: Any) -> bool:
    """Take `raw` unless the route has a newer version (on the loop's thread)."""
    version, split, stable, candidate = parse_config(raw)
    if version < route.version:
        return False
    route.point(stable, candidate)
    route.split, route.version = split, version
    return True


class PodRouter:
    """One router listening on all interfaces for one service."""

    def __init__(self, port: int, config: Path | None, key: str) -> None:
        self.router, self.config, self.key = Router(), config, key.encode()
        self.port = self.router.open(KEY, [], [], Split(), host="0.0.0.0", port=port,
                                     admin=self.admin)
        self._seen = 0.0
        self.stopping = threading.Event()
        self.reload()

    def reload(self) -> None:
        """Read the config file if it changed (a ConfigMap swaps a symlink: a new mtime)."""
        if self.config is None:
            return
        try:
            mtime = self.config.stat().st_mtime
            if mtime == self._seen:
                return
            raw = json.loads(self.config.read_text())
            self._seen = mtime
            if self.router.apply(KEY, lambda route: configure(route, raw)):
                log.info("config version %s from %s", raw.get("version"), self.config)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:  # ConfigError too: keep what it routes by now
            log.warning("%s: %s", self.config, exc)

    def admin(self, route: Route, method: bytes, target: bytes, m: Message) -> Message:
        path = target.split(b"?", 1)[0][len(ADMIN_PREFIX):]
        if path == b"ready":
            ready = bool(route.backends[0].pools)
            return json_answer(b"200 OK" if ready else b"503 Service Unavailable",
                               {"ready": ready, "version": route.version})
        if not self.key or not hmac.compare_digest(header(m, KEY_HEADER), self.key):
            return error_answer(b"403 Forbidden", "forbidden", "this router endpoint needs "
                                "its key", "the promotion server holds it (the Secret of the "
                                "router)")
        try:
            if path == b"window" and method == b"GET":
                return json_answer(b"200 OK", {"version": route.version,
                                               "window": route.swap().raw()})
            if path == b"config" and method == b"PUT":
                taken = configure(route, json.loads(m.body))
                return json_answer(b"200 OK", {"version": route.version, "taken": taken})
            if path == b"answers" and method == b"POST":
                ids = [str(i) for i in json.loads(m.body).get("ids") or []]
                return json_answer(b"200 OK", {"answers": route.answered(ids)})
        except (ValueError, AttributeError) as exc:
            return error_answer(b"400 Bad Request", "bad_request", str(exc),
                                "send the JSON documents of goldenpath_router/_pod.py")
        return error_answer(b"404 Not Found", "not_found", f"no router endpoint "
                            f"{method.decode()} {target.decode(errors='replace')}",
                            "see goldenpath_router/_pod.py")

    def serve_forever(self) -> None:
        while not self.stopping.wait(_POLL_S):
            self.reload()
        # SIGTERM: the pod leaves the Service's endpoints meanwhile; requests in flight end
        time.sleep(1.0)
        self.router.close_all()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m goldenpath_router",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--config", type=Path, default=None,
                        help="the config document's file (the mounted ConfigMap)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    pod = PodRouter(args.port, args.config, os.environ.get("GOLDENPATH_ROUTER_KEY", ""))
    signal.signal(signal.SIGTERM, lambda *_: pod.stopping.set())
    log.info("routing on port %d", pod.port)
    try:
        pod.serve_forever()
    except KeyboardInterrupt:
        pod.router.close_all()
