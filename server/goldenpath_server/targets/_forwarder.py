"""Stable endpoints for the local target: one loopback port per deployment that forwards
TCP connections to whichever serving process currently backs it.

A redeploy starts the new process on its own port, waits until it is ready, then points
the stable port at it; connections already open finish on the old process. The endpoint
URL never changes and never stops accepting connections.

Every byte of every request crosses this relay, in the promotion server's process, so it
is built to cost little CPU: blocking sockets, one thread per direction, and on Linux
`os.splice` moves the bytes kernel-side (no copy into Python, the GIL released meanwhile).
An asyncio stream relay cost ~2x the CPU of the model worker it fronted (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

_CHUNK = 1 << 16
_SPLICE = hasattr(os, "splice")


class Forwarders:
    """One listening socket (and accept thread) per deployment key."""

    def __init__(self) -> None:
        self._backends: dict[str, int] = {}
        self._listeners: dict[str, socket.socket] = {}
        self._lock = threading.Lock()

    def ensure(self, key: str, preferred_port: int | None) -> int:
        """Listen for `key` (on preferred_port if free, else any free port); return the port."""
        with self._lock:
            if key in self._listeners:
                return int(self._listeners[key].getsockname()[1])
            sock = _listen(preferred_port or 0)
            self._listeners[key] = sock
        threading.Thread(target=self._accept, args=(key, sock), name=f"gp-forward-{key}",
                         daemon=True).start()
        return int(sock.getsockname()[1])

    def point(self, key: str, backend_port: int) -> None:
        self._backends[key] = backend_port

    def remove(self, key: str) -> None:
        self._backends.pop(key, None)
        with self._lock:
            sock = self._listeners.pop(key, None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the accept thread (Linux)
            sock.close()

    def close(self) -> None:
        for key in list(self._listeners):
            self.remove(key)

    def _accept(self, key: str, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # removed
            backend = self._backends.get(key)
            if backend is None:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", backend))
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=_relay, args=(client, upstream), daemon=True).start()


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.bind(("127.0.0.1", 0))  # the old port is taken: a new URL beats no URL
    sock.listen(512)
    return sock


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Both directions of one connection; closes both sockets when both are done."""
    answers = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    answers.start()
    _pipe(client, upstream)
    answers.join()
    client.close()
    upstream.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy src → dst until src's end closes, then pass the close on."""
    try:
        if _SPLICE:
            _splice(src, dst)
        else:
            while data := src.recv(_CHUNK):
                dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _splice(src: socket.socket, dst: socket.socket) -> None:
    read_end, write_end = os.pipe()
    try:
        while n := os.splice(src.fileno(), write_end, _CHUNK):
            while n:
                n -= os.splice(read_end, dst.fileno(), n)
    finally:
        os.close(read_end)
        os.close(write_end)
