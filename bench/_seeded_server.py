"""The promotion server exactly as `goldenpath server` runs it (create_app + uvicorn, same
options), except that every environment's Target is a stand-in that reports the seeded
deployments healthy. Without it the local target's monitor would try to restart 1,400
seeded "live" deployments that have no process. Routes, store and SQLite are the product's.

    .venv/bin/python bench/_seeded_server.py --home DIR --port N [--no-listing-cache]

--no-listing-cache builds every inventory and service listing anew (the cache-miss path);
ETags and 304s still work.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from goldenpath_server import Platform, Settings, create_app
from goldenpath_server.api._listing import ListingCache


class StaticTarget:
    """Reports every deployment healthy; deploying answers at once."""

    name = "static"

    def deploy(self, rollout: Any, state: dict[str, Any], progress: Any) -> dict[str, Any]:
        return {**state, "url": f"http://{rollout.key}.invalid"}

    adopt = deploy

    def health(self, state: dict[str, Any]) -> tuple[bool, str]:
        return True, "static"

    def logs(self, state: dict[str, Any], tail: int) -> list[str]:
        return []

    def stop(self, state: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def _log_gc_pauses() -> None:
    """Diagnostic: print every garbage collection that stops the process for over 5 ms."""
    import gc
    import sys
    import time

    started: list[float] = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif (pause := (time.perf_counter() - started[0]) * 1000) > 5:
            print(f"gc gen{info['generation']} {pause:.0f} ms "
                  f"({info['collected']} collected)", file=sys.stderr, flush=True)

    gc.callbacks.append(callback)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--home", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--no-listing-cache", action="store_true")
    p.add_argument("--gc-log", action="store_true", help="log collections longer than 5 ms")
    a = p.parse_args()
    if a.gc_log:
        _log_gc_pauses()
    settings = Settings(home=a.home, port=a.port)
    target = StaticTarget()
    platform = Platform(settings, targets={env: target for env in settings.environments})
    app = create_app(settings, platform)
    if a.no_listing_cache:
        app.state.listing_cache = ListingCache(max_bytes=0)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
