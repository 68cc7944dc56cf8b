"""The artifact store: bundles arrive as untrusted bytes and are kept by content address.

Uploads stream to a temp file while hashing (bounded memory), are checked as archives
WITHOUT unpickling anything (the server never loads user models: only YAML/JSON metadata is
read), then move into place atomically. A half-received upload never becomes visible.

The archive is read in one pass, member by member (_archive.py): each header is checked
before its data is read, and the size limits hold as it goes, so an archive bomb stops at
the member that crosses the line instead of after everything was decompressed.

A model's reference profile (profile.json: statistics of its training data and predictions,
goldenpath_serving._profile) is checked at ingest as bounded data too; the release keeps a
summary of it, and `ArtifactStore.profile` reads it back for monitoring.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from goldenpath_api.errors import InvalidBundle, PayloadTooLarge
from goldenpath_server._archive import safe_extract

# BentoML's tag rules (name:version), labels and requirements, bounded
_TAG_PART = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,126}[A-Za-z0-9])?$")
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(\[[A-Za-z0-9,._-]{1,100}\])?"
                          r"([=<>!~]=?[A-Za-z0-9.*+!_-]{1,64}(,[=<>!~]=?[A-Za-z0-9.*+!_-]"
                          r"{1,64}){0,4})?$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}(\.[A-Za-z_][A-Za-z0-9_]{0,99}){0,15}$")
MAX_LABELS, MAX_LABEL_VALUE, MAX_MODELS, MAX_REQUIREMENTS = 64, 1024, 16, 500
_META_BYTES = {"bento.yaml": 1 << 20, "goldenpath.json": 1 << 20, "requirements.txt": 64 << 10,
               "parity.json": 8 << 20, "profile.json": 4 << 20}
PROFILE_KINDS = ("numeric", "categorical")
PROFILE_SOURCES = ("train", "sample")
MAX_SUMMARY_FEATURES = 500  # feature names the release's summary lists; the count is whole
_PROFILE_HINT = ("profile.json is written by gp.deploy (goldenpath_serving._profile): rebuild "
                 "the bundle with gp.deploy, and do not edit it")


@dataclass(frozen=True)
class BundleInfo:
    """What the server learns from a bundle's metadata files."""

    digest: str
    size: int
    bento_tag: str
    name: str
    labels: dict[str, str]
    schema: dict[str, Any] | None
    requirements: list[str]
    models: list[str]
    profile: dict[str, Any] | None = None  # profile_summary of its profile.json


class ArtifactStore:
    """Content-addressed bundles on local disk: `sha256/<hex>.bento` and `unpacked/<hex>/`."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        for sub in ("tmp", "sha256", "unpacked"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        # serving processes run as uids of their own: they may open a bundle they are
        # given by path, but list nothing (the archives and temp files stay private)
        for sub, mode in (("", 0o711), ("unpacked", 0o711), ("sha256", 0o700), ("tmp", 0o700)):
            os.chmod(root / sub, mode)

    def clean_partial(self) -> int:
        """Remove uploads that a killed server left half-written; returns how many."""
        leftovers = list((self.root / "tmp").iterdir())
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
        return len(leftovers)

    def archive_path(self, digest: str) -> Path:
        return self.root / "sha256" / f"{_hex(digest)}.bento"

    def unpacked_path(self, digest: str) -> Path:
        return self.root / "unpacked" / _hex(digest)

    def parity_case(self, digest: str) -> dict[str, Any] | None:
        """The notebook's sample and predictions the bundle carries (validated at ingest)."""
        found = sorted((self.unpacked_path(digest) / "models").glob("*/*/parity.json"))
        return json.loads(found[0].read_text()) if found else None

    def profile(self, digest: str) -> dict[str, Any] | None:
        """The reference profile the stored bundle carries (profile.json next to its
        goldenpath.json, read bounded and checked), or None when it has none."""
        metas = sorted((self.unpacked_path(digest) / "models").glob("*/*/goldenpath.json"))
        return read_profile(metas[0].parent / "profile.json") if metas else None

    def begin_upload(self) -> Upload:
        """A new upload, written to a temp file until `ingest` moves it into place."""
        return Upload(self)

    def ingest(self, upload: Upload) -> BundleInfo:
        """Verify a finished upload and keep it under its digest."""
        upload.close()
        if upload.size == 0:
            raise InvalidBundle("the upload was empty", "send the exported .bento archive")
        digest = f"sha256:{upload.hasher.hexdigest()}"
        info = self._unpack(upload.path, digest, upload.size)
        os.replace(upload.path, self.archive_path(digest))
        return info

    def discard(self, digest: str) -> None:
        self.archive_path(digest).unlink(missing_ok=True)
        shutil.rmtree(self.unpacked_path(digest), ignore_errors=True)

    def _unpack(self, archive: Path, digest: str, size: int) -> BundleInfo:
        target = self.unpacked_path(digest)
        if not (target / "bento.yaml").exists():
            staging = Path(tempfile.mkdtemp(dir=self.root / "tmp", suffix=".unpack"))
            try:
                safe_extract(archive, staging, max_unpacked=self.max_bytes * 4,
                             compressed_size=size)
                read_bundle_info(staging, digest, size)  # refused before it is kept
                os.chmod(staging, 0o755)
                shutil.rmtree(target, ignore_errors=True)
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        try:
            return read_bundle_info(target, digest, size)
        except InvalidBundle:
            shutil.rmtree(target, ignore_errors=True)
            raise


def read_bundle_info(root: Path, digest: str, size: int) -> BundleInfo:
    """Read and check bento.yaml, goldenpath.json, requirements.txt and parity.json (plain
    data formats only, each bounded in size and shape)."""
    bento = _yaml(root / "bento.yaml")
    if not isinstance(bento, dict) or "name" not in bento or "version" not in bento:
        raise InvalidBundle("bento.yaml lacks name/version", "rebuild the bundle")
    name, version = str(bento["name"]), str(bento["version"])
    for what, value in (("name", name), ("version", version)):
        if not _TAG_PART.match(value):
            raise InvalidBundle(f"bento.yaml's {what} {value[:80]!r} is not a bento tag part",
                                "use lowercase letters, digits, '.', '_' and '-', at most "
                                "63 characters, as `bentoml build` does")
    labels = _labels(bento.get("labels"))
    models = _models(bento.get("models"))
    metas = sorted((root / "models").glob("*/*/goldenpath.json"))
    if len(metas) > 1:
        raise InvalidBundle(f"the bundle holds {len(metas)} goldenpath.json manifests",
                            "a bundle carries one goldenpath model: rebuild it with gp.deploy")
    meta = _json(metas[0]) if metas else {}
    if not isinstance(meta, dict):
        raise InvalidBundle("goldenpath.json is not a JSON object", "rebuild the bundle")
    schema = meta.get("schema")
    modules = meta.get("modules") or []
    if not isinstance(modules, list) or not all(isinstance(m, str) and _MODULE.match(m)
                                                for m in modules):
        raise InvalidBundle("goldenpath.json lists modules that are not module names",
                            "rebuild the bundle with gp.deploy")
    profile = None
    if metas:
        _check_parity(metas[0].parent / "parity.json")
        profile = read_profile(metas[0].parent / "profile.json")
    return BundleInfo(digest=digest, size=size, bento_tag=f"{name}:{version}", name=name,
                      labels=labels, schema=schema if isinstance(schema, dict) else None,
                      requirements=_requirements(root / "env" / "python" / "requirements.txt"),
                      models=models, profile=profile_summary(profile) if profile else None)


def _read(path: Path) -> str:
    limit = _META_BYTES[path.name]
    if path.stat().st_size > limit:
        raise InvalidBundle(f"{path.name} is larger than {limit} bytes",
                            "a bundle's metadata is small: rebuild it with gp.deploy")
    return path.read_text(encoding="utf-8", errors="strict")


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(_read(path))
    except FileNotFoundError:
        raise InvalidBundle("the archive has no bento.yaml: it is not a BentoML bundle",
                            "build it with gp.deploy or `bentoml build` + `bentoml export`"
                            ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidBundle(f"bento.yaml is not valid YAML ({str(exc)[:200]})",
                            "rebuild the bundle") from None


def _json(path: Path) -> Any:
    try:
        return json.loads(_read(path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidBundle(f"{path.name} is not valid JSON ({str(exc)[:200]})",
                            "rebuild the bundle with gp.deploy") from None


def _labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_LABELS:
        raise InvalidBundle(f"bento.yaml's labels must be a mapping of at most {MAX_LABELS}",
                            "rebuild the bundle")
    labels = {}
    for key, value in raw.items():
        key, value = str(key), "" if value is None else str(value)
        if not _LABEL_KEY.match(key) or len(value) > MAX_LABEL_VALUE or \
                any(ord(c) < 32 and c not in "\t" for c in value):
            raise InvalidBundle(f"bento.yaml label {key[:80]!r} is not allowed: keys are "
                                "letters, digits and . _ / - (at most 128), values at most "
                                f"{MAX_LABEL_VALUE} printable characters", "rebuild the bundle")
        labels[key] = value
    return labels


def _models(raw: Any) -> list[str]:
    models = raw or []
    if not isinstance(models, list) or len(models) > MAX_MODELS:
        raise InvalidBundle(f"bento.yaml's models must be a list of at most {MAX_MODELS}",
                            "rebuild the bundle")
    tags = []
    for model in models:
        tag = str(model.get("tag") if isinstance(model, dict) else model)
        name, _, version = tag.partition(":")
        if not (_TAG_PART.match(name) and (not version or _TAG_PART.match(version))):
            raise InvalidBundle(f"bento.yaml names a model {tag[:80]!r} that is not a tag",
                                "rebuild the bundle")
        tags.append(tag)
    return tags


def _requirements(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = [line.strip() for line in _read(path).splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    bad = [line for line in lines if not _REQUIREMENT.match(line.replace(" ", ""))]
    if bad or len(lines) > MAX_REQUIREMENTS:
        raise InvalidBundle(f"requirements.txt holds lines that are not requirements: "
                            f"{bad[0][:80]!r}" if bad else "requirements.txt is too long",
                            "a bundle's requirements are `name==version` pins, without "
                            "options or URLs; rebuild it with gp.deploy")
    return [line.replace(" ", "") for line in lines]


def _check_parity(path: Path) -> None:
    if not path.exists():
        return
    case = _json(path)
    if not (isinstance(case, dict) and isinstance(case.get("inputs"), list)
            and isinstance(case.get("outputs"), list)
            and len(case["inputs"]) == len(case["outputs"])
            and isinstance(case.get("answer", {}), dict)
            and all(isinstance(rows, list) and len(rows) == len(case["inputs"])
                    for rows in (case.get("answer") or {}).values())):
        raise InvalidBundle("parity.json must hold as many inputs as outputs",
                            "rebuild the bundle with gp.deploy")


def read_profile(path: Path) -> dict[str, Any] | None:
    """profile.json as checked data: a version 1 object whose features (and prediction) are
    stats of a known kind, every number finite; None when the bundle has none."""
    if not path.exists():
        return None

    def refuse(what: str) -> InvalidBundle:
        return InvalidBundle(f"profile.json {what}", _PROFILE_HINT)

    try:
        profile = json.loads(_read(path))  # NaN, Infinity and 1e999 are caught by _finite
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise refuse(f"is not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(profile, dict) or profile.get("version") != 1 or \
            isinstance(profile.get("version"), bool):
        raise refuse("is not a version 1 profile object")
    if profile.get("source") not in PROFILE_SOURCES or not _count(profile.get("rows")):
        raise refuse(f"must name its source ({' or '.join(PROFILE_SOURCES)}) and its rows")
    features = profile.get("features")
    if not isinstance(features, dict):
        raise refuse("features must be an object of per-feature statistics")
    for name, stats in [*features.items(), ("(prediction)", profile.get("prediction"))]:
        if name == "(prediction)" and stats is None:
            continue
        problem = _stats_problem(stats)
        if problem:
            raise refuse(f"feature {str(name)[:80]!r}: {problem}")
    if not _finite(profile):
        raise refuse("holds a number that is not finite")
    return profile


def profile_summary(profile: dict[str, Any]) -> dict[str, Any]:
    """What the release records of its profile: source, rows, each feature's kind."""
    kinds = {name: stats["kind"] for name, stats in profile["features"].items()}
    return {"source": profile["source"], "rows": profile["rows"],
            "profiled_rows": profile.get("profiled_rows", profile["rows"]),
            "feature_count": len(kinds),
            "features": dict(list(kinds.items())[:MAX_SUMMARY_FEATURES]),
            "prediction": (profile.get("prediction") or {}).get("kind")}


def _stats_problem(stats: Any) -> str:
    """What is wrong with one column's statistics ('' when nothing)."""
    if not isinstance(stats, dict) or stats.get("kind") not in PROFILE_KINDS:
        return f"statistics must be an object of kind {' or '.join(PROFILE_KINDS)}"
    if not (_count(stats.get("count")) and _count(stats.get("missing"))):
        return "count and missing must be counts"
    frequencies = stats.get("frequencies", {})
    if not isinstance(frequencies, dict) or not all(_count(v) for v in frequencies.values()):
        return "frequencies must map values to counts"
    if stats["kind"] == "categorical":
        return ""
    histogram = stats.get("histogram")
    if not (isinstance(stats.get("quantiles"), list) and isinstance(histogram, dict)
            and isinstance(histogram.get("edges"), list)
            and isinstance(histogram.get("counts"), list)
            and all(_number(v) for v in [*stats["quantiles"], *histogram["edges"]])
            and all(_count(v) for v in histogram["counts"])):
        return "numeric statistics need quantiles and a histogram (edges, counts) of numbers"
    return ""


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(data: Any) -> bool:
    """Every number in `data` finite (json reads 1e999 as inf), walked without recursion."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return False
    return True


def _hex(digest: str) -> str:
    hexpart = digest.removeprefix("sha256:")
    if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise InvalidBundle(f"{digest[:80]!r} is not a sha256 digest",
                            "use sha256:<64 hex digits>")
    return hexpart


class Upload:
    """A bundle being received: hashed and size-checked as it is written (bounded memory)."""

    def __init__(self, store: ArtifactStore) -> None:
        fd, name = tempfile.mkstemp(dir=store.root / "tmp", suffix=".part")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._max = store.max_bytes
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max:
            raise PayloadTooLarge(
                f"bundle is larger than the server's limit of {self._max} bytes",
                "make the model smaller, or ask the platform team to raise "
                "GOLDENPATH_MAX_BUNDLE_BYTES")
        self.hasher.update(chunk)
        self._file.write(chunk)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def abort(self) -> None:
        """Drop whatever was not ingested (no-op after a successful ingest)."""
        self.close()
        self.path.unlink(missing_ok=True)
