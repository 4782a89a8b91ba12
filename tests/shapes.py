"""Compare a provider answer with a documented payload (tests/fixtures/payloads/): keys and JSON types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"


def documented(name: str) -> dict[str, Any]:
    """A documented payload without its notes: `_source` (the public page) and `_note` (what is not compared)."""
    payload = json.loads((PAYLOADS / name).read_text())
    assert str(payload.get("_source", "")).startswith("https://"), f"{name} names no public page"
    return {key: value for key, value in payload.items() if not key.startswith("_")}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"  # an int64 Google documents as a string stays a string; 3 and 3.0 differ
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def shape_problems(expected: Any, actual: Any, where: str = "$", *, exact: bool = False) -> list[str]:
    """Where ``actual`` lacks a documented key, has another JSON type, or answers no items where the page shows
    some (lists compare their first items); ``exact``: also where it has keys the page does not document."""
    if _kind(expected) != _kind(actual):
        return [f"{where}: documented {_kind(expected)}, answered {_kind(actual)}"]
    if isinstance(expected, dict):
        problems = [f"{where}.{key}: missing" for key in expected if key not in actual]
        if exact:
            problems += [f"{where}.{key}: undocumented" for key in actual if key not in expected]
        return problems + [p for key in expected if key in actual
                           for p in shape_problems(expected[key], actual[key], f"{where}.{key}", exact=exact)]
    if isinstance(expected, list) and expected:
        if not actual:
            return [f"{where}: documented with items, answered none"]
        return shape_problems(expected[0], actual[0], f"{where}[0]", exact=exact)
    return []


def assert_documented_shape(name: str, answer: Any, *, exact: bool = False) -> None:
    """``answer`` has the shape of the payload file ``name`` (e.g. "graph/message.json")."""
    assert shape_problems(documented(name), answer, exact=exact) == []
