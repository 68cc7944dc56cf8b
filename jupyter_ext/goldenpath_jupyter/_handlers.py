"""Tornado handlers under /goldenpath/: parse, call the proxy core, map errors to JSON."""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.iostream import StreamClosedError

from goldenpath_jupyter._config import GoldenpathJupyter
from goldenpath_jupyter._proxy import Answer, PromotionServer, ProxyError

# Listings the panel reads whole: asked without limit/after, the proxy follows the pages.
WHOLE = {"services": "services", "inventory": "inventory"}


class _Handler(APIHandler):
    """Shared plumbing: the proxy core, the Jupyter user's name, error mapping."""

    @property
    def proxy(self) -> PromotionServer:
        return self.settings["goldenpath_proxy"]  # type: ignore[no-any-return]

    @property
    def user_name(self) -> str:
        user = self.current_user
        return str(getattr(user, "username", "") or "")

    def reply(self, answer: Answer) -> None:
        self.set_status(answer.status)
        if answer.status == 204 or not answer.body:
            self.finish()
            return
        for name, value in answer.headers.items():  # e.g. a drift report's CSP
            self.set_header(name, value)
        if not answer.content_type.startswith("application/json"):
            self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(answer.body, set_content_type=answer.content_type)

    def fail(self, exc: ProxyError) -> None:
        self.set_status(exc.status)
        self.finish(json.dumps(exc.body()))

    def json_body(self) -> bytes:
        raw = self.request.body or b"{}"
        try:
            json.loads(raw)
        except ValueError:
            raise ProxyError(400, "invalid_json", "the request body is not JSON",
                             "send a JSON object") from None
        return raw


class ConfigHandler(_Handler):
    """GET /goldenpath/config: which server, whether it answers, how to fix it (no token)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        self.finish(json.dumps(await self.proxy.health()))


class ApiHandler(_Handler):
    """/goldenpath/api/<path> -> <server>/api/v1/<path>, with the user's token added. JSON
    only, but for a drift report (HTML, with the server's Content-Security-Policy)."""

    async def _forward(self, method: str, path: str) -> None:
        query = {k: self.get_argument(k) for k in self.request.arguments}
        try:
            body = self.json_body() if method == "POST" else None
            key = WHOLE.get(path.strip("/")) if method == "GET" else None
            if key and not {"limit", "after"} & set(query):  # the panel wants all of it
                answer = await self.proxy.whole(path, key, query, user=self.user_name)
            else:
                answer = await self.proxy.api(method, path, query, body, user=self.user_name)
        except ProxyError as exc:
            self.fail(exc)
            return
        self.reply(answer)

    @tornado.web.authenticated
    async def get(self, path: str) -> None:
        await self._forward("GET", path)

    @tornado.web.authenticated
    async def post(self, path: str) -> None:
        await self._forward("POST", path)

    @tornado.web.authenticated
    async def delete(self, path: str) -> None:
        await self._forward("DELETE", path)


class EventStreamHandler(_Handler):
    """GET /goldenpath/api/events/stream: the server's event stream, passed on chunk by chunk
    as text/event-stream (never buffered), resuming from `after` or Last-Event-ID (which the
    browser's EventSource sends when it reconnects)."""

    _gone = False

    def on_connection_close(self) -> None:
        self._gone = True

    @tornado.web.authenticated
    async def get(self) -> None:
        query = {k: self.get_argument(k) for k in ("service", "after") if self.get_argument(k, "")}
        opened = False

        def on_chunk(chunk: bytes) -> None:
            nonlocal opened
            if self._gone or self.request.connection.stream.closed():  # type: ignore[union-attr]
                raise StreamClosedError()  # ends the server's stream too
            if not opened:
                opened = True
                self.set_header("Content-Type", "text/event-stream")
                self.set_header("Cache-Control", "no-cache")
                self.set_header("X-Accel-Buffering", "no")  # nor any proxy in front of Jupyter
            self.write(chunk)
            self.flush().add_done_callback(lambda done: done.exception())  # a gone browser: _gone

        try:
            refused = await self.proxy.stream(query, self.request.headers.get("Last-Event-ID", ""),
                                              self.user_name, on_chunk)
        except ProxyError as exc:
            self.fail(exc)
            return
        if refused is not None:
            self.reply(refused)
        elif not self._gone:
            self.finish()


class PredictHandler(_Handler):
    """POST /goldenpath/predict/<service>/<env>: a "Try it" request to the live endpoint."""

    @tornado.web.authenticated
    async def post(self, service: str, environment: str) -> None:
        try:
            answer = await self.proxy.predict(service, environment, self.json_body(),
                                              user=self.user_name)
        except ProxyError as exc:
            self.fail(exc)
            return
        self.reply(answer)


def setup_handlers(web_app: Any, config: GoldenpathJupyter) -> None:
    base = url_path_join(web_app.settings["base_url"], "goldenpath")
    web_app.settings["goldenpath_proxy"] = PromotionServer(config)
    web_app.add_handlers(".*$", [
        (url_path_join(base, "config"), ConfigHandler),
        (url_path_join(base, "api", "events", "stream"), EventStreamHandler),  # before api/(.+)
        (url_path_join(base, "api", "(.+)"), ApiHandler),
        (url_path_join(base, "predict", "([^/]+)", "([^/]+)"), PredictHandler),
    ])
