"""The init container's fetch step on its own: digest check, safe unpack (also on Python
3.11.2, the runtime image's, which has no tarfile filters), pins against installed versions.
The same code runs in the real node's pods (test_real_node.py)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from goldenpath_serving import fetch


def _bundle(requirements: str, extra: tarfile.TarInfo | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in (("bento.yaml", "service: x\n"),
                           ("env/python/requirements.txt", requirements)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if extra is not None:
            archive.addfile(extra)
    return buffer.getvalue()


@pytest.fixture
def serve() -> Iterator[dict[str, bytes]]:
    """A loopback HTTP server answering GET /bundle with whatever the test put there."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body = files[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    files["url"] = f"http://127.0.0.1:{server.server_address[1]}".encode()
    yield files
    server.shutdown()


def _numpy_pin() -> str:
    return f"numpy=={importlib.metadata.version('numpy')}\n"


def test_a_bundle_with_its_digest_and_pins_unpacks(serve: dict[str, bytes],
                                                   tmp_path: Path) -> None:
    body = _bundle(_numpy_pin())
    serve["/b"] = body
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    assert fetch.main([serve["url"].decode() + "/b", digest, str(tmp_path)]) == 0
    assert (tmp_path / "bento.yaml").read_text() == "service: x\n"


def test_a_changed_bundle_is_refused(serve: dict[str, bytes], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    serve["/b"] = _bundle(_numpy_pin())
    assert fetch.main([serve["url"].decode() + "/b", "sha256:" + "0" * 64, str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "bundle digest mismatch" in err and "sha256:" + "0" * 64 in err
    assert not (tmp_path / "bento.yaml").exists()


def test_an_unreachable_server_says_where_it_looked(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # a distinct exit code: maybe only for now (the platform lets the kubelet retry it)
    assert fetch.main(["http://127.0.0.1:9/b", "sha256:" + "0" * 64, str(tmp_path)]) == 75
    assert "could not download the bundle from http://127.0.0.1:9/b" in capsys.readouterr().err


def test_pins_the_image_lacks_name_the_library_and_both_versions(tmp_path: Path) -> None:
    numpy = importlib.metadata.version("numpy")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# pinned at build time\nnumpy==0.0.1\n{_numpy_pin()}"
                            "no-such-dist-here==1.2.3 ; python_version >= '3'\n")
    with pytest.raises(fetch.FetchError) as wrong:
        fetch.check_requirements(requirements)
    assert f"numpy 0.0.1 (the image has {numpy})" in str(wrong.value)
    assert "no-such-dist-here 1.2.3 (the image has none)" in str(wrong.value)
    assert "scripts/image/build.sh" in str(wrong.value)


def test_a_local_build_label_is_the_same_release(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(_numpy_pin().strip() + "+cpu\n")
    fetch.check_requirements(requirements)


@pytest.mark.parametrize("filtered", [True, False], ids=["tarfile-filter", "python-3.11.2"])
@pytest.mark.parametrize("entry", ["../escape", "link-out", "device"])
def test_unsafe_entries_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    filtered: bool, entry: str) -> None:
    if not filtered:  # the runtime image's Python has no tarfile.data_filter
        monkeypatch.delattr(tarfile, "data_filter")
    member = tarfile.TarInfo(entry)
    if entry == "link-out":
        member.type, member.linkname = tarfile.SYMTYPE, "../../etc/passwd"
    elif entry == "device":
        member.type, member.devmajor, member.devminor = tarfile.CHRTYPE, 1, 3
    archive = tarfile.open(fileobj=io.BytesIO(_bundle(_numpy_pin(), member)))
    with pytest.raises((fetch.FetchError, tarfile.FilterError)):
        fetch.extract_safely(archive, tmp_path / "bundle")
    assert not (tmp_path / "escape").exists()
