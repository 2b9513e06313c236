"""Field paths as people read them in error messages: ``diagnostics[0].with.url``."""

from __future__ import annotations

from collections.abc import Iterable


def format_loc(loc: Iterable[str | int], whole: str = "<runbook>") -> str:
    """A pydantic-style location as a field path; ``whole`` names the root."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or whole
