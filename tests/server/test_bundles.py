"""Hostile and broken archives are refused with a clear error; nothing half-written stays."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from goldenpath import errors
from goldenpath_server import Platform, Settings

BENTO_YAML = b"name: evil\nversion: v1\nservice: service:Svc\n"


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, sym: bool = True) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE if sym else tarfile.LNKTYPE
    info.linkname = target
    return info, None


@pytest.fixture()
def platform(tmp_path: Path) -> Platform:
    settings = Settings(home=tmp_path / "home", max_bundle_bytes=64 * 1024)
    core = Platform(settings)
    core.start()
    yield core
    core.close()


def _upload(platform: Platform, data: bytes) -> dict:
    upload = platform.artifacts.begin_upload()
    try:
        for i in range(0, len(data), 1000):
            upload.write(data[i:i + 1000])
        return platform.releases.create_model_release("evil", upload, actor="tester")
    finally:
        upload.abort()


def _assert_nothing_kept(platform: Platform) -> None:
    root = platform.artifacts.root
    assert list((root / "tmp").iterdir()) == []
    assert list((root / "sha256").iterdir()) == []
    assert list((root / "unpacked").iterdir()) == []
    assert platform.releases.list_services() == []


@pytest.mark.parametrize(("archive", "message"), [
    (_tar([_file("bento.yaml", BENTO_YAML), _file("../escape.txt")]), "outside the bundle"),
    (_tar([_file("bento.yaml", BENTO_YAML), _file("/etc/cron.d/evil")]), "outside the bundle"),
    (_tar([_file("bento.yaml", BENTO_YAML), _link("src/link", "../../../etc/passwd")]),
     "is a link"),
    (_tar([_file("bento.yaml", BENTO_YAML), _link("src/abs", "/etc/passwd")]),
     "is a link"),
    (_tar([_file("bento.yaml", BENTO_YAML), _link("hard", "/etc/shadow", sym=False)]),
     "is a link"),
    (_tar([_file("README.md")]), "no bento.yaml"),
    (_tar([_file("bento.yaml", b": : not yaml : [")]), "not valid YAML"),
    (b"this is not an archive at all", "not a readable archive"),
    (_tar([_file("bento.yaml", BENTO_YAML), _file("big", os.urandom(30_000))])[:20_000],
     "not a readable archive"),
])
def test_hostile_or_broken_archive_is_refused(platform: Platform, archive: bytes,
                                              message: str) -> None:
    with pytest.raises(errors.InvalidBundle) as err:
        _upload(platform, archive)
    assert message in err.value.message
    assert err.value.hint
    _assert_nothing_kept(platform)


def test_archive_over_the_limit_is_refused_while_streaming(platform: Platform) -> None:
    with pytest.raises(errors.PayloadTooLarge) as err:
        _upload(platform, b"\0" * (200 * 1024))
    assert err.value.status == 413 and "GOLDENPATH_MAX_BUNDLE_BYTES" in err.value.hint
    _assert_nothing_kept(platform)


def test_archive_bomb_is_refused(platform: Platform) -> None:
    bomb = _tar([_file("bento.yaml", BENTO_YAML), _file("zeros", b"\0" * (1024 * 1024))])
    assert len(bomb) < 64 * 1024  # small on the wire, 1 MiB unpacked > 4 x limit
    with pytest.raises(errors.PayloadTooLarge, match="unpacks to more than"):
        _upload(platform, bomb)
    _assert_nothing_kept(platform)


def test_app_image_without_digest_is_refused(platform: Platform) -> None:
    with pytest.raises(errors.InvalidInput) as err:
        platform.releases.create_app_release("web", "registry.example/web:latest", 8080, actor="ci")
    assert "not pinned by digest" in err.value.message and "@sha256:" in err.value.hint


def test_half_written_upload_from_a_killed_server_is_cleaned_on_start(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    core = Platform(settings)
    upload = core.artifacts.begin_upload()
    upload.write(b"partial bytes")
    upload.close()  # the process "dies" here: no ingest, no abort
    core.close()
    restarted = Platform(settings)
    restarted.start()
    try:
        assert list((restarted.artifacts.root / "tmp").iterdir()) == []
    finally:
        restarted.close()


def _mode(name: str, mode: int, directory: bool = False) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    if directory:
        info.type = tarfile.DIRTYPE
        return info, None
    return info, b"x"


def _fifo(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.FIFOTYPE
    return info, None


def _bento(name: str = "evil", version: str = "v1", extra: str = "") -> bytes:
    return f"name: {name}\nversion: {version}\nservice: service:Svc\n{extra}".encode()


def _model(path: str) -> tuple[tarfile.TarInfo, bytes]:
    return _file(f"models/{path}/goldenpath.json", b'{"schema": null}')


HOSTILE = {
    # member names that are not plain relative POSIX paths
    "backslash": (_tar([_file("bento.yaml", BENTO_YAML), _file("src\\..\\evil.py")]),
                  "backslashes"),
    "control character": (_tar([_file("bento.yaml", BENTO_YAML), _file("src/a\nb")]),
                          "control characters"),
    "empty component": (_tar([_file("bento.yaml", BENTO_YAML), _file("src//evil.py")]),
                        "not a plain relative path"),
    "dot component": (_tar([_file("bento.yaml", BENTO_YAML), _file("src/./evil.py")]),
                      "not a plain relative path"),
    "long component": (_tar([_file("bento.yaml", BENTO_YAML), _file("a" * 300)]),
                       "not a plain relative path"),
    "fifo": (_tar([_file("bento.yaml", BENTO_YAML), _fifo("src/pipe")]), "fifo"),
    # special mode bits
    "setuid": (_tar([_file("bento.yaml", BENTO_YAML), _mode("src/run", 0o4755)]), "setuid"),
    "setgid": (_tar([_file("bento.yaml", BENTO_YAML), _mode("src/run", 0o2755)]), "setuid"),
    "sticky folder": (_tar([_file("bento.yaml", BENTO_YAML), _mode("src", 0o1777, True)]),
                      "sticky"),
    # bento metadata with path-like or oversized names and versions, hostile labels
    "path-like name": (_tar([_file("bento.yaml", _bento(name="../../etc"))]),
                       "is not a bento tag part"),
    "oversized name": (_tar([_file("bento.yaml", _bento(name="a" * 200))]),
                       "is not a bento tag part"),
    "path-like version": (_tar([_file("bento.yaml", _bento(version="v1/../../x"))]),
                          "is not a bento tag part"),
    "label key": (_tar([_file("bento.yaml", _bento(extra="labels: {'a b': c}\n"))]),
                  "label 'a b' is not allowed"),
    "label value": (_tar([_file("bento.yaml", _bento(extra=f"labels: {{k: {'v' * 2000}}}\n"))]),
                    "is not allowed"),
    "requirement URL": (_tar([_file("bento.yaml", BENTO_YAML), _file(
        "env/python/requirements.txt", b"evil @ https://evil.example/evil.whl\n")]),
        "not requirements"),
    # duplicate or case-variant manifests
    "second bento.yaml": (_tar([_file("bento.yaml", BENTO_YAML),
                                _file("./bento.yaml", _bento(name="other"))]), "same path"),
    "case variant": (_tar([_file("bento.yaml", BENTO_YAML), _file("Bento.yaml", BENTO_YAML)]),
                     "differ only in case"),
    "two models": (_tar([_file("bento.yaml", BENTO_YAML), _model("a/v1"), _model("b/v1")]),
                   "2 goldenpath.json manifests"),
}


@pytest.fixture()
def client(platform: Platform) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from goldenpath_server import create_app

    with TestClient(create_app(platform.settings, platform=platform)) as http:
        yield http


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_each_hostile_upload_gets_a_4xx_json_error_and_stores_nothing(
        platform: Platform, client: Any, case: str) -> None:
    archive, message = HOSTILE[case]
    response = client.post("/api/v1/services/evil/releases", content=archive,
                           headers={"Content-Type": "application/octet-stream"})
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["code"] == "invalid_bundle" and message in body["message"], body
    assert body["hint"]
    _assert_nothing_kept(platform)


def test_a_bomb_is_refused_at_its_header_before_the_rest_is_read(platform: Platform) -> None:
    """The zeros cross the limit; what follows them is not even a valid archive. Refused as
    a bomb (not as unreadable): nothing after the crossing member was decompressed."""
    bomb = _tar([_file("bento.yaml", BENTO_YAML), _file("zeros", b"\0" * (1024 * 1024))])
    archive = bomb[:-1024] + os.urandom(4096)  # a corrupt tail after the bomb member
    with pytest.raises(errors.PayloadTooLarge, match="archive bomb"):
        _upload(platform, archive)
    _assert_nothing_kept(platform)


def test_unpacked_bundles_are_readable_by_serving_uids_and_writable_by_none(
        platform: Platform) -> None:
    archive = _tar([_file("bento.yaml", BENTO_YAML), _mode("src/private", 0o600),
                    _mode("models", 0o700, True), _mode("src/tool", 0o777)])
    release = _upload(platform, archive)
    root = platform.artifacts.unpacked_path(release["digest"])
    modes = {p.name: p.stat().st_mode & 0o7777 for p in root.rglob("*")}
    assert modes["private"] == 0o644 and modes["tool"] == 0o755 and modes["models"] == 0o755
