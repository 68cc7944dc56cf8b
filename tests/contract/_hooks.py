"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.contract._hooks): how to make the values the
OpenAPI document names by a format JSON Schema cannot spell out.

- a listing's cursor (`goldenpath-cursor-services`, `-inventory`): opaque to clients, it is
  the `next` of an earlier page; here, the encoding of a sort key of the right size;
- an upload's body (application/octet-stream): a .bento archive, i.e. a gzipped tar with a
  bento.yaml (what the server checks at the door; a real model is not needed to accept it).
"""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile

import schemathesis
from hypothesis import strategies as st

from goldenpath_api import rules

_KEY_PART = st.text(min_size=1, max_size=20)


def _cursor(key: tuple[str, ...]) -> str:
    """What the server's `next` holds for a page ending at `key` (api/_listing.py)."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def bento_archive(name: str = "contract", version: str = "v1") -> bytes:
    """The smallest archive the server accepts as a model release."""
    manifest = f"name: {name}\nversion: {version}\nservice: service:Svc\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("bento.yaml")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return buf.getvalue()


schemathesis.openapi.format(rules.CURSOR_FORMAT + "-services",
                            st.tuples(_KEY_PART).map(_cursor))
schemathesis.openapi.format(rules.CURSOR_FORMAT + "-inventory",
                            st.tuples(_KEY_PART, _KEY_PART).map(_cursor))
schemathesis.openapi.media_type("application/octet-stream", st.just(bento_archive()))


_KEY_SIZES = {"/api/v1/services": 1, "/api/v1/inventory": 2}


def _is_cursor(text: str, size: int) -> bool:
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        return False
    return isinstance(key, list) and len(key) == size and all(isinstance(k, str) for k in key)


@schemathesis.hook
def filter_query(ctx: schemathesis.HookContext, query: dict[str, object] | None) -> bool:
    """Drop a generated `after` that has a cursor's characters but is no cursor: its format
    (goldenpath-cursor-*) rules it out, but the coverage phase does not know the format.
    Values with other characters (the negative cases) still go through."""
    size = _KEY_SIZES.get(ctx.operation.path if ctx.operation else "")
    after = (query or {}).get("after")
    if size is None or not isinstance(after, str):
        return True
    return not re.fullmatch(rules.CURSOR_PATTERN, after) or _is_cursor(after, size)
