"""Hostile and broken archives are refused with a clear error; nothing half-written stays."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

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
        return platform.create_model_release("evil", upload, actor="tester")
    finally:
        upload.abort()


def _assert_nothing_kept(platform: Platform) -> None:
    root = platform.artifacts.root
    assert list((root / "tmp").iterdir()) == []
    assert list((root / "sha256").iterdir()) == []
    assert list((root / "unpacked").iterdir()) == []
    assert platform.list_services() == []


@pytest.mark.parametrize(("archive", "message"), [
    (_tar([_file("bento.yaml", BENTO_YAML), _file("../escape.txt")]), "outside the bundle"),
    (_tar([_file("bento.yaml", BENTO_YAML), _file("/etc/cron.d/evil")]), "outside the bundle"),
    (_tar([_file("bento.yaml", BENTO_YAML), _link("src/link", "../../../etc/passwd")]),
     "escapes the bundle"),
    (_tar([_file("bento.yaml", BENTO_YAML), _link("src/abs", "/etc/passwd")]),
     "escapes the bundle"),
    (_tar([_file("bento.yaml", BENTO_YAML), _link("hard", "/etc/shadow", sym=False)]),
     "escapes the bundle"),
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
        platform.create_app_release("web", "registry.example/web:latest", 8080, actor="ci")
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
