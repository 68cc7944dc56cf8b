"""The inference log: a bounded, in-memory record of sampled requests and their answers.

A serving process runs untrusted model code and holds nothing of the platform, so it never
sends the log anywhere: the server pulls it (POST /inferences) and computes drift per window.
On the request path a record costs one random draw and one append of references (the parsed
JSON inputs, the JSON answer, the request id, the time) to a bounded deque; dropping, hashing
and serialising happen when the log is read. When the buffer is full the oldest records go,
and are counted.

Configured once at start from the environment (the server sets it per environment):
    GOLDENPATH_LOG_SAMPLE  share of requests recorded, 0..1 (default 0: off)
    GOLDENPATH_LOG_DROP    comma-separated input columns never recorded
    GOLDENPATH_LOG_HASH    columns recorded as sha256(salt + value), first 16 hex digits
    GOLDENPATH_LOG_SALT    the salt for GOLDENPATH_LOG_HASH (required with it)
    GOLDENPATH_LOG_BUFFER  records kept at most (default 10000)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_BUFFER = 10_000
MAX_BUFFER = 1_000_000
DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
HASH_CHARS = 16
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_UUID4_KEEP = ~(0xF000 << 64 | 0xC000 << 48) & (1 << 128) - 1  # version and variant bits
_UUID4 = 0x4000 << 64 | 0x8000 << 48


class LogSettingsError(ValueError):
    """A GOLDENPATH_LOG_* variable has a value the runtime cannot use; says which and what
    is allowed."""


@dataclass(frozen=True)
class LogSettings:
    """How the inference log samples and what it keeps of each request's inputs."""

    sample: float = 0.0
    drop: frozenset[str] = field(default_factory=frozenset)
    hash: frozenset[str] = field(default_factory=frozenset)
    salt: str = ""
    buffer: int = DEFAULT_BUFFER

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LogSettings:
        """Read the GOLDENPATH_LOG_* variables (the only place they are read)."""
        env = os.environ if env is None else env
        sample = _number("GOLDENPATH_LOG_SAMPLE", env.get("GOLDENPATH_LOG_SAMPLE", ""), 0.0,
                         float, "a number from 0 to 1 (the share of requests recorded)")
        if not 0.0 <= sample <= 1.0:
            raise LogSettingsError(f"GOLDENPATH_LOG_SAMPLE={sample!r}: must be from 0 to 1 "
                                   "(the share of requests recorded; 0 turns the log off)")
        buffer = _number("GOLDENPATH_LOG_BUFFER", env.get("GOLDENPATH_LOG_BUFFER", ""),
                         DEFAULT_BUFFER, int, f"a whole number from 1 to {MAX_BUFFER}")
        if not 1 <= buffer <= MAX_BUFFER:
            raise LogSettingsError(f"GOLDENPATH_LOG_BUFFER={buffer}: must be a whole number "
                                   f"from 1 to {MAX_BUFFER} (records kept in memory)")
        drop = _columns("GOLDENPATH_LOG_DROP", env.get("GOLDENPATH_LOG_DROP", ""))
        hashed = _columns("GOLDENPATH_LOG_HASH", env.get("GOLDENPATH_LOG_HASH", ""))
        if both := sorted(drop & hashed):
            raise LogSettingsError(f"columns {both} are in both GOLDENPATH_LOG_DROP and "
                                   "GOLDENPATH_LOG_HASH: name each column in one of them")
        salt = env.get("GOLDENPATH_LOG_SALT", "")
        if hashed and not salt:
            raise LogSettingsError("GOLDENPATH_LOG_HASH is set but GOLDENPATH_LOG_SALT is "
                                   "empty: set a salt for the environment (unsalted hashes "
                                   "of short values are easy to reverse)")
        return cls(sample=sample, drop=drop, hash=hashed, salt=salt, buffer=buffer)


def _number(name: str, raw: str, default: Any, kind: type, allowed: str) -> Any:
    if not raw.strip():
        return default
    try:
        return kind(raw.strip())
    except ValueError:
        raise LogSettingsError(f"{name}={raw!r} is not {allowed}") from None


def _columns(name: str, raw: str) -> frozenset[str]:
    names = [part.strip() for part in raw.split(",")] if raw.strip() else []
    if any(not n for n in names):
        raise LogSettingsError(f"{name}={raw!r} has an empty column name: give "
                               "comma-separated column names, e.g. email,phone")
    return frozenset(names)


def request_id(given: str | None) -> str:
    """The caller's id when it is a safe one (1-64 of A-Z a-z 0-9 . _ -), else a new uuid4
    (hex) from the process's PRNG: ids need to be unique, not unguessable, and uuid.uuid4()
    reads the OS's random source every time (a few times the cost)."""
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return "%032x" % (random.getrandbits(128) & _UUID4_KEEP | _UUID4)


class InferenceLog:
    """Sampled (request id, time, inputs, answer) records, kept in memory for the server."""

    def __init__(self, settings: LogSettings, *, columns: Sequence[str] = (),
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.sample = settings.sample  # read on every request: one attribute, one comparison
        self.boot = uuid.uuid4().hex  # a new process (or restart) is a new sequence
        self._columns = list(columns)  # the model's column names: list rows become records
        self._random = (rng or random.Random()).random
        self._records: deque[tuple[int, str, float, Any, Any]] = deque(maxlen=settings.buffer)
        self._seq = 0
        self._lock = threading.Lock()

    def wants(self) -> bool:
        """The sampling draw for one request."""
        return self._random() < self.sample

    def add(self, request_id: str, inputs: Any, outputs: Any) -> None:
        """Keep references to one request's inputs and answer (nothing copied or encoded)."""
        at = time.time()
        with self._lock:
            self._seq += 1
            self._records.append((self._seq, request_id, at, inputs, outputs))

    def read(self, after: int = 0, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """Records with seq > `after`, oldest first, at most `limit`, as JSON values."""
        with self._lock:  # copy references only; the work is done outside the lock
            last, kept = self._seq, len(self._records)
            start = max(0, after - (last - kept))
            taken = list(itertools.islice(self._records, start, start + limit))
        records = [self._record(*r) for r in taken]
        return {"boot": self.boot, "next": taken[-1][0] if taken else min(after, last),
                "dropped": last - kept, "sample": self.sample, "records": records}

    def read_json(self, after: int = 0, limit: int = DEFAULT_LIMIT) -> bytes:
        return json.dumps(self.read(after, limit), separators=(",", ":"),
                          default=str).encode()

    def _record(self, seq: int, rid: str, at: float, inputs: Any,
                outputs: Any) -> dict[str, Any]:
        rows = inputs if isinstance(inputs, list) else []
        return {"seq": seq, "request_id": rid, "at": at, "rows": len(rows),
                "inputs": [self._row(row) for row in rows], "outputs": outputs}

    def _row(self, row: Any) -> Any:
        """One input row after GOLDENPATH_LOG_DROP and _HASH. A list row of a table model is
        recorded as a record (column -> value); rows without column names use positions
        ("0", "1", ...), a dropped value there becomes null so positions stay aligned."""
        drop, hashed = self.settings.drop, self.settings.hash
        if self._columns and isinstance(row, list) and len(row) == len(self._columns):
            row = dict(zip(self._columns, row, strict=True))
        if not (drop or hashed):
            return row
        if isinstance(row, dict):
            return {k: self._hash(v) if k in hashed else v
                    for k, v in row.items() if k not in drop}
        if isinstance(row, list):
            return [None if str(i) in drop else self._hash(v) if str(i) in hashed else v
                    for i, v in enumerate(row)]
        return None if "0" in drop else self._hash(row) if "0" in hashed else row

    def _hash(self, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        digest = hashlib.sha256((self.settings.salt + text).encode())
        return digest.hexdigest()[:HASH_CHARS]
