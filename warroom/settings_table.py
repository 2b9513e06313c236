"""The settings as a person reads them: one Markdown table per settings model, each variable with its default
and what it does, rendered from the models themselves (the README's table is this, checked by a test)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from warroom.settings import env_name


def heading(model: type[BaseSettings]) -> str:
    """The first line of the model's docstring."""
    return (model.__doc__ or model.__name__).strip().splitlines()[0].rstrip(".")


def shown_default(info: FieldInfo) -> str:
    """The default as the table shows it: a note the model gives (``json_schema_extra={"shown": ...}``),
    else the value, with this machine's home directory written ``~``; ``unset`` for none."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "shown" in extra:
        return str(extra["shown"])
    value: Any = info.default
    if value is PydanticUndefined and info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined or isinstance(value, SecretStr):
        return "unset"
    if isinstance(value, Path):
        text = str(value)
        home = str(Path.home())
        text = "~" + text[len(home) :] if text == home or text.startswith(home + "/") else text
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=str)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = getattr(value, "value", value)
        text = f"{text:g}" if isinstance(text, float) else str(text)
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(models: Iterable[type[BaseSettings]]) -> str:
    """Every field of every model, grouped by model, in declaration order."""
    parts: list[str] = []
    for model in models:
        rows = ["| variable | default | what it does |", "|---|---|---|"]
        for name, info in model.model_fields.items():
            if info.exclude:
                continue
            shown, what = _cell(shown_default(info)), _cell(info.description or "")
            rows.append(f"| `{env_name(model, name)}` | {shown} | {what} |")
        parts.append(f"#### {heading(model)}\n\n" + "\n".join(rows))
    return "\n\n".join(parts) + "\n"
