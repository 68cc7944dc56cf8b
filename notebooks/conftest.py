"""nbval runs these notebooks as a user would: nothing configured, so the SDK starts its own
local server. That server gets a private home and port here, and is stopped afterwards."""

from __future__ import annotations

import os
import signal
import socket
import tempfile

import psutil

_home = tempfile.mkdtemp(prefix="goldenpath-notebooks-")
with socket.socket() as _sock:
    _sock.bind(("127.0.0.1", 0))
    _port = _sock.getsockname()[1]
# Set at import time: nbval starts the kernels (which inherit this) before any fixture runs.
os.environ.update(GOLDENPATH_HOME=_home, GOLDENPATH_SERVER=f"http://127.0.0.1:{_port}",
                  GOLDENPATH_AUTOSTART="1", BENTOML_DO_NOT_TRACK="True",
                  BENTOML_HOME=os.path.join(_home, "bentoml"))


def pytest_sessionfinish() -> None:
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if _home in " ".join(proc.info["cmdline"] or []):
            try:
                os.killpg(os.getpgid(proc.info["pid"]), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
