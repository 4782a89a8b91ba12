"""Google's partial-response ``fields`` parameter, e.g. ``messages(id,threadId),nextPageToken`` or
``payload/headers`` — adapters use it to shrink list and metadata calls."""

from __future__ import annotations

from typing import Any

from .wire import invalid

Mask = dict[str, "Mask | None"]


def parse(text: str) -> Mask:
    mask, rest = _items(text.replace(" ", ""))
    if rest:
        raise invalid(f"Invalid field selection {text}")
    return mask


def _items(text: str) -> tuple[Mask, str]:
    mask: Mask = {}
    while text:
        name_end = next((i for i, c in enumerate(text) if c in ",()"), len(text))
        path, text = text[:name_end].split("/"), text[name_end:]
        sub: Mask | None = None
        if text.startswith("("):
            sub, text = _items(text[1:])
            if not text.startswith(")"):
                raise invalid("Invalid field selection: unbalanced parentheses")
            text = text[1:]
        node = mask
        for part in path[:-1]:
            existing = node.get(part)
            node[part] = existing if isinstance(existing, dict) else {}
            node = node[part]  # type: ignore[assignment]
        node[path[-1]] = sub
        if text.startswith(","):
            text = text[1:]
        elif text.startswith(")") or not text:
            break
    return mask, text


def apply(value: Any, mask: Mask | None) -> Any:
    if mask is None:
        return value
    if isinstance(value, list):
        return [apply(v, mask) for v in value]
    if isinstance(value, dict):
        return {k: apply(value[k], sub) for k, sub in mask.items() if k in value}
    return value
