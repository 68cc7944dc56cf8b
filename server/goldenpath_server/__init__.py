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
    """Run the promotion server in the foreground until interrupted."""
    import uvicorn

    settings = settings or Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", timeout_graceful_shutdown=10)


__all__ = ["Platform", "Settings", "create_app", "serve"]
