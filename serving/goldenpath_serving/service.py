"""The BentoML service class every model bundle serves.

A bundle's own `service.py` (rendered by goldenpath at build time) only names the model:

    Model = goldenpath_serving.service.model_service("churn", "churn:abc123")

BentoML then gives health (/livez), readiness (/readyz) and Prometheus metrics (/metrics);
this class adds /predict, which validates the body against the schema from the sample and
answers 400 with that schema when it does not fit (never a 500 for bad input).

/predict is an `async def` API: each request is validated on the event loop, then handed to
the adaptive batcher (`_batcher`), which the load-time plan (`_plan`) configures for this
model: batched calls when the per-call cost amortizes, run on the event loop when they are
tiny. BentoML's own `batchable=True` is not used: it passes the concatenated payloads as one
argument, so one bad request would fail the whole batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

import bentoml
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel

from goldenpath_serving._batcher import Batcher
from goldenpath_serving._model import LoadedModel, load_model
from goldenpath_serving._parity import ParityMismatch, report_failure, user_frame
from goldenpath_serving._plan import BATCH_ROWS, plan_for
from goldenpath_serving._schema import SchemaError, to_jsonable


class Predictions(BaseModel):
    """The /predict answer. A pydantic model, so BentoML does not rebuild a JSON schema for
    every response (it does for a plain dict: ~1.4x throughput lost, see docs/benchmarks.md)."""

    predictions: list[Any]


def model_service(name: str, model_tag: str, *, workers: int = 1) -> type:
    """Return a BentoML service class that serves the model `model_tag` as `name`."""

    class GoldenpathModel:
        bento_model = bentoml.models.BentoModel(model_tag)

        def __init__(self) -> None:
            self.loaded: LoadedModel = _load_checked(self.bento_model.path)
            plan = plan_for(self.loaded)
            _memoize_apis(self, ("predict", "schema"))
            self.batcher = Batcher(self.loaded.predict, self.loaded.schema.kind,
                                   max_rows=plan.max_rows, inline_rows=plan.inline_rows)

        @bentoml.api(route="/predict")
        async def predict(self, inputs: Any) -> Predictions:
            rows = len(inputs) if isinstance(inputs, list) else 0
            try:
                if rows <= BATCH_ROWS:
                    features = self.loaded.schema.parse(inputs)
                else:  # a large payload: parse it off the event loop
                    features = await asyncio.to_thread(self.loaded.schema.parse, inputs)
            except SchemaError as exc:
                raise InvalidArgument(str(exc)) from None
            output = await self.batcher.predict(features, rows)
            return Predictions(predictions=to_jsonable(output))

        @bentoml.api(route="/schema")
        async def schema(self) -> dict[str, Any]:
            return self.loaded.schema.to_dict()

    GoldenpathModel.__name__ = GoldenpathModel.__qualname__ = "GoldenpathModel"
    return bentoml.service(name=name, workers=workers, traffic={"timeout": 60},
                           **_tracing_defaults(["/predict", "/schema"]))(GoldenpathModel)


def _load_checked(path: str) -> LoadedModel:
    """Load the model and replay the notebook's sample before this process may report
    ready; say why not in one line the targets read (see _parity.report_failure)."""
    try:
        loaded = load_model(path)
    except Exception as exc:
        report_failure("load_failed", f"the model failed to load: {type(exc).__name__}: "
                       f"{exc}", {"where": user_frame(exc)})
        raise
    try:
        loaded.check_parity()
    except ParityMismatch as exc:
        report_failure("parity_failed", str(exc), {"differences": exc.differences[:10],
                                                   "rows": exc.rows})
        raise
    except Exception as exc:
        report_failure("predict_failed", f"the model failed to predict the notebook's sample: "
                       f"{type(exc).__name__}: {exc}", {"where": user_frame(exc)})
        raise
    return loaded


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
