"""Unpacking an untrusted archive: one pass, every header checked before its data is read.

What a bundle may hold: plain relative POSIX paths (no `..`, no absolute paths, no
backslashes or control characters, bounded lengths) of regular files and directories with
ordinary permission bits (no setuid, setgid or sticky bit). No links, devices or fifos; no
two members whose paths differ only in case (or not at all), so a second `bento.yaml` can
never replace the first. The unpacked size is bounded, absolutely and relative to the
archive's size, and checked as each header is read: an archive bomb stops at the member
that crosses the line. Files are written by this module (not tarfile's extractall) with
normalised modes: readable by the serving processes, writable by no one but the server.
"""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath

from goldenpath_api.errors import InvalidBundle, PayloadTooLarge

MAX_MEMBERS = 50_000
MAX_PATH, MAX_PART = 1024, 255
MAX_RATIO = 200  # unpacked bytes per archive byte; model pickles compress far less
_CHUNK = 1 << 20


def safe_extract(archive: Path, dest: Path, max_unpacked: int, compressed_size: int) -> None:
    """Extract `archive` into the empty folder `dest`, or raise InvalidBundle (4xx)."""
    limit = min(max_unpacked, max(compressed_size, 1 << 16) * MAX_RATIO)
    seen: dict[str, str] = {}
    total = 0
    try:
        with tarfile.open(archive, mode="r|*") as tar:  # a stream: no seeking back
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise InvalidBundle(f"the bundle has more than {MAX_MEMBERS} entries",
                                        "send the archive bentoml exported")
                path = check_member(member)
                if path is None:  # the archive's root "."
                    continue
                key = path.lower()
                if key in seen:
                    raise InvalidBundle(
                        f"archive entries {seen[key]!r} and {member.name!r} name the same "
                        "path (or differ only in case)",
                        "a bundle holds each file once; send the archive bentoml exported")
                seen[key] = member.name
                total += member.size
                if total > limit:
                    raise PayloadTooLarge(
                        f"the bundle unpacks to more than {limit} bytes ({MAX_RATIO}x its "
                        "size at most): this looks like an archive bomb",
                        "send the archive bentoml exported")
                _write(tar, member, dest / path)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise InvalidBundle(f"the bundle is not a readable archive ({exc})",
                            "send the file written by `bentoml export` or gp.deploy; it may "
                            "have been truncated in transit") from None


def check_member(member: tarfile.TarInfo) -> str | None:
    """The member's relative path if it may be unpacked (None for the root), else raise."""
    name = member.name
    shown = repr(name[:120])
    if len(name) > MAX_PATH or any(ord(c) < 32 or ord(c) == 127 for c in name) or "\\" in name:
        raise InvalidBundle(f"archive entry {shown} has a name that is too long or holds "
                            "control characters or backslashes",
                            "bundles may only hold plain relative POSIX paths")
    if name.startswith("/"):
        raise InvalidBundle(f"archive entry {shown} points outside the bundle",
                            "bundles may only hold relative paths without '..'")
    relative = name.removeprefix("./").rstrip("/") if member.isdir() else name.removeprefix("./")
    if relative in ("", "."):
        if not member.isdir():
            raise InvalidBundle(f"archive entry {shown} is not a file name",
                                "bundles may only hold plain relative POSIX paths")
        return None
    parts = relative.split("/")
    if ".." in parts:
        raise InvalidBundle(f"archive entry {shown} points outside the bundle",
                            "bundles may only hold relative paths without '..'")
    if any(p in ("", ".") or len(p) > MAX_PART for p in parts):
        raise InvalidBundle(f"archive entry {shown} is not a plain relative path",
                            "bundles may only hold plain relative POSIX paths (no '//', "
                            "'/./', or names over 255 characters)")
    if member.issym() or member.islnk():
        raise InvalidBundle(f"archive entry {shown} is a link",
                            "bundles may only hold regular files and folders")
    if not (member.isreg() or member.isdir()):
        raise InvalidBundle(f"archive entry {shown} is a device, fifo or other special file",
                            "bundles may only hold regular files and folders")
    if member.mode & ~0o777:
        raise InvalidBundle(f"archive entry {shown} has mode {oct(member.mode)} (setuid, "
                            "setgid or sticky)", "bundles may only hold files with ordinary "
                            "permissions")
    return str(PurePosixPath(*parts))


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    if member.isdir():
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        return
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    source = tar.extractfile(member)
    assert source is not None
    written = 0
    with open(target, "xb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > member.size:  # the header lied about the size
                raise InvalidBundle(f"archive entry {member.name[:120]!r} is larger than its "
                                    "header says", "send the archive bentoml exported")
            out.write(chunk)
    target.chmod(0o755 if member.mode & 0o100 else 0o644)
