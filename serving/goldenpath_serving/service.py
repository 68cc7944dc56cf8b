"""The BentoML service class every model bundle serves.

A bundle's own `service.py` (rendered by goldenpath at build time) only names the model:

    Model = goldenpath_serving.service.model_service("churn", "churn:abc123")

BentoML then gives health (/livez), readiness (/readyz) and Prometheus metrics (/metrics);
this class adds /predict, which validates the body against the schema from the sample and
answers 400 with that schema when it does not fit (never a 500 for bad input).
"""

from __future__ import annotations

from typing import Any

import bentoml
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel

from goldenpath_serving._model import LoadedModel, load_model
from goldenpath_serving._schema import SchemaError


class Predictions(BaseModel):
    """The /predict answer. A pydantic model, so BentoML does not rebuild a JSON schema for
    every response (it does for a plain dict: ~1.4x throughput lost, see docs/benchmarks.md)."""

    predictions: list[Any]


def model_service(name: str, model_tag: str, *, workers: int = 1) -> type:
    """Return a BentoML service class that serves the model `model_tag` as `name`."""

    class GoldenpathModel:
        bento_model = bentoml.models.BentoModel(model_tag)

        def __init__(self) -> None:
            self.loaded: LoadedModel = load_model(self.bento_model.path)

        @bentoml.api(route="/predict")
        def predict(self, inputs: Any) -> Predictions:
            try:
                return Predictions(predictions=self.loaded.predict_json(inputs))
            except SchemaError as exc:
                raise InvalidArgument(str(exc)) from None

        @bentoml.api(route="/schema")
        def schema(self) -> dict[str, Any]:
            return self.loaded.schema.to_dict()

    GoldenpathModel.__name__ = GoldenpathModel.__qualname__ = "GoldenpathModel"
    return bentoml.service(name=name, workers=workers, traffic={"timeout": 60})(GoldenpathModel)
