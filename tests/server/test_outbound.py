"""The server calls no loopback, link-local or metadata address unless the platform config
allows it, checked at config load and at connect time; secrets stay out of reprs, logs
and error messages."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from goldenpath import errors
from goldenpath_server import Settings
from goldenpath_server._environments import load_platform_config
from goldenpath_server._outbound import Outbound


@pytest.fixture()
def receiver() -> Iterator[str]:
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://[::1]/hook",
                                 "http://169.254.169.254/latest/meta-data/",
                                 "http://100.100.100.200/meta", "http://0.0.0.0/x"])
def test_a_webhook_to_loopback_link_local_or_metadata_is_refused_at_load(
        tmp_path: Path, url: str) -> None:
    config = tmp_path / "goldenpath.yaml"
    config.write_text(f"environments: {{dev: {{}}}}\nwebhooks: [{{url: '{url}'}}]\n")
    with pytest.raises(errors.ConfigurationError, match="does not call") as err:
        load_platform_config(config, [])
    assert "outbound_allow" in err.value.hint


def test_the_config_can_allow_an_address_by_name(tmp_path: Path) -> None:
    config = tmp_path / "goldenpath.yaml"
    config.write_text("environments: {dev: {}}\noutbound_allow: [127.0.0.1]\n"
                      "webhooks: [{url: 'http://127.0.0.1:9000/hook'}]\n")
    assert load_platform_config(config, []).webhooks[0].url.startswith("http://127.0.0.1")


def test_every_connection_is_checked_where_it_lands(receiver: str) -> None:
    """`localhost` passed no check at load (a name, perhaps resolving elsewhere later); the
    connection it makes lands on loopback and is refused there."""
    with pytest.raises(requests.ConnectionError, match="refused to call localhost"):
        Outbound([]).session().post(receiver, timeout=5)
    assert Outbound(["localhost"]).session().post(receiver, timeout=5).ok
    assert Outbound(["127.0.0.0/8", "::1"]).session().post(receiver, timeout=5).ok


def test_mlflow_on_loopback_needs_allowing_when_a_config_file_is_used(tmp_path: Path) -> None:
    from goldenpath_server import Platform

    config = tmp_path / "goldenpath.yaml"
    config.write_text("environments: {dev: {}}\n")
    with pytest.raises(errors.ConfigurationError, match="GOLDENPATH_MLFLOW_TRACKING_URI"):
        Platform(Settings(home=tmp_path / "home", config=config,
                          mlflow_tracking_uri="http://127.0.0.1:5000"))


def test_secrets_stay_out_of_reprs_and_config_errors(tmp_path: Path) -> None:
    from goldenpath._config import Config

    settings = Settings(home=tmp_path, token="s3cret-token",
                        database_url="postgresql+psycopg://gp:db-pa55@db/gp")
    assert "s3cret-token" not in repr(settings) and "db-pa55" not in repr(settings)
    assert "s3cret-token" not in repr(Config(server="http://x", token="s3cret-token"))
    config = tmp_path / "goldenpath.yaml"
    config.write_text("environments: {dev: {approvals: not-a-number}}\n"
                      "webhooks: [{url: 'https://hooks.example/x', secret: hook-s3cret, "
                      "events: 7}]\n")
    with pytest.raises(errors.ConfigurationError) as err:
        load_platform_config(config, [])
    assert "hook-s3cret" not in str(err.value) and "not-a-number" not in str(err.value)
    assert "approvals" in str(err.value)  # it still says what to fix


def test_the_server_log_holds_no_token(tmp_path: Path) -> None:
    from tests._servers import start_server

    secret = "never-log-this-admin-token"
    server = start_server(tmp_path, {"GOLDENPATH_TOKEN": secret})
    try:
        for bearer in (secret, "a-wrong-token"):
            requests.get(f"{server.url}/api/v1/services",
                         headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
    finally:
        server.stop()
    log = (server.home / "server.log").read_text()
    assert "/api/v1/services" in log  # the requests were logged, their tokens not
    assert secret not in log and "a-wrong-token" not in log
