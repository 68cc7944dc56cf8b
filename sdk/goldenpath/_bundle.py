"""Packaging: a model object becomes a real BentoML bundle.

The bundle is built with BentoML's own API (`bentoml.models.create`, `bentoml.bentos.build`,
`export_bento`), holds the model, the goldenpath_serving runtime source, requirements
pinned to this environment and the sample with the notebook's predictions on it (which
the serving runtime and the server replay: parity), so stock `bentoml serve` runs it
anywhere those are installed.
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

import goldenpath_serving
from goldenpath._kinds import choose_outputs, detect_kind, predict_sample
from goldenpath.errors import InvalidInput
from goldenpath_api.rules import SERVICE_NAME, SERVICE_NAME_HINT
from goldenpath_serving import Schema, save_model
from goldenpath_serving._frameworks import answer_json, answer_schema, classes_of
from goldenpath_serving._schema import rows_as_json

_ALWAYS = ("bentoml", "cloudpickle", "numpy")
_OURS = ("goldenpath", "goldenpath_serving")
_SERVICE_PY = '''"""Rendered by goldenpath: serves {model_tag} on the goldenpath_serving runtime."""
from goldenpath_serving.service import model_service

GoldenpathModel = model_service({name!r}, {model_tag!r})
'''


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


def check_name(name: str) -> str:
    """`name` if it is a valid service name (the server's rule), else InvalidInput."""
    if not SERVICE_NAME.match(name):
        raise InvalidInput(f"invalid service name {name!r}",
                           f"{SERVICE_NAME_HINT}, e.g. name='churn-model'")
    return name


def default_name(model: Any) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", type(model).__name__.lower()).strip("-") or "model"


def build_bundle(model: Any, name: str, sample: Any, workdir: Path,
                 labels: dict[str, str] | None = None, outputs: Any = None) -> Bundle:
    """Package `model` as a BentoML bundle in the local BentoML store and export it."""
    kind = detect_kind(model)
    check_name(name)
    chosen = choose_outputs(model, kind, outputs)
    classes = classes_of(model) if "predict_proba" in chosen else None
    answer = answer_json(predict_sample(model, kind, sample, chosen), classes)
    schema = Schema.infer(sample)
    sample_inputs = rows_as_json(sample)
    local_modules = _register_local_code(cloudpickle.dumps(model))
    try:
        return _build(model, name, kind, schema, sample_inputs, answer, workdir, labels,
                      chosen, classes)
    finally:
        for module in local_modules:
            cloudpickle.unregister_pickle_by_value(module)


def _build(model: Any, name: str, kind: str, schema: Schema, sample_inputs: list[Any],
           answer: dict[str, list[Any]], workdir: Path, labels: dict[str, str] | None,
           outputs: tuple[str, ...], classes: list[Any] | None) -> Bundle:
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
                  sample_inputs=sample_inputs, answer=answer, labels=all_labels)


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
        if module is None or path is None or name in ("goldenpath", "goldenpath_serving"):
            continue
        if not any(os.path.abspath(path).startswith(root) for root in installed):
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
