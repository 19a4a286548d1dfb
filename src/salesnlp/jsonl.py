"""One JSON Lines record: parsed, or a reason a person can act on."""

from __future__ import annotations

import json


def parse_json_object(line: str) -> tuple[dict | None, str | None]:
    """Parse one line of a JSON Lines file.

    Returns:
        ``(object, None)`` for a JSON object, else ``(None, reason)``; a line that ends
        before its object is complete (a file cut short) says so.
    """
    stripped = line.strip()
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(stripped):
            return None, (f"bad JSON: the line ends before the object is complete (a missing "
                          f"closing brace or quote?) at column {len(stripped)}")
        return None, f"bad JSON ({exc.msg} at column {exc.pos + 1})"
    if not isinstance(value, dict):
        return None, "a line must hold a JSON object"
    return value, None
