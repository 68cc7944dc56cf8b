"""Init-container step: `python -m goldenpath_serving.fetch URL sha256:HEX DEST`.

Downloads a bundle from the promotion server by content address, refuses it unless its
sha256 matches, unpacks it safely into DEST and checks that this runtime image has the
exact versions of the packages the bundle pins. On failure it exits non-zero with one line
saying what is wrong and what to do; Kubernetes shows that line as the container's
termination message (the template sets FallbackToLogsOnError), so the rollout fails with it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

CHUNK = 1024 * 1024


class FetchError(Exception):
    """The bundle cannot run here; the message says why and what to do."""

    exit_code = 1


class DownloadError(FetchError):
    """The bundle could not be downloaded, maybe only for now (the server restarting):
    a distinct exit code lets the platform give the kubelet's retries a chance."""

    exit_code = 75  # EX_TEMPFAIL


def fetch(url: str, digest: str, dest: Path) -> None:
    """Download, verify, unpack and check the bundle `digest` into `dest`."""
    expected = digest.removeprefix("sha256:")
    hasher = hashlib.sha256()
    # In the temp dir, not next to dest: the root filesystem is read-only in the pod.
    with tempfile.TemporaryFile(suffix=".bento") as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - platform URL
                while chunk := response.read(CHUNK):
                    hasher.update(chunk)
                    tmp.write(chunk)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(f"could not download the bundle from {url}: {reason}. The pod must "
                             "reach the promotion server there: check the environment's "
                             "bundle_base_url and where the server listens") from None
        if hasher.hexdigest() != expected:
            raise FetchError(f"bundle digest mismatch: the server sent sha256:"
                             f"{hasher.hexdigest()}, the release is {digest}; refusing to run "
                             "it (it changed after upload or in transit): upload it again")
        tmp.seek(0)
        with tarfile.open(fileobj=tmp) as archive:
            extract_safely(archive, dest)
    check_requirements(dest / "env" / "python" / "requirements.txt")


def extract_safely(archive: tarfile.TarFile, dest: Path) -> None:
    """Unpack with no path outside dest, no links out, no devices, no setuid bits."""
    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 (Debian 12 has 3.11.2)
        archive.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in archive.getmembers():
        target = (root / member.name).resolve()
        if member.islnk():
            link = (root / member.linkname).resolve()
        elif member.issym():
            link = (target.parent / member.linkname).resolve()
        else:
            link = root
        if not (target.is_relative_to(root) and link.is_relative_to(root)) or \
                member.isdev() or member.isfifo():
            raise FetchError(f"the bundle has an unsafe entry {member.name!r}; refusing it")
        member.mode &= 0o755
    archive.extractall(dest)  # noqa: S202 - every member was checked above


def check_requirements(requirements: Path) -> None:
    """The shared runtime image must carry the versions the model was built and checked with."""
    if not requirements.exists():
        return
    wrong = []
    for name, version in pinned(requirements.read_text()):
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            have = ""
        # a local build label is the same release (torch 2.9.1+cpu for a 2.9.1 pin)
        if have.split("+")[0] != version.split("+")[0]:
            wrong.append(f"{name} {version} (the image has {have or 'none'})")
    if wrong:
        raise FetchError("this runtime image does not have the versions the bundle pins: "
                         + ", ".join(wrong) + ". Point the environment's runtime_image at an "
                         "image built with them (scripts/image/build.sh builds it from the "
                         "environment the model was trained in), or retrain with the image's "
                         "versions")


def pinned(text: str) -> list[tuple[str, str]]:
    """(name, version) of each `name==version` line; extras, markers and comments ignored."""
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*==\s*([^\s,]+)", line)
        if match:
            pins.append((match.group(1), match.group(3)))
    return pins


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m goldenpath_serving.fetch URL sha256:HEX DEST", file=sys.stderr)
        return 2
    try:
        fetch(argv[0], argv[1], Path(argv[2]))
    except FetchError as exc:
        print(f"fetch-bundle: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
