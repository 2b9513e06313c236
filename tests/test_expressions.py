"""Templates and conditions are sandboxed; alert data stays data."""

from __future__ import annotations

import pytest

from warroom.expressions import ExpressionError, check, evaluate_condition, render_value


def test_whole_expression_keeps_its_type() -> None:
    assert render_value("{{ params.replicas }}", {"params": {"replicas": 5}}) == 5
    assert render_value("x{{ params.replicas }}", {"params": {"replicas": 5}}) == "x5"
    assert render_value({"a": ["{{ params.b }}"]}, {"params": {"b": True}}) == {"a": [True]}


def test_alert_text_is_never_rendered_as_a_template() -> None:
    labels = {"deployment": "{{ ''.__class__.__mro__ }}", "svc": "$(reboot)"}
    out = render_value("{{ alert.labels.deployment }}/{{ alert.labels.svc }}", {"alert": {"labels": labels}})
    assert out == "{{ ''.__class__.__mro__ }}/$(reboot)"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ params.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_blocks_python_internals(template: str) -> None:
    with pytest.raises(ExpressionError):
        render_value(template, {"params": {}})


def test_missing_data_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(ExpressionError, match=r"has no attribute .nope."):
        render_value("{{ params.nope }}", {"params": {}})


def test_conditions() -> None:
    ctx = {"rollout": {"last_change_minutes": 12}, "pods": {"unhealthy": 3}}
    assert evaluate_condition("rollout.last_change_minutes < 60 and pods.unhealthy > 0", ctx).value
    out = evaluate_condition("missing.x > 1", ctx)
    assert not out.value and out.error


def test_check_reports_unknown_names() -> None:
    assert check("{{ foo.bar }}", ["params"]) == ["unknown name 'foo' (known: params)"]
    assert check("{% for x in params.items %}{{ x }}{% endfor %}", ["params"], ["items"]) == []
