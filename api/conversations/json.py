"""A conversation's values as JSON, with messages as langgraph-api writes them."""

from __future__ import annotations

from typing import Any

import orjson


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """JSON on one line, with messages as langgraph-api writes them and non-ASCII as is."""
    return orjson.dumps(value, default=_default)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON values (dicts, lists, strings, numbers)."""
    return orjson.loads(dumps(value))
