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


@dataclass(frozen=True)
class FieldRead:
    """One field path a template or condition reads (``pods.unhealthy``, ``alert.labels.team``)."""

    path: tuple[str | int, ...]
    guarded: bool  # tested with ``is none``/``is defined`` somewhere in the same text


def _chain(node: nodes.Node) -> tuple[str | int, ...] | None:
    """``a.b[0].c`` as ("a", "b", 0, "c"); None when it does not start at a plain name."""
    parts: list[str | int] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            value = node.arg.value
            parts.append(value if isinstance(value, int) else str(value))
            node = node.node
        elif isinstance(node, nodes.Getitem):
            return None  # an index computed at run time: nothing to check before it
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return tuple(reversed(parts))
        else:
            return None


def field_reads(text: str, *, expression: bool = False) -> list[FieldRead]:
    """Every longest field path ``text`` reads, in order; names bound inside it (loops) are left out."""
    tree = _parse(text, expression=expression)
    bound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    inner: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        inner.add(id(node.node))  # type: ignore[attr-defined]
    called = {id(c.node) for c in tree.find_all(nodes.Call)}  # ``x.items()``: a method, not a field
    guarded = {chain for t in tree.find_all(nodes.Test) if (chain := _chain(t.node)) is not None}
    reads: list[FieldRead] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if id(node) in inner or (isinstance(node, nodes.Name) and node.ctx != "load"):
            continue
        chain = _chain(node)
        if chain is None or chain[0] in bound:
            continue
        if id(node) in called:
            chain = chain[:-1]
        reads.append(FieldRead(chain, any(chain[: len(g)] == g for g in guarded)))
    return reads


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
