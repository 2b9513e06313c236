"""One way to build an extension point's registry: every module of a package (but ``base``) declares its
member under one attribute name; the package finds them, checks their type and refuses a name twice."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def discover(package: str, path: Iterable[str], attribute: str, kind: type[T]) -> dict[str, T]:
    """``{member.name: member}`` over the modules of ``package`` (its ``__path__``), sorted by module."""
    found: dict[str, T] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(list(path)) if m.name != "base"):
        member: Any = getattr(importlib.import_module(f"{package}.{module}"), attribute, None)
        if not isinstance(member, kind):
            raise TypeError(f"{package}.{module}.{attribute} is not a {kind.__name__}")
        name = str(getattr(member, "name", module))
        if name in found:
            raise ValueError(f"{kind.__name__} {name!r} is declared twice in {package}")
        found[name] = member
    return found
