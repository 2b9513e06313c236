"""Sandboxed templates and conditions for runbooks.

Runbooks are data: templates may read params, the alert, the incident and diagnostic results, but never
call into Python beyond what Jinja2's immutable sandbox allows. Rendered values are data too: a rendered
alert label is never rendered again, so alert text cannot become template code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.S)


class ExpressionError(ValueError):
    """A template or condition that does not compile or cannot be evaluated."""


def is_template(value: Any) -> bool:
    """True when ``value`` (or anything inside it) holds template syntax."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(is_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_template(v) for v in value)
    return False


def _whole(text: str) -> str | None:
    m = _WHOLE_EXPRESSION.match(text)
    if m and "{{" not in m.group("expr") and "}}" not in m.group("expr"):
        return m.group("expr").strip()
    return None


def _parse(text: str, *, expression: bool) -> nodes.Template:
    source = f"{{{{ {text} }}}}" if expression else text
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"does not compile: {exc.message}") from None


def referenced_names(text: str, *, expression: bool = False) -> list[tuple[str, str | None]]:
    """Top-level names a template or condition reads, each with its first attribute (``params.ns``)."""
    tree = _parse(text, expression=expression)
    found: list[tuple[str, str | None]] = []
    bound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    attr_of: dict[int, str] = {}
    for get in tree.find_all(nodes.Getattr):
        if isinstance(get.node, nodes.Name):
            attr_of[id(get.node)] = get.attr
    for item in tree.find_all(nodes.Getitem):
        if isinstance(item.node, nodes.Name) and isinstance(item.arg, nodes.Const):
            attr_of[id(item.node)] = str(item.arg.value)
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in bound:
            found.append((name.name, attr_of.get(id(name))))
    return found


def check(
    text: str, allowed: Iterable[str], params: Iterable[str] | None = None, *, expression: bool = False
) -> list[str]:
    """Problems with a template or condition: syntax, unknown names, unknown ``params.x``."""
    try:
        refs = referenced_names(text, expression=expression)
    except ExpressionError as exc:
        return [str(exc)]
    allowed_set = set(allowed)
    problems: list[str] = []
    for name, attr in refs:
        if name not in allowed_set and name not in _ENV.globals:
            problems.append(f"unknown name {name!r} (known: {', '.join(sorted(allowed_set))})")
        elif name == "params" and params is not None and attr is not None and attr not in set(params):
            problems.append(f"unknown param {attr!r}")
    return problems


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render templates inside ``value``; a string that is one ``{{ expr }}`` keeps the native type."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        try:
            whole = _whole(value)
            if whole is not None:
                result = _ENV.compile_expression(whole, undefined_to_none=False)(**context)
                if isinstance(result, StrictUndefined):
                    str(result)  # raises UndefinedError with its message
                return result
            return _ENV.from_string(value).render(**context)
        except TemplateSyntaxError as exc:
            raise ExpressionError(f"template does not compile: {exc.message}") from None
        except (UndefinedError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
            raise ExpressionError(f"template {value!r} failed: {exc}") from None
    if isinstance(value, Mapping):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, context) for v in value]
    return value


@dataclass(frozen=True)
class ConditionOutcome:
    value: bool
    error: str | None = None


def evaluate_condition(expr: str, context: Mapping[str, Any]) -> ConditionOutcome:
    """Evaluate a condition; missing data or a failing expression is *not* true, and says why."""
    try:
        fn = _ENV.compile_expression(expr, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        return ConditionOutcome(False, f"condition does not compile: {exc.message}")
    try:
        result = fn(**context)
        if isinstance(result, StrictUndefined):
            str(result)
        return ConditionOutcome(bool(result))
    except (UndefinedError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
        return ConditionOutcome(False, f"{expr!r} could not be evaluated: {exc}")
