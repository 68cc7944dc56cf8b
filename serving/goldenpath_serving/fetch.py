"""Init-container step: `python -m goldenpath_serving.fetch URL sha256:HEX DEST`.

Downloads a bundle from the promotion server by content address, refuses it unless its
sha256 matches, unpacks it safely into DEST and checks that this runtime image has the
exact framework versions the bundle was built with. Exits non-zero with the reason.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path


def fetch(url: str, digest: str, dest: Path) -> None:
    expected = digest.removeprefix("sha256:")
    hasher = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".bento") as tmp:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - platform URL
            while chunk := response.read(1024 * 1024):
                hasher.update(chunk)
                tmp.write(chunk)
        tmp.flush()
        if hasher.hexdigest() != expected:
            raise SystemExit(f"bundle digest mismatch: got sha256:{hasher.hexdigest()}, "
                             f"expected {digest}; refusing to run it")
        with tarfile.open(tmp.name) as archive:
            archive.extractall(dest, filter="data")
    check_requirements(dest / "env" / "python" / "requirements.txt")


def check_requirements(requirements: Path) -> None:
    """The shared runtime image must carry the versions the model was built and checked with."""
    if not requirements.exists():
        return
    wrong = []
    for line in requirements.read_text().split():
        name, _, version = line.partition("==")
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            have = "missing"
        if version and have != version:
            wrong.append(f"{name}=={version} (image has {have})")
    if wrong:
        raise SystemExit("this runtime image does not match the bundle: " + ", ".join(wrong)
                         + ". Rebuild serving/Dockerfile with these versions, or retrain with "
                         "the image's versions.")


if __name__ == "__main__":
    fetch(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
