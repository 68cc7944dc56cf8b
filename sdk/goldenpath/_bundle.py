"""Packaging: a model object becomes a real BentoML bundle.

The bundle is built with BentoML's own API (`bentoml.models.create`, `bentoml.bentos.build`,
`export_bento`), holds the model, the goldenpath_serving runtime source, requirements
pinned to this environment, the sample with the notebook's predictions on it (which
the serving runtime and the server replay: parity) and the reference profile (statistics of
the training data, or the sample, and of the model's predictions on it: profile.json), so
stock `bentoml serve` runs it anywhere those are installed.
"""

from __future__ import annotations

import functools
import importlib.metadata as importlib_metadata
import io
import json
import os
import pickletools
import platform
import re
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

import goldenpath_serving
from goldenpath._kinds import choose_outputs, detect_kind, predict_sample
from goldenpath.errors import InvalidInput, SampleMismatch
from goldenpath_api.rules import SERVICE_NAME, SERVICE_NAME_HINT
from goldenpath_serving import Schema, save_model
from goldenpath_serving._frameworks import answer_json, answer_schema, call, classes_of
from goldenpath_serving._profile import feature_columns, output_column, profile_of
from goldenpath_serving._schema import SchemaError, rows_as_json

_ALWAYS = ("bentoml", "cloudpickle", "numpy")
_OURS = ("goldenpath", "goldenpath_serving")
_SERVICE_PY = '''"""Rendered by goldenpath: serves {model_tag} on the goldenpath_serving runtime."""
from goldenpath_serving.service import model_service

GoldenpathModel = model_service({name!r}, {model_tag!r})
'''
PROFILE_ROWS = 10_000  # the reference rows profiled (and predicted), drawn with PROFILE_SEED
PROFILE_SEED = 0
PROFILE_BYTES = 4 << 20  # the server's bound on profile.json; past it, features are left out
_TRAIN_HINT = ("pass data={'train': X_train} with the sample's columns and dtypes, e.g. "
               "sample=X_train[:5]")


@dataclass
class Bundle:
    """A built bundle: its BentoML tag, the exported archive, and what we learnt building it."""

    name: str
    tag: str
    archive: Path
    kind: str
    schema: Schema
    requirements: list[str]
    sample_inputs: list[Any]
    answer: dict[str, list[Any]]  # the notebook's answer to the sample: every output
    labels: dict[str, str] = field(default_factory=dict)
    profile: dict[str, Any] | None = None  # the reference profile, as profile.json holds it


def check_name(name: str) -> str:
    """`name` if it is a valid service name (the server's rule), else InvalidInput."""
    if not SERVICE_NAME.match(name):
        raise InvalidInput(f"invalid service name {name!r}",
                           f"{SERVICE_NAME_HINT}, e.g. name='churn-model'")
    return name


def default_name(model: Any) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", type(model).__name__.lower()).strip("-") or "model"


def build_bundle(model: Any, name: str, sample: Any, workdir: Path,
                 labels: dict[str, str] | None = None, outputs: Any = None,
                 train: Any = None) -> Bundle:
    """Package `model` as a BentoML bundle in the local BentoML store and export it.

    `train` (a table like the sample) is profiled instead of the sample: SampleMismatch
    before anything is built when its columns or dtypes differ."""
    kind = detect_kind(model)
    check_name(name)
    chosen = choose_outputs(model, kind, outputs)
    classes = classes_of(model) if "predict_proba" in chosen else None
    answer = answer_json(predict_sample(model, kind, sample, chosen), classes)
    schema = Schema.infer(sample)
    profile = reference_profile(model, kind, chosen, classes, schema, sample, answer, train)
    sample_inputs = rows_as_json(sample)
    local_modules = _register_local_code(cloudpickle.dumps(model))
    try:
        return _build(model, name, kind, schema, sample_inputs, answer, workdir, labels,
                      chosen, classes, profile)
    finally:
        for module in local_modules:
            cloudpickle.unregister_pickle_by_value(module)


def training_table(data: dict[str, Any] | None) -> Any:
    """What gp.deploy profiles of its `data=`: the "train" (or "reference") table; None when
    there is none or it is a file path (fingerprinted only)."""
    given = data or {}
    table = next((given[k] for k in ("train", "reference") if k in given), None)
    return None if isinstance(table, str | Path) else table


def reference_profile(model: Any, kind: str, outputs: tuple[str, ...],
                      classes: list[Any] | None, schema: Schema, sample: Any,
                      answer: dict[str, Any], train: Any = None) -> dict[str, Any]:
    """The profile of `train` (at most PROFILE_ROWS of its rows, drawn with a fixed seed)
    and of the model's predictions on them, with the runtime's own call; of the sample and
    its `answer` without one. Statistics only: no row of either is kept."""
    if train is None or schema.kind not in ("dataframe", "ndarray"):
        features, source, total = sample, "sample", len(sample)
    else:
        total = _check_train(schema, train)
        features, source = _draw(train, total), "train"
        try:
            answer = answer_json(call(model, kind, features, outputs), classes)
        except Exception as exc:  # the user's model decides what bad rows raise
            raise SampleMismatch(f"the model cannot predict data['train']: "
                                 f"{type(exc).__name__}: {exc}", _TRAIN_HINT) from exc
    profile = profile_of(feature_columns(schema, features), output_column(answer),
                         source=source)
    profile.update(rows=total, profiled_rows=len(features))
    return profile


def profile_text(profile: dict[str, Any]) -> str:
    """profile.json's text; past PROFILE_BYTES (thousands of columns) without the features
    (counted in `features_left_out`), the predictions' statistics kept."""
    text = json.dumps(profile, allow_nan=False)
    if len(text) > PROFILE_BYTES:
        profile.update(features={}, features_left_out=len(profile["features"]))
        text = json.dumps(profile, allow_nan=False)
    return text


def _check_train(schema: Schema, train: Any) -> int:
    """How many rows `train` has, once its type, columns and dtypes are the sample's."""
    try:
        found = Schema.infer(train)
    except SchemaError as exc:
        raise SampleMismatch(f"data['train'] is not a table of rows: {exc}", _TRAIN_HINT
                             ) from None
    if found.kind != schema.kind:
        raise SampleMismatch(f"data['train'] is a {found.kind}, the sample a {schema.kind}",
                             _TRAIN_HINT)
    if schema.kind == "dataframe":
        expected = {c["name"]: c["dtype"] for c in schema.columns}
        got = {c["name"]: c["dtype"] for c in found.columns}
        if list(expected) != list(got):
            missing = [n for n in expected if n not in got]
            extra = [n for n in got if n not in expected]
            raise SampleMismatch(f"data['train'] columns differ from the sample's: missing "
                                 f"{missing}, unknown {extra}" if missing or extra else
                                 "data['train'] has the sample's columns in another order",
                                 _TRAIN_HINT)
        differ = next((n for n in expected if expected[n] != got[n]), None)
        if differ is not None:
            raise SampleMismatch(f"data['train'] column {differ!r} is {got[differ]}, the "
                                 f"sample's is {expected[differ]}", _TRAIN_HINT)
    elif (found.dtype, found.shape) != (schema.dtype, schema.shape):
        raise SampleMismatch(f"data['train'] rows are {found.dtype} of shape "
                             f"{found.shape[1:]}, the sample's {schema.dtype} of shape "
                             f"{schema.shape[1:]}", _TRAIN_HINT)
    rows = len(train)
    if not rows:
        raise SampleMismatch("data['train'] has no rows", _TRAIN_HINT)
    return rows


def _draw(table: Any, rows: int) -> Any:
    """At most PROFILE_ROWS rows of `table`, drawn without replacement with PROFILE_SEED."""
    if rows <= PROFILE_ROWS:
        return table
    picked = np.sort(np.random.default_rng(PROFILE_SEED).choice(rows, PROFILE_ROWS,
                                                                replace=False))
    return table.iloc[picked] if hasattr(table, "iloc") else np.asarray(table)[picked]


def _build(model: Any, name: str, kind: str, schema: Schema, sample_inputs: list[Any],
           answer: dict[str, list[Any]], workdir: Path, labels: dict[str, str] | None,
           outputs: tuple[str, ...], classes: list[Any] | None,
           profile: dict[str, Any] | None = None) -> Bundle:
    import bentoml

    imported = model_modules(cloudpickle.dumps(model), kind, schema)
    requirements = pinned_requirements(imported)
    all_labels = {"goldenpath.kind": kind, "goldenpath.python": platform.python_version(),
                  **(labels or {})}
    output_schema = answer_schema(answer, classes)
    metadata = {"goldenpath.schema": json.dumps(schema.to_dict()),
                "goldenpath.output_schema": json.dumps(output_schema)}
    with bentoml.models.create(name, module="goldenpath_serving", labels=all_labels,
                               metadata=metadata) as bento_model:
        save_model(model, Path(bento_model.path), kind=kind, schema=schema, outputs=outputs,
                   classes=classes, output_schema=output_schema,
                   parity=(sample_inputs, answer))
        # what the model imports, so whoever serves it can preload that (the local target's
        # warm worker does)
        meta_file = Path(bento_model.path) / "goldenpath.json"
        meta = json.loads(meta_file.read_text())
        meta["modules"] = framework_modules(imported)
        meta_file.write_text(json.dumps(meta, indent=2))
        if profile is not None:  # next to parity.json: covered by the bundle's digest
            (Path(bento_model.path) / "profile.json").write_text(profile_text(profile))
    model_tag = str(bento_model.tag)
    build_ctx = Path(tempfile.mkdtemp(prefix="ctx-", dir=workdir))
    (build_ctx / "service.py").write_text(_SERVICE_PY.format(name=name, model_tag=model_tag))
    runtime_src = Path(goldenpath_serving.__file__).parent
    shutil.copytree(runtime_src, build_ctx / "goldenpath_serving",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # BentoML imports the service module in this process: forget the previous build's copy
    sys.modules.pop("service", None)
    bento = bentoml.bentos.build(
        "service:GoldenpathModel", name=name, labels=all_labels, build_ctx=str(build_ctx),
        include=["service.py", "goldenpath_serving/*.py"],
        python={"packages": requirements, "lock_packages": False},
        docker={"python_version": ".".join(platform.python_version_tuple()[:2])},
        models=[model_tag],
    )
    sys.modules.pop("service", None)
    archive = Path(bentoml.bentos.export_bento(bento.tag, str(workdir / f"{name}.bento")))
    return Bundle(name=name, tag=str(bento.tag), archive=archive,
                  kind=kind, schema=schema, requirements=requirements,
                  sample_inputs=sample_inputs, answer=answer, labels=all_labels,
                  profile=profile)


def model_modules(pickled: bytes, kind: str, schema: Schema) -> set[str]:
    """Dotted modules the model needs to load: those its pickle names, plus what its kind
    and schema imply."""
    modules = {"numpy"} | _pickle_modules(pickled, full=True)
    if schema.kind == "dataframe":
        modules.add("pandas")
    if kind == "pytorch":
        modules.add("torch")
    return modules


def framework_modules(modules: set[str]) -> list[str]:
    """Those of `modules` that installed distributions provide (numpy, sklearn.tree._classes)."""
    dists = _distributions()
    return sorted(m for m in modules if m.split(".")[0] in dists
                  and m.split(".")[0] not in _OURS)


def pinned_requirements(modules: set[str]) -> list[str]:
    """Exact `dist==version` pins for every installed distribution of `modules` (and ours)."""
    dists = _distributions()
    pins: dict[str, str] = {}
    for module in {*_ALWAYS, *(m.split(".")[0] for m in modules)}:
        for dist in dists.get(module, []):
            if dist.lower() in ("goldenpath",):
                continue
            pins[dist] = importlib_metadata.version(dist)
    return sorted(f"{d}=={v}" for d, v in pins.items())


@functools.cache
def _distributions() -> dict[str, list[str]]:
    """module -> distributions; walking every installed package costs ~0.25 s, so once."""
    return dict(importlib_metadata.packages_distributions())


def _register_local_code(pickled: bytes) -> list[Any]:
    """Pickle by value the user's own modules (not installed anywhere), like `__main__`.

    A class defined in `features.py` next to the notebook would otherwise be pickled by
    reference and fail to import where the bundle runs."""
    installed = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib",
                                                    "platlib")}
    registered = []
    for name in _pickle_modules(pickled):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        # a namespace package (a folder of helpers without __init__.py) has only __path__
        paths = [path] if path else list(getattr(module, "__path__", []))
        if module is None or not paths or name in ("goldenpath", "goldenpath_serving"):
            continue
        if not any(os.path.abspath(p).startswith(root) for p in paths for root in installed):
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
    return registered


def _pickle_modules(pickled: bytes, full: bool = False) -> set[str]:
    """Top-level (or `full`: dotted) modules named by GLOBAL/STACK_GLOBAL opcodes, without
    unpickling anything."""
    strings: list[str] = []
    memo: dict[int, str] = {}
    modules: set[str] = set()
    for opcode, arg, _pos in pickletools.genops(io.BytesIO(pickled)):
        name = opcode.name
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            strings.append(str(arg))
        elif name == "MEMOIZE" and strings:
            memo[len(memo)] = strings[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET") and arg in memo:
            strings.append(memo[arg])
        elif name == "GLOBAL":
            modules.add(str(arg).split(" ")[0])
        elif name == "STACK_GLOBAL" and len(strings) >= 2:
            modules.add(strings[-2])
    if not full:
        modules = {m.split(".")[0] for m in modules}
    return {m for m in modules if m and m.split(".")[0] not in sys.builtin_module_names}
