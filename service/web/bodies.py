"""Request bodies read as JSON with bounds: malformed, too deep or odd input is a 400, never a
500 (DESIGN §5)."""

from __future__ import annotations

import json
from typing import Any

from service.web.errors import ApiError

MAX_DEPTH = 32  # no body ccs takes nests deeper than a handful of levels; GitHub's stay < 20


def parse_json(raw: bytes, what: str = "the body") -> Any:
    """Return the parsed JSON, or raise ApiError 400 saying what is wrong with it."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ApiError(400, "too_deep", f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise ApiError(400, "bad_json", f"{what} is not JSON") from None
    if depth(value) > MAX_DEPTH:
        raise ApiError(400, "too_deep", f"{what} nests deeper than {MAX_DEPTH} levels")
    return value


def depth(value: Any) -> int:
    """Return how deeply lists and objects nest in `value` (iteratively: no recursion)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        current, level = todo.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            children = current.values() if isinstance(current, dict) else current
            todo.extend((child, level + 1) for child in children)
    return deepest
