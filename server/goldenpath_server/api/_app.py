"""Wires the FastAPI application: lifespan, error mapping, routes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from goldenpath_api import __version__, models
from goldenpath_api.errors import GoldenpathError
from goldenpath_server._platform import Platform
from goldenpath_server._settings import Settings
from goldenpath_server.api import _contract
from goldenpath_server.api._access_routes import router as access_router
from goldenpath_server.api._delivery_routes import router as delivery_router
from goldenpath_server.api._event_routes import router as event_router
from goldenpath_server.api._figures_routes import router as figures_router
from goldenpath_server.api._governance_routes import router as governance_router
from goldenpath_server.api._listing import ListingCache
from goldenpath_server.api._monitoring_routes import router as monitoring_router
from goldenpath_server.api._routes import router


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        core = platform or Platform(settings)
        core.start()
        app.state.platform = core
        # What start-up built (~160k objects: FastAPI, pydantic, SQLAlchemy) lives as long as
        # the process; left in the collected generations, every full collection walks it and
        # stalls all requests for 60-250 ms (the p99 of a status read under load).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            core.close()

    # one schema per model (not -Input/-Output twins): clients generate types from it
    app = FastAPI(title="goldenpath promotion server", version=__version__,
                  lifespan=lifespan, separate_input_output_schemas=False,
                  description="The governed path from a notebook model to production. "
                              "Every error answers with the Error body.")
    app.state.listing_cache = ListingCache()

    @app.exception_handler(GoldenpathError)
    async def goldenpath_error(_request: Request, exc: GoldenpathError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    _contract.install(app)

    @app.get("/healthz", response_model=models.Health)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(router)
    app.include_router(governance_router)
    app.include_router(access_router)
    app.include_router(event_router)
    app.include_router(delivery_router)
    app.include_router(monitoring_router)
    app.include_router(figures_router)
    return app
