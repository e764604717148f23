"""JSON helpers shared by the validator and the push client (both read JSON written by anyone)."""

from __future__ import annotations

from typing import Any

#: Deeper JSON than this is refused whole: R4 resources nest a few dozen levels at most (extensions of
#: extensions, contained resources; HL7's published examples reach 21), and deeper input only exhausts
#: the recursion of whatever reads it next.
MAX_DEPTH = 64


def depth(data: Any, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of a JSON value, counted without recursion (stops once past ``limit``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > limit:
                return deepest
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node if isinstance(v, (dict, list)))
    return deepest
