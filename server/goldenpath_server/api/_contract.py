"""The API's contract, shared by the route files: documented error answers, parameter types
with the limits the server enforces, non-JSON content types, and the error bodies of
requests that never reach a route (validation, unknown path, wrong method).

A rule the server enforces is stated here, in the OpenAPI document, so that a request the
document allows is never refused for a rule it does not state (tests/contract/)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import Route

from goldenpath_api import rules
from goldenpath_api.models import Error

_WHY = {
    304: "not modified: the If-None-Match ETag is still current (no body)",
    400: "invalid input: the message names the field and what is wrong",
    401: "no API token, or an unknown or revoked one",
    403: "the caller's roles do not allow it (the message names the role needed)",
    404: "no such service, release, environment, promotion, user or token",
    409: "a concurrent change won, or the current state forbids it",
    413: "the archive is larger than the server accepts",
    422: "an enforced policy refused the release (details: the policy results)",
}
READ = (400, 401, 403, 404)  # what any read behind a Viewer may answer
WRITE = (400, 401, 403, 404, 409)  # and a mutation


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status it may answer besides its success, with
    the Error body (304 has none)."""
    return {status: {"description": _WHY[status]} if status == 304 else
            {"model": Error, "description": _WHY[status]} for status in statuses}


class ContractRoute(APIRoute):
    """A route whose response carries the keys the core returned, no more and no fewer:
    an optional field the core left out (a passed policy's `message`) stays out."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)


# -- non-JSON answers ------------------------------------------------------------------
class CSVResponse(Response):
    media_type = "text/csv"


class ArchiveResponse(Response):
    media_type = "application/octet-stream"


class EventStreamResponse(Response):
    media_type = "text/event-stream"


class PrometheusResponse(Response):
    media_type = "text/plain"


def content(media_type: str, description: str, binary: bool = False) -> dict[str, Any]:
    """The 200 entry of `responses=` for a body that is not JSON."""
    schema = {"type": "string", **({"format": "binary"} if binary else {})}
    return {"description": description, "content": {media_type: {"schema": schema}}}


# -- parameters ------------------------------------------------------------------------
_ID = r"^[A-Za-z0-9_-]{1,32}$"
ServiceName = Annotated[str, Path(pattern=rules.SERVICE_NAME_PATTERN, max_length=52,
                                  description="the service: " + rules.SERVICE_NAME_HINT)]
EnvironmentName = Annotated[str, Path(pattern=rules.ENVIRONMENT_NAME_PATTERN, max_length=63,
                                      description="an environment of the promotion path")]
ReleaseId = Annotated[str, Path(pattern=_ID, max_length=32)]
PromotionId = Annotated[str, Path(pattern=_ID, max_length=32)]
TokenId = Annotated[str, Path(pattern=_ID, max_length=32)]
UserName = Annotated[str, Path(pattern=rules.USER_NAME_PATTERN, max_length=200)]
TeamOrAny = Annotated[str, Path(pattern=rf"^\*$|{rules.TEAM_PATTERN}", max_length=63,
                                description="a team, or * for every team")]
BundleDigest = Annotated[str, Path(pattern=rules.BUNDLE_DIGEST_PATTERN, max_length=71,
                                   description=rules.BUNDLE_DIGEST_HINT)]
OptionalTeam = Annotated[str, Query(max_length=63, pattern=rf"^$|{rules.TEAM_PATTERN}")]
EnvironmentFilter = Annotated[str | None, Query(
    max_length=63, pattern=rules.ENVIRONMENT_NAME_PATTERN,
    description="only this environment (404 if the path has no such environment)")]
ServiceFilter = Annotated[str | None, Query(max_length=63, description="only this service")]
PageLimit = Annotated[int, Query(
    ge=1, le=rules.MAX_INT,
    description=f"rows per page; more than {rules.MAX_PAGE} is served as {rules.MAX_PAGE} "
                "(follow `next` for the rest)")]
_CURSOR = "the `next` of the previous page (opaque); leave it out for the first page"
# each listing's cursors are its own (a services cursor is refused by the inventory): the
# formats say so, and tests/contract teaches Schemathesis to make them
ServicesCursor = Annotated[str | None, Query(
    pattern=rules.CURSOR_PATTERN, max_length=2048, description=_CURSOR,
    json_schema_extra={"format": rules.CURSOR_FORMAT + "-services"})]
InventoryCursor = Annotated[str | None, Query(
    pattern=rules.CURSOR_PATTERN, max_length=2048, description=_CURSOR,
    json_schema_extra={"format": rules.CURSOR_FORMAT + "-inventory"})]
Position = Annotated[int, Query(ge=0, le=rules.MAX_INT,
                                description="after this audit event id (0: from the start)")]


PromotionLimit = Annotated[int, Query(
    ge=1, le=rules.MAX_INT,
    description=f"how many, newest first; more than {rules.MAX_PAGE} is served as "
                f"{rules.MAX_PAGE}")]
EventLimit = Annotated[int, Query(
    ge=1, le=rules.MAX_INT,
    description=f"how many, the latest; more than {rules.MAX_PAGE} is served as "
                f"{rules.MAX_PAGE}")]
RolloutLimit = Annotated[int, Query(ge=1, le=500, description="how many, newest first")]
LogTail = Annotated[int, Query(ge=1, le=10_000, description="the last this many lines")]
AuditHeads = Annotated[list[str] | None, Query(
    max_length=100, description="SEQ:HASH heads recorded earlier, outside the database",
    json_schema_extra={"items": {"type": "string", "pattern": rules.AUDIT_HEAD_PATTERN}})]


# -- answers for requests that never reach a route -------------------------------------
_FIELD_HINTS = {
    rules.SERVICE_NAME_PATTERN: rules.SERVICE_NAME_HINT,
    rules.TEAM_PATTERN: rules.TEAM_HINT,
    rf"^$|{rules.TEAM_PATTERN}": rules.TEAM_HINT + ", or leave it empty",
    rf"^\*$|{rules.TEAM_PATTERN}": rules.TEAM_HINT + ", or * for every team",
    rules.ENVIRONMENT_NAME_PATTERN: rules.ENVIRONMENT_NAME_HINT,
    rules.DIGEST_IMAGE_PATTERN: rules.DIGEST_IMAGE_HINT,
    rules.USER_NAME_PATTERN: rules.USER_NAME_HINT,
    rules.BUNDLE_DIGEST_PATTERN: rules.BUNDLE_DIGEST_HINT,
    rules.AUDIT_HEAD_PATTERN: rules.AUDIT_HEAD_HINT,
    rules.CURSOR_PATTERN: rules.CURSOR_HINT,
}
_PLACES = {"body": "", "query": "", "path": "", "header": "header "}


def describe_invalid(exc: RequestValidationError) -> tuple[str, str, list[dict[str, str]]]:
    """A request's validation errors as a person reads them: where, then what is wrong
    (a pattern by what it means, not as a regex); a hint; and one detail per problem."""
    problems, hints, details = [], [], []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        place = _PLACES.get(loc[0], "") if loc else ""
        where = ".".join(p for p in loc[1:] if p) if loc and loc[0] in _PLACES else ".".join(loc)
        where = place + where if where else (
            "the request body" if loc[:1] == ["body"] else "the request")
        pattern = (error.get("ctx") or {}).get("pattern")
        what = str(error.get("msg", "invalid"))
        if pattern is not None:
            hint = _FIELD_HINTS.get(str(pattern), "")
            what = "does not have the expected form" + (f" ({hint})" if hint else
                                                        f" (pattern {pattern})")
            if hint:
                hints.append(hint)
        problems.append(f"{where}: {what}")
        details.append({"field": where, "location": loc[0] if loc else "", "problem": what})
    hint = ("; ".join(dict.fromkeys(hints))
            or "see /docs (or docs/openapi.json) for the request schema")
    return "; ".join(problems), hint, details


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the server takes at `path`, as the document lists them (one path may
    have several routes, GET and DELETE; Starlette's own 405 names the first one's only)."""
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow", None)
    if table is None:
        table = []
        for template, operations in openapi_document(app).get("paths", {}).items():
            regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            methods = {m.upper() for m in operations}
            table.append((re.compile(regex), methods | ({"HEAD"} if "GET" in methods else set())))
        for route in app.routes:  # the document's own routes (/openapi.json, /docs)
            if isinstance(route, Route) and not route.include_in_schema and route.methods:
                table.append((route.path_regex, set(route.methods)))
        app.state.allow = table
    return sorted({m for regex, methods in table if regex.fullmatch(path) for m in methods})


def install(app: FastAPI) -> None:
    """The Error body for invalid requests, unknown paths and methods a path lacks; the
    OpenAPI document that says so."""
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, hint, details = describe_invalid(exc)
        return JSONResponse({"code": "invalid_input", "message": message, "hint": hint,
                             "details": details}, status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(app, request.url.path)
            headers["Allow"] = ", ".join(allowed)
            body = {"code": "method_not_allowed",
                    "message": f"{request.method} is not allowed on {request.url.path}",
                    "hint": f"use {' or '.join(allowed)}"}
        elif exc.status_code == 404:
            body = {"code": "not_found", "message": f"no route {request.url.path}",
                    "hint": "see /docs (or docs/openapi.json) for the API's paths"}
        else:
            body = {"code": "error", "message": str(exc.detail), "hint": ""}
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=headers)
        return JSONResponse(body, status_code=exc.status_code, headers=headers)


# -- the document ----------------------------------------------------------------------
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_COLLAPSED = ("not allowed: with an empty id the path is another route's, which does not take "
              "this method (the Allow header names those it does)")


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, made true to the server: an error answers with the Error body as
    JSON (also where the success is CSV or an archive), and invalid input is a 400 with
    that body (FastAPI would add a 422 with its own validation shape to every route)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes, separate_input_output_schemas=False)
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses", {})
            fastapi_422 = responses.get("422", {}).get("content", {}).get(
                "application/json", {}).get("schema", {}).get("$ref", "")
            if fastapi_422.endswith("/HTTPValidationError"):
                del responses["422"]
            if "{" in path:  # an empty id collapses the path onto another route's
                responses.setdefault("405", {"description": _COLLAPSED})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {"application/json": {"schema": _ERROR_REF}}
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.setdefault("Error", Error.model_json_schema(
        ref_template="#/components/schemas/{model}"))
    app.openapi_schema = doc
    return doc
