"""goldenpath_serving — the runtime every goldenpath model bundle runs on.

It is copied into each bundle, so it depends only on bentoml, numpy, cloudpickle and
(when the model uses them) pandas and the model's framework: a bundle runs with stock
`bentoml serve` in an environment that has nothing of goldenpath installed.

Public surface:
    Schema, SchemaError      infer a request schema from a sample, validate payloads
    LoadedModel, load_model  load a saved model directory and predict with JSON in/out
    save_model               write a model directory (cloudpickle + goldenpath.json)
"""

from goldenpath_serving._model import LoadedModel, load_model, save_model
from goldenpath_serving._schema import Schema, SchemaError

__all__ = ["LoadedModel", "Schema", "SchemaError", "load_model", "save_model"]
