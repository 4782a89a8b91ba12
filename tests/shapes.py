"""Compare a provider answer with a documented payload (tests/fixtures/payloads/): keys and JSON types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"


def documented(name: str) -> dict[str, Any]:
    """A documented payload without its `_source` note."""
    payload = json.loads((PAYLOADS / name).read_text())
    assert str(payload.pop("_source", "")).startswith("https://"), f"{name} names no public page"
    return payload


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def shape_problems(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Where ``actual`` lacks a documented key or has another JSON type; lists compare their first items."""
    if _kind(expected) != _kind(actual):
        return [f"{where}: documented {_kind(expected)}, answered {_kind(actual)}"]
    if isinstance(expected, dict):
        problems = [f"{where}.{key}: missing" for key in expected if key not in actual]
        return problems + [p for key in expected if key in actual
                           for p in shape_problems(expected[key], actual[key], f"{where}.{key}")]
    if isinstance(expected, list) and expected and actual:
        return shape_problems(expected[0], actual[0], f"{where}[0]")
    return []
