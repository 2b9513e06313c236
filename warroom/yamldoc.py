"""YAML documents the team writes (runbooks, on-call schedules), with every problem as
``FILE:LINE: field: message``: where each path of the document starts, and pydantic's errors on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from warroom.fieldpath import format_loc

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class Invalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class Lines:
    """Where each path of a YAML document starts, so errors can name a line."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[Loc, int] = {(): 1}
        self.duplicates: list[tuple[Loc, int]] = []
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                if key in seen:
                    self.duplicates.append(((*loc, key), key_node.start_mark.line + 1))
                seen.add(key)
                self.lines[(*loc, key)] = key_node.start_mark.line + 1
                self._walk(value_node, (*loc, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*loc, i))

    def line(self, loc: Loc) -> int:
        loc = tuple(loc)
        while loc not in self.lines:
            loc = loc[:-1]
        return self.lines[loc]


FRIENDLY = {
    "extra_forbidden": "unknown key",
    "missing": "required field is missing",
}


def read_yaml(text: str, file: str) -> tuple[Any, Lines, list[Problem]]:
    """The document, where its paths start, and its duplicate keys; a syntax error raises ``Invalid``."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise Invalid([Problem(file, line, "yaml", f"syntax error: {problem}")]) from None
    lines = Lines(root)
    return data, lines, [Problem(file, ln, format_loc(loc), "duplicate key") for loc, ln in lines.duplicates]


def pydantic_problems(
    exc: ValidationError, file: str, lines: Lines, prefix: Loc = (), skip: set[str] | None = None
) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if skip and loc and loc[0] in skip:
            continue
        message = FRIENDLY.get(err["type"], err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if err["type"] == "extra_forbidden" and loc:
            message = f"unknown key {loc[-1]!r}"
        full = (*prefix, *loc)
        out.append(Problem(file, lines.line(full), format_loc(full), message))
    return out
