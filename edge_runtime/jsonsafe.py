"""JSON that every reader can parse: non-finite numbers become ``null`` at the serialisation boundary.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which is not JSON: a consumer's parser
refuses the event, and Starlette's response refuses to render at all (HTTP 500 on /status). Inputs
are checked where they enter (a vibration stream's samples), and everything adit serialises goes
through ``dumps`` as well, so one number that slips through costs a ``null``, never a message.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """A copy of a JSON-like structure with NaN and +-inf (Python or numpy floats) replaced by None."""
    if isinstance(value, float):  # numpy.float64 is a float too
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    if hasattr(value, "dtype") and hasattr(value, "item"):  # a numpy scalar: float32, int64
        return finite(value.item())
    return value


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity (they become null)."""
    return json.dumps(finite(value), allow_nan=False, **options)


def nesting(value: Any) -> int:
    """How deeply lists and mappings nest in a parsed JSON/YAML value (counted without recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
