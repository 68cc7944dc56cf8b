"""Hot cheap reads (status polls, the listings' change marker) on a few threads of their own.

Not in the event loop: a remote PostgreSQL's round trip would block every other request.
Not on anyio's 40 threads: more reads at once than the connection pool keeps open made it
open and close a SQLite connection per request at 200 req/s (py-spy: 15 % of samples in
Pool._create_connection, docs/benchmarks.md). Four threads stay below the pool's five."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")
_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gp-read")


async def store_read(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on the read threads."""
    return await asyncio.get_running_loop().run_in_executor(_READS, partial(fn, *args))
