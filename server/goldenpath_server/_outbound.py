"""Calls the server makes itself (webhooks, MLflow): never to loopback, link-local or cloud
metadata addresses unless the platform config allows them by name.

The server holds secrets and sits inside the platform's network: a webhook URL pointing at
127.0.0.1 or 169.254.169.254 would turn it into a proxy for whoever writes the config or
controls that DNS name (server-side request forgery). URLs are checked when the config
loads, and every connection is checked again once it is made (the address actually
connected to), so a DNS name that changes its answer later gains nothing.

    outbound_allow: ["127.0.0.1", "mlflow.internal", "10.1.2.0/24"]   # platform config
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from goldenpath_api.errors import ConfigurationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# cloud metadata services outside the link-local range (AWS IPv6, Alibaba)
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
LOOPBACK = ["127.0.0.0/8", "::1", "localhost"]  # what the embedded default allows


class Outbound:
    """Which addresses the server may call, and a requests Session that holds to it."""

    def __init__(self, allow: list[str]) -> None:
        self.hosts = {a.lower() for a in allow if not _network(a)}
        self.networks = [n for n in (_network(a) for a in allow) if n is not None]

    def blocked(self, address: str, host: str = "") -> bool:
        """Is `address` (connected to for `host`) one the server must not call?"""
        if host.lower() in self.hosts:
            return False
        ip: Address = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.networks):
            return False
        return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast \
            or ip in _METADATA

    def check_url(self, url: str, what: str) -> None:
        """ConfigurationError unless `url` is http(s) to an address the server may call."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{what} {_safe(url)} is not an http(s) URL",
                                     "use https://host/path")
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, None)}
        except OSError:
            return  # not resolvable now: checked again when it connects
        bad = sorted(a for a in addresses if self.blocked(a, parts.hostname))
        if bad:
            raise ConfigurationError(
                f"{what} {_safe(url)} points at {', '.join(bad)}: a loopback, link-local or "
                "metadata address, which the server does not call",
                f"use another address, or allow it explicitly in the platform config: "
                f"outbound_allow: [{parts.hostname}]")

    def session(self) -> requests.Session:
        """A Session whose every connection is checked after it is made."""
        http = requests.Session()
        for scheme in ("http://", "https://"):
            adapter = HTTPAdapter()
            adapter.poolmanager.pool_classes_by_scheme = {  # type: ignore[attr-defined]
                "http": _pool(HTTPConnectionPool, HTTPConnection, self),
                "https": _pool(HTTPSConnectionPool, HTTPSConnection, self)}
            http.mount(scheme, adapter)
        return http


def _pool(pool: type, connection: type, outbound: Outbound) -> type:
    class Guarded(connection):  # type: ignore[valid-type, misc]
        def _new_conn(self) -> Any:
            sock = super()._new_conn()
            address = sock.getpeername()[0]
            if outbound.blocked(address, self.host):
                sock.close()
                raise NewConnectionError(self, f"refused to call {self.host} at {address}: a "
                                         "loopback, link-local or metadata address (see "
                                         "outbound_allow in the platform config)")
            return sock

    return type(f"Guarded{pool.__name__}", (pool,), {"ConnectionCls": Guarded})


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _safe(url: str) -> str:
    """The URL without credentials or query (it may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


__all__ = ["LOOPBACK", "Outbound"]
