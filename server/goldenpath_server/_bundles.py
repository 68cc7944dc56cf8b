"""The artifact store: bundles arrive as untrusted bytes and are kept by content address.

Uploads stream to a temp file while hashing (bounded memory), are checked as archives
WITHOUT unpickling anything (the server never loads user models: only YAML/JSON metadata is
read), then move into place atomically. A half-received upload never becomes visible.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from goldenpath.errors import InvalidBundle, PayloadTooLarge


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


class ArtifactStore:
    """Content-addressed bundles on local disk: `sha256/<hex>.bento` and `unpacked/<hex>/`."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        for sub in ("tmp", "sha256", "unpacked"):
            (root / sub).mkdir(parents=True, exist_ok=True)

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
                safe_extract(archive, staging, self.max_bytes * 4)
                shutil.rmtree(target, ignore_errors=True)
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        try:
            return read_bundle_info(target, digest, size)
        except InvalidBundle:
            shutil.rmtree(target, ignore_errors=True)
            raise


def safe_extract(archive: Path, dest: Path, max_unpacked: int) -> None:
    """Extract a tar archive, refusing anything that could escape `dest` or explode in size."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            total = 0
            for member in members:
                _check_member(member)
                total += member.size
                if total > max_unpacked:
                    raise PayloadTooLarge(
                        f"bundle unpacks to more than {max_unpacked} bytes",
                        "this looks like an archive bomb; send the archive bentoml exported")
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise InvalidBundle(f"the bundle is not a readable archive ({exc})",
                            "send the file written by `bentoml export` or gp.deploy; it may "
                            "have been truncated in transit") from None


def _check_member(member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise InvalidBundle(f"archive entry {member.name!r} points outside the bundle",
                            "bundles may only hold relative paths without '..'")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        resolved = (path.parent / target) if member.issym() else target
        if target.is_absolute() or ".." in PurePosixPath(*resolved.parts).parts:
            raise InvalidBundle(f"archive link {member.name!r} -> {member.linkname!r} escapes "
                                "the bundle", "bundles may not contain links outside themselves")
    elif not (member.isfile() or member.isdir()):
        raise InvalidBundle(f"archive entry {member.name!r} is a device or fifo",
                            "bundles may only hold regular files and folders")


def read_bundle_info(root: Path, digest: str, size: int) -> BundleInfo:
    """Read bento.yaml and goldenpath.json (plain data formats only)."""
    try:
        bento = yaml.safe_load((root / "bento.yaml").read_text())
    except FileNotFoundError:
        raise InvalidBundle("the archive has no bento.yaml: it is not a BentoML bundle",
                            "build it with gp.deploy or `bentoml build` + `bentoml export`"
                            ) from None
    except yaml.YAMLError as exc:
        raise InvalidBundle(f"bento.yaml is not valid YAML ({exc})", "rebuild the bundle"
                            ) from None
    if not isinstance(bento, dict) or "name" not in bento or "version" not in bento:
        raise InvalidBundle("bento.yaml lacks name/version", "rebuild the bundle")
    metas = sorted((root / "models").glob("*/*/goldenpath.json"))
    schema = json.loads(metas[0].read_text()).get("schema") if metas else None
    requirements_file = root / "env" / "python" / "requirements.txt"
    requirements = (requirements_file.read_text().split() if requirements_file.exists() else [])
    return BundleInfo(
        digest=digest, size=size, bento_tag=f"{bento['name']}:{bento['version']}",
        name=str(bento["name"]), labels={str(k): str(v) for k, v in
                                         (bento.get("labels") or {}).items()},
        schema=schema, requirements=requirements,
        models=[str(m.get("tag")) for m in bento.get("models") or []])


def _hex(digest: str) -> str:
    hexpart = digest.removeprefix("sha256:")
    if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise InvalidBundle(f"{digest!r} is not a sha256 digest", "use sha256:<64 hex digits>")
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
