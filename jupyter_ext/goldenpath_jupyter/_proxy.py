"""The proxy's core: one async call to the promotion server (or a live endpoint), no web framework.

Errors come back as ProxyError(status, code, message, hint) — the same JSON shape as the
promotion server's own errors, so the panel shows every failure the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import HTTPInputError, parse_response_start_line

from goldenpath_jupyter._config import GoldenpathJupyter

HOW_TO_CONFIGURE = ("start one with `goldenpath server`, or point JupyterLab at yours: "
                    "set GOLDENPATH_SERVER (and GOLDENPATH_TOKEN) before `jupyter lab`, or "
                    "c.GoldenpathJupyter.server = 'http://...' in jupyter_server_config.py")


class ProxyError(Exception):
    """A failure the browser should show as {code, message, hint} with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)  # passed on to the browser

    def json(self) -> Any:
        return json.loads(self.body or b"null")


# The one route whose answer is not JSON: a drift report, a self-contained HTML page that the
# panel shows in a sandboxed iframe (the server's Content-Security-Policy travels with it).
REPORT_ROUTE = re.compile(r"services/[^/]+/environments/[^/]+/drift/report")
PASSED_HEADERS = ("Content-Security-Policy",)


def is_report(path: str) -> bool:
    return REPORT_ROUTE.fullmatch(path.strip("/")) is not None


def safe_path(path: str) -> str:
    """`path` below /api/v1, each segment re-quoted; refuses `..` and empty segments."""
    segments = path.strip("/").split("/")
    if not path.strip("/") or any(s in ("", ".", "..") for s in segments):
        raise ProxyError(400, "bad_path", f"not a promotion-server API path: {path!r}",
                         "call /goldenpath/api/<resource>, e.g. /goldenpath/api/services")
    return "/".join(quote(s, safe="") for s in segments)


class PromotionServer:
    """Calls the configured server with the token and, where the token may delegate (a
    delegation token) or no token is needed (local mode), the signed-in user's name.

    With a delegation token the panel acts as the signed-in Jupyter user, with that user's
    roles; with an ordinary token it acts as the token's user and names no one else (the
    server refuses a header that names another user)."""

    def __init__(self, config: GoldenpathJupyter) -> None:
        self.config = config
        self._delegates: bool | None = None  # learnt from the server once

    def headers(self, user: str = "", delegate: bool = True) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        name = self.config.user or user
        if name and delegate:
            headers["X-Goldenpath-User"] = name
        return headers

    async def delegates(self) -> bool:
        """May this extension's token act for the signed-in user? (asked once)"""
        if not self.config.token:
            return True  # local mode: the name is only what the audit trail shows
        if self._delegates is None:
            answer = await self._fetch("GET", f"{self.config.base}/api/v1/me", None,
                                       self.headers(delegate=False), where=self.config.base)
            if answer.status != 200:
                return False  # not known yet: act as the token's user, ask again next time
            self._delegates = answer.json().get("token_kind") == "delegation"
        return self._delegates

    async def api(self, method: str, path: str, query: dict[str, str] | None = None,
                  body: bytes | None = None, user: str = "") -> Answer:
        url = f"{self.config.base}/api/v1/{safe_path(path)}"
        if query:
            url += "?" + urlencode(query)
        headers = self.headers(user, delegate=await self.delegates())
        report = method == "GET" and is_report(path)
        if report:
            headers["Accept"] = "text/html"
        answer = await self._fetch(method, url, body, headers, where=self.config.base)
        if answer.content_type.startswith("text/html") and not (report and answer.status == 200):
            raise ProxyError(502, "unexpected_content",
                             f"{self.config.base} answered {path} with an HTML page",
                             "only a drift report may be HTML: check that GOLDENPATH_SERVER "
                             "points at a goldenpath server, not a web page in front of it")
        return answer

    async def whole(self, path: str, key: str, query: dict[str, str] | None = None,
                    user: str = "") -> Answer:
        """A paged listing in one answer, `{key: [every item], "next": null}`: follows the
        server's `next` cursors (the panel shows every service at once)."""
        query = {**(query or {}), "limit": "1000"}
        items: list[Any] = []
        while True:
            answer = await self.api("GET", path, query, user=user)
            if answer.status != 200:
                return answer
            page = answer.json()
            items.extend(page[key])
            if not page.get("next"):  # the last page (or a server that does not page)
                return Answer(200, json.dumps({key: items, "next": None}).encode())
            query["after"] = page["next"]

    async def stream(self, query: dict[str, str], last_event_id: str, user: str,
                     on_chunk: Callable[[bytes], None]) -> Answer | None:
        """Follow GET /api/v1/events/stream, handing each chunk to `on_chunk` as it arrives
        (nothing buffered: the panel refreshes on each event). None when the stream ended;
        the server's answer when it refused (401, 403, ...). `on_chunk` raising (the browser
        went away) ends it too."""
        url = f"{self.config.base}/api/v1/events/stream"
        if query:
            url += "?" + urlencode(query)
        headers = {**self.headers(user, delegate=await self.delegates()),
                   "Accept": "text/event-stream"}
        if last_event_id.isdigit():
            headers["Last-Event-ID"] = last_event_id
        status: list[int] = []
        refused: list[bytes] = []
        unnamed = UnnamedEvents()

        def on_header(line: str) -> None:
            if not status and line.startswith("HTTP/"):
                status.append(parse_response_start_line(line.strip()).code)

        def on_body(chunk: bytes) -> None:
            if status and status[0] != 200:
                refused.append(chunk)
            else:
                on_chunk(unnamed.feed(chunk))

        # an open stream holds a connection for as long as the panel is open: its own client,
        # so it never queues the panel's other requests behind it (max_clients), no timeout
        # after connecting
        client = AsyncHTTPClient(force_instance=True, max_body_size=1 << 40)
        request = HTTPRequest(url, headers=headers, connect_timeout=self.config.timeout,
                              request_timeout=0, follow_redirects=False,
                              header_callback=on_header, streaming_callback=on_body)
        try:
            response = await client.fetch(request, raise_error=False)
        except (OSError, HTTPClientError, HTTPInputError) as exc:
            if status:  # it was open: the stream dropped, the browser reconnects
                return None
            raise ProxyError(502, "server_unreachable",
                             f"could not reach {self.config.base} ({exc})",
                             HOW_TO_CONFIGURE) from None
        finally:
            client.close()
        if response.code == 599:
            if status:
                return None
            raise ProxyError(502, "server_unreachable",
                             f"could not reach {self.config.base} ({response.error})",
                             HOW_TO_CONFIGURE)
        if response.code != 200:
            return Answer(response.code, b"".join(refused),
                          response.headers.get("Content-Type", "application/json"))
        return None

    async def health(self) -> dict[str, Any]:
        """Whether the server answers /healthz, with the URL and, if not, how to fix it."""
        info: dict[str, Any] = {"server": self.config.base, "token": bool(self.config.token),
                                "user": self.config.user}
        try:
            answer = await self._fetch("GET", f"{self.config.base}/healthz", None, {},
                                       where=self.config.base)
        except ProxyError as exc:
            return {**info, "reachable": False, "message": exc.message, "hint": exc.hint}
        ok = answer.status == 200
        return {**info, "reachable": ok,
                "message": "" if ok else f"{self.config.base}/healthz answered {answer.status}",
                "hint": "" if ok else HOW_TO_CONFIGURE}

    async def predict(self, service: str, environment: str, body: bytes, user: str = "") -> Answer:
        """Send a prediction to the service's live endpoint, found through the server."""
        status = await self.api("GET", f"services/{service}/environments/{environment}",
                                user=user)
        if status.status != 200:
            return status
        url = str(status.json().get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ProxyError(409, "no_endpoint", f"{service} has no endpoint in {environment}",
                             "deploy it first, or wait until it is live")
        headers, tls = _kubernetes_route(url)
        return await self._fetch("POST", f"{url.rstrip('/')}/predict", body,
                                 {"Content-Type": "application/json", **headers}, where=url,
                                 **tls)

    async def _fetch(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
                     where: str, **tls: Any) -> Answer:
        if body is not None:
            headers = {"Content-Type": "application/json", **headers}
        elif method in ("POST", "PUT", "PATCH"):
            body = b""
        request = HTTPRequest(url, method=method, headers=headers, body=body,
                              request_timeout=self.config.timeout, follow_redirects=False,
                              allow_nonstandard_methods=True, **tls)
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            raise ProxyError(502, "server_unreachable", f"could not reach {where} ({exc})",
                             HOW_TO_CONFIGURE) from None
        if response.code == 599:
            raise ProxyError(502, "server_unreachable",
                             f"could not reach {where} ({response.error})", HOW_TO_CONFIGURE)
        return Answer(response.code, response.body or b"",
                      response.headers.get("Content-Type", "application/json"),
                      {h: response.headers[h] for h in PASSED_HEADERS if h in response.headers})


class UnnamedEvents:
    """Drops the `event:` line of each server-sent event, so the browser's EventSource hands
    every event to `onmessage` (it has no listener for "any type"; the type stays in the JSON
    data). Complete lines pass at once; only a line cut by a chunk boundary waits for its end."""

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, chunk: bytes) -> bytes:
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        return b"".join(line + b"\n" for line in lines if not line.startswith(b"event:"))


def _kubernetes_route(url: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and TLS options for a Kubernetes deployment reached through the API server's
    service proxy (the Jupyter server user's kubeconfig, as for d.predict()); none otherwise."""
    try:
        from goldenpath.errors import GoldenpathError
        from goldenpath.kube import route as kube_route
    except ImportError:  # the extension runs without the SDK: plain URLs only
        if "/services/" in url and "/proxy" in url:
            raise ProxyError(502, "sdk_missing", f"{url} needs the kubeconfig's credentials",
                             "pip install goldenpath in the Jupyter server's environment") from None
        return {}, {}
    try:
        route = kube_route(url)
    except GoldenpathError as exc:
        raise ProxyError(502, exc.code, exc.message, exc.hint) from None
    if route is None:
        return {}, {}
    return route.headers, {"ca_certs": route.ca_file, "client_cert": route.cert_file,
                           "client_key": route.key_file, "validate_cert": route.verify}
