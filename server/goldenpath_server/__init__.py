"""goldenpath_server — the promotion server.

    create_app(settings)   the FastAPI application (HTTP layer)
    Platform(settings)     the domain core (releases, deployments, targets), no HTTP in it
    Settings               the one typed settings object (GOLDENPATH_* variables)
    serve(settings)        run it with uvicorn
"""

from goldenpath_server._platform import Platform
from goldenpath_server._settings import Settings
from goldenpath_server.api import create_app


def serve(settings: Settings | None = None) -> None:
    """Run the promotion server in the foreground until interrupted.

    It says where it is in `HOME/server.pid` ({"pid", "url"}) while it runs, which is how
    `goldenpath server stop` and `make stop` find it, however it was started."""
    import json
    import os

    import uvicorn

    settings = settings or Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    pid_file = settings.home / "server.pid"
    pid_file.write_text(json.dumps({"pid": os.getpid(), "url": settings.public_url()}))
    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level="info", timeout_graceful_shutdown=10)
    finally:
        try:
            if json.loads(pid_file.read_text()).get("pid") == os.getpid():
                pid_file.unlink()
        except (OSError, ValueError):
            pass


__all__ = ["Platform", "Settings", "create_app", "serve"]
