"""Where in the user's own code a model failed, told in the user's terms.

A model's classes defined in a notebook travel by value (cloudpickle), which drops their
file names: the serving runtime can only report "File '<dynamic-code>', line 12, in
predict". The notebook still holds the model, so its functions are searched for the one of
that name spanning that line, and the place is told as the notebook's own cell or file,
with the line's source."""

from __future__ import annotations

import inspect
import linecache
import re
from collections.abc import Iterator
from typing import Any

_FRAME = re.compile(r"line (\d+), in (\S+)")


def locate(error: Any, model: Any) -> None:
    """Rewrite `error`'s `where` (and its hint quoting it) as the notebook's own line."""
    where = error.details.get("where") if isinstance(error.details, dict) else None
    if where and model is not None:
        error.details["where"] = resolve(where, model)
        error.hint = error.hint.replace(where, error.details["where"])


def resolve(where: str, model: Any) -> str:
    """`where` (as the runtime reports it) with the file and line of `model`'s own code."""
    found = _FRAME.search(where or "")
    if not found or "<dynamic-code>" not in where:
        return where
    line, name = int(found.group(1)), found.group(2)
    for function in _functions(model):
        code = function.__code__
        if code.co_name != name:
            continue
        lines = [n for _, _, n in code.co_lines() if n is not None]
        if lines and min(lines + [code.co_firstlineno]) <= line <= max(lines):
            source = linecache.getline(code.co_filename, line).strip()
            place = f"{code.co_filename}, line {line}, in {function.__qualname__}"
            return f"{place}: {source}" if source else place
    return where


def _functions(model: Any, depth: int = 0) -> Iterator[Any]:
    """The functions of the model's classes, and of the objects it holds (pipeline steps)."""
    seen: set[int] = set()
    for cls in type(model).__mro__:
        if cls.__module__ in ("builtins",) or id(cls) in seen:
            continue
        seen.add(id(cls))
        for member in vars(cls).values():
            function = getattr(member, "__func__", member)
            if inspect.isfunction(function):
                yield function
    if depth < 2:
        for value in list(getattr(model, "__dict__", {}).values()) + list(
                getattr(model, "steps", []) or []):
            for part in (value if isinstance(value, tuple) else (value,)):
                if hasattr(part, "__dict__") and not inspect.isclass(part):
                    yield from _functions(part, depth + 1)
