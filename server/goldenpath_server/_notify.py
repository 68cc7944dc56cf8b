"""Webhooks: every audit event, POSTed as JSON to the configured URLs, signed with HMAC.

    X-Goldenpath-Event:      the event type (promotion_waiting_for_approval, ...)
    X-Goldenpath-Delivery:   the event's sequence number (idempotency key)
    X-Goldenpath-Signature:  sha256=<hex HMAC-SHA256 of the body with the webhook's secret>

Events are read from the audit trail in chain order (the chain's sequence only ever grows in
commit order), so a slow receiver never blocks a promotion and none is skipped while the
server runs. Failed deliveries are retried a few times, then logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import requests

from goldenpath_server._environments import Webhook
from goldenpath_server._settings import redact_url

log = logging.getLogger("goldenpath.webhooks")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """A thread that follows the audit trail and delivers each event to each webhook."""

    def __init__(self, webhooks: list[Webhook],
                 read: Callable[[int, int], list[dict[str, Any]]], head: Callable[[], int],
                 poll_s: float = 0.5, attempts: int = 3,
                 http: requests.Session | None = None) -> None:
        self.webhooks = webhooks
        self._read, self._head = read, head
        self.poll_s, self.attempts = poll_s, attempts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.http = http or requests.Session()  # the platform's: outbound calls checked

    def start(self) -> None:
        if not self.webhooks:
            return
        cursor = self._head()  # deliver what happens from now on
        self._thread = threading.Thread(target=self._run, args=(cursor,), daemon=True,
                                        name="gp-webhooks")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, cursor: int) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                for event in self._read(cursor, 200):
                    cursor = event["seq"]
                    for hook in self.webhooks:
                        if not hook.events or event["type"] in hook.events:
                            self._deliver(hook, event)
            except Exception:  # the sender must outlive any single bad pass
                log.exception("webhook pass failed")

    def _deliver(self, hook: Webhook, event: dict[str, Any]) -> None:
        body = json.dumps(event, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-Goldenpath-Event": event["type"],
                   "X-Goldenpath-Delivery": str(event["seq"]),
                   "X-Goldenpath-Signature": sign(hook.secret.get_secret_value(), body)}
        for attempt in range(self.attempts):
            try:
                if self.http.post(hook.url, data=body, headers=headers, timeout=5).ok:
                    return
            except requests.RequestException:
                pass
            if self._stop.wait(0.5 * 2**attempt):
                return
        log.warning("webhook %s did not accept event %s", redact_url(hook.url), event["seq"])


def sse_frame(event: dict[str, Any]) -> str:
    """One server-sent event: id = chain sequence (resume with Last-Event-ID)."""
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"


__all__ = ["WebhookSender", "sign", "sse_frame"]
