"""Decode Stripe's form encoding (``a[b][0][c]=v``) into nested dicts and lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_KEY_PART = re.compile(r"\[([^\]]*)\]")


class FormError(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _split_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    parts = [head]
    if rest:
        parts += _KEY_PART.findall("[" + rest)
    return parts


def _listify(node: Any) -> Any:
    # Stripe sends arrays as a[0]=x, a[1]=y (or a[]=x); dicts keyed by indexes become lists.
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
        return node
    if isinstance(node, list):
        return [_listify(v) for v in node]
    return node


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``[("metadata[space_id]", "7"), ("expand[0]", "x")]`` into nested data."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # a[]=x appends
                if not isinstance(node, list):
                    raise FormError(f"Invalid array parameter: {key}", key)
                if last:
                    node.append(value)
                    break
                node.append({})
                node = node[-1]
                continue
            if not isinstance(node, dict):
                raise FormError(f"Invalid parameter: {key}", key)
            if last:
                node[part] = value
            else:
                nxt = parts[i + 1]
                default: Any = [] if nxt == "" else {}
                node = node.setdefault(part, default)
    return _listify(root)


def as_int(value: Any, param: str, *, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FormError(f"Invalid integer: {value}", param) from None
    if minimum is not None and number < minimum:
        raise FormError(f"This value must be greater than or equal to {minimum}.", param)
    return number


def as_bool(value: Any, param: str) -> bool:
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise FormError(f"Invalid boolean: {value}", param)
