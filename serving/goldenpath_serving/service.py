"""The BentoML service class every model bundle serves.

A bundle's own `service.py` (rendered by goldenpath at build time) only names the model:

    Model = goldenpath_serving.service.model_service("churn", "churn:abc123")

BentoML then gives health (/livez), readiness (/readyz) and Prometheus metrics (/metrics);
this class adds /predict, which validates the body against the schema from the sample and
answers 400 with that schema when it does not fit (never a 500 for bad input).

The request and answer schemas in BentoML's OpenAPI document (/docs.json) are the bundle's
own: the columns, dtypes and categories inferred from the sample, and every output the
deployment chose (read from the bundle's goldenpath.json when the service class is made).

/predict is an `async def` API: each request is validated on the event loop, then handed to
the adaptive batcher (`_batcher`), which the load-time plan (`_plan`) configures for this
model: batched calls when the per-call cost amortizes, run on the event loop when they are
tiny. BentoML's own `batchable=True` is not used: it passes the concatenated payloads as one
argument, so one bad request would fail the whole batch.

/inferences answers the inference log (`_inference_log`) the server pulls: sampled requests
with their request ids (the caller's X-Request-Id, or a new one, returned on the answer).
With the log off (GOLDENPATH_LOG_SAMPLE=0, the default) /predict takes no request context
and adds no header: the log costs one comparison.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import bentoml
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, Field, WithJsonSchema, create_model
from starlette.responses import Response

from goldenpath_serving._batcher import Batcher
from goldenpath_serving._inference_log import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    InferenceLog,
    LogSettings,
    LogSettingsError,
    request_id,
)
from goldenpath_serving._model import META_FILE, LoadedModel, load_model
from goldenpath_serving._parity import (
    ParityMismatch,
    failure_details,
    report_failure,
    report_request_failure,
)
from goldenpath_serving._plan import BATCH_ROWS, plan_for
from goldenpath_serving._schema import Schema, SchemaError
from goldenpath_serving._tail import cancel_request_timers


def model_service(name: str, model_tag: str, *, workers: int = 1) -> type:
    """Return a BentoML service class that serves the model `model_tag` as `name`."""
    cancel_request_timers()  # the one-client tail (see _tail)
    inputs_type, answer_type = _contract(bentoml.models.BentoModel(model_tag))
    log_settings = _log_settings()

    class GoldenpathModel:
        bento_model = bentoml.models.BentoModel(model_tag)

        def __init__(self) -> None:
            self.loaded: LoadedModel = _load_checked(self.bento_model.path)
            plan = plan_for(self.loaded)
            self.log = InferenceLog(log_settings,
                                    columns=[c["name"] for c in self.loaded.schema.columns])
            _memoize_apis(self, ("predict", "schema", "inferences"))
            self.batcher = Batcher(self.loaded.predict, self.loaded.schema.kind,
                                   max_rows=plan.max_rows, inline_rows=plan.inline_rows)
            _settle_heap()

        @bentoml.api(route="/predict")
        @_typed(inputs_type, answer_type, context=log_settings.sample > 0)
        async def predict(self, inputs: Any, ctx: Any = None) -> Any:
            rows = len(inputs) if isinstance(inputs, list) else 0
            try:
                if rows <= BATCH_ROWS:
                    features = self.loaded.schema.parse(inputs)
                else:  # a large payload: parse it off the event loop
                    features = await asyncio.to_thread(self.loaded.schema.parse, inputs)
            except SchemaError as exc:
                raise InvalidArgument(str(exc)) from None
            try:
                output = await self.batcher.predict(features, rows)
                answer = self.loaded.answer(output)
            except Exception as exc:
                report_request_failure(exc)
                raise
            if self.log.sample:
                rid = request_id(ctx.request.headers.get("x-request-id"))
                ctx.response.headers["X-Request-Id"] = rid
                if self.log.wants():
                    self.log.add(rid, inputs, answer)
            return answer_type(**answer)

        @bentoml.api(route="/schema")
        async def schema(self) -> dict[str, Any]:
            return self.loaded.schema.to_dict()

        @bentoml.api(route="/inferences")
        async def inferences(self, after: Annotated[int, Field(ge=0)] = 0,
                             limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
                             ) -> Any:
            """The inference log after seq `after`, for the server to pull (see
            _inference_log); encoded off the event loop, so /predict keeps answering."""
            body = await asyncio.to_thread(self.log.read_json, after, limit)
            return Response(body, media_type="application/json")

    GoldenpathModel.__name__ = GoldenpathModel.__qualname__ = "GoldenpathModel"
    tracing = _tracing_defaults(["/predict", "/schema", "/inferences"])
    return bentoml.service(name=name, workers=workers, traffic={"timeout": 60},
                           **tracing)(GoldenpathModel)


def _contract(model: Any) -> tuple[Any, type[BaseModel]]:
    """The `inputs` annotation and the answer model of /predict, carrying the JSON Schemas of
    the bundle's goldenpath.json. The answer is a pydantic model, so BentoML does not rebuild
    a JSON schema for every response (it does for a plain dict: ~1.4x throughput lost)."""
    stored = model.stored
    meta: dict[str, Any] = {}
    if stored is not None and (Path(stored.path) / META_FILE).exists():
        meta = json.loads((Path(stored.path) / META_FILE).read_text())
    inputs_type: Any = Any
    if meta.get("schema"):
        inputs_type = Annotated[Any, WithJsonSchema(
            Schema.from_dict(meta["schema"]).inputs_schema())]
    answer = (meta.get("output_schema") or {}).get("properties") or {"predictions": {}}
    fields: dict[str, Any] = {
        key: (Annotated[list[Any], WithJsonSchema(prop)] if prop else list[Any], ...)
        for key, prop in answer.items()}
    return inputs_type, create_model("Answer", **fields)


def _typed(inputs_type: Any, answer_type: Any, *, context: bool) -> Callable[[Any], Any]:
    """Give an API function the bundle's types (BentoML reads them from its signature), and
    BentoML's request context as `ctx` only when `context` (it costs every request)."""
    def apply(func: Any) -> Any:
        signature = inspect.signature(func)
        params = [signature.parameters["self"],
                  signature.parameters["inputs"].replace(annotation=inputs_type)]
        if context:
            params.append(signature.parameters["ctx"].replace(annotation=bentoml.Context))
        func.__signature__ = signature.replace(parameters=params,
                                               return_annotation=answer_type)
        return func
    return apply


def _log_settings() -> LogSettings:
    """The inference log's settings from the environment; a bad value stops the start with
    a line the targets show (see _parity.report_failure)."""
    try:
        return LogSettings.from_env()
    except LogSettingsError as exc:
        report_failure("log_settings_invalid", str(exc))
        raise


def _load_checked(path: str) -> LoadedModel:
    """Load the model and replay the notebook's sample before this process may report
    ready; say why not in one line the targets read (see _parity.report_failure)."""
    try:
        loaded = load_model(path)
    except Exception as exc:
        report_failure("load_failed", f"the model failed to load: {type(exc).__name__}: "
                       f"{exc}", failure_details(exc, "load"))
        raise
    try:
        loaded.check_parity()
    except ParityMismatch as exc:
        report_failure("parity_failed", str(exc), {"differences": exc.differences[:10],
                                                   "rows": exc.rows})
        raise
    except Exception as exc:
        report_failure("predict_failed", f"the model failed to predict the notebook's sample: "
                       f"{type(exc).__name__}: {exc}", failure_details(exc, "predict"))
        raise
    return loaded


def _settle_heap() -> None:
    """Move everything alive after start-up (BentoML, the framework, the model: ~1M objects)
    out of the collector's reach. Otherwise each full collection walks all of it while a
    request waits: the 100-250 ms one-client p99 of every BentoML worker (docs/benchmarks.md).
    Objects made later are still collected as usual."""
    gc.collect()
    gc.freeze()


def _memoize_apis(instance: Any, names: tuple[str, ...]) -> None:
    """Keep each bound API on the instance. BentoML 1.4 looks the API up on the instance for
    every request, and its descriptor rebuilds the bound function with `inspect.signature`
    each time (~10 % of a cheap model's CPU); it is a non-data descriptor, so an instance
    attribute holding the very object it returns answers those lookups instead."""
    for name in names:
        setattr(instance, name, getattr(instance, name))


def _tracing_defaults(routes: list[str]) -> dict[str, Any]:
    """Leave `routes` out of OpenTelemetry's ASGI middleware while no trace exporter is
    configured: its spans then go nowhere, yet it costs ~35 % of a cheap model's CPU per
    request. A service config is only a default in BentoML: configuring
    `tracing.exporter_type` (BENTOML_CONFIG) traces them again, as does setting
    `tracing.excluded_urls` yourself (a user setting beats this default)."""
    try:
        from bentoml._internal.configuration.containers import BentoMLContainer

        tracing = BentoMLContainer.config.tracing.get()
    except Exception:  # noqa: BLE001 - another BentoML layout: keep its defaults
        return {}
    if tracing.get("exporter_type"):
        return {}
    return {"tracing": {"excluded_urls": routes}}
