"""What the router tests share: real HTTP servers that answer like goldenpath models, and
small waits."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

Predict = Callable[[list[Any]], list[Any]]


class Backend:
    """A serving process stand-in: POST /predict answers predict(inputs); it records what came."""

    def __init__(self, predict: Predict, fail_every: int = 0, delay: float = 0.0) -> None:
        self.predict, self.fail_every, self.delay = predict, fail_every, delay
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                backend.note(self, b"")
                if self.path == "/close-delimited":  # no length, no chunks: ends at close
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b'{"predictions": ["eof"]}')
                    self.close_connection = True
                    return
                self.reply(200, {"status": "ok"})

            def do_POST(self) -> None:
                if self.headers.get("Transfer-Encoding") == "chunked":
                    body = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                n = backend.note(self, body)
                if backend.delay:
                    time.sleep(backend.delay)
                if backend.fail_every and n % backend.fail_every == 0:
                    self.reply(500, {"error": "boom"})
                    return
                answer = {"predictions": backend.predict(json.loads(body)["inputs"])}
                if self.path == "/then-close":  # closes a kept-alive connection, unannounced
                    self.close_connection = True
                if self.path == "/chunked":
                    data = json.dumps(answer).encode()
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (data[:5], data[5:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.reply(200, answer)

            def reply(self, status: int, value: Any) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def note(self, handler: BaseHTTPRequestHandler, body: bytes) -> int:
        with self.lock:
            self.seen.append({"path": handler.path, "body": body,
                              "request_id": handler.headers.get("X-Request-Id")})
            return len(self.seen)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def labels(inputs: list[Any]) -> list[Any]:
    return ["even" if x % 2 == 0 else "odd" for x in inputs]


def post(session: requests.Session, port: int, x: Any, path: str = "/predict",
         **kw: Any) -> requests.Response:
    return session.post(f"http://127.0.0.1:{port}{path}", json={"inputs": [x]}, timeout=10, **kw)


def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def settle() -> None:
    """Let the router read the answers to copies the backend has just written."""
    time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
