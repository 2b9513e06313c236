"""The runbook language: shipped runbooks validate; broken ones say file, line, field and what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO
from warroom.runbook import Matcher, RunbookInvalid, load_catalogue, parse_runbook, resolve_params

SHIPPED = sorted((REPO / "runbooks").glob("*.yaml"))

HEAD = "name: broken\ndescription: a broken runbook\n"


def test_seed_scenarios_are_shipped() -> None:
    names = {p.stem for p in SHIPPED}
    assert {
        "k8s-bad-deploy",
        "feature-regression",
        "k8s-saturation",
        "host-disk-full",
        "ecs-bad-deploy",
        "asg-saturation",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_runbook_validates(path: Path) -> None:
    runbook = parse_runbook(path.read_text(), str(path))
    assert runbook.name == path.stem
    assert runbook.mitigations, "each seed scenario offers a mitigation"
    for m in runbook.mitigations:
        assert m.approval.approvers


BROKEN = [
    ("yaml syntax", HEAD + "match: [unclosed\n", 4, "yaml", "syntax error"),
    ("unknown top-level key", HEAD + "foo: 1\n", 3, "foo", "unknown key 'foo'"),
    ("duplicate key", HEAD + "name: again\n", 3, "name", "duplicate key"),
    ("missing description", "name: x\n", 1, "description", "required field is missing"),
    ("bad name", "name: Bad Name\ndescription: d\n", 1, "name", "should match pattern"),
    (
        "unknown step",
        HEAD + "diagnostics:\n  - id: a\n    use: kubernetes.nope\n",
        5,
        "diagnostics[0].use",
        "unknown step 'kubernetes.nope'",
    ),
    (
        "wrong param type",
        HEAD + "diagnostics:\n  - id: a\n    use: http.check\n    with:\n      url: http://127.0.0.1/\n"
        "      retries: lots\n",
        8,
        "diagnostics[0].with.retries",
        "valid integer",
    ),
    (
        "unknown param of a step",
        HEAD + "diagnostics:\n  - id: a\n    use: http.check\n    with:\n      url: http://127.0.0.1/\n"
        "      verbose: true\n",
        8,
        "diagnostics[0].with.verbose",
        "http.check has no param 'verbose'",
    ),
    (
        "missing required step param",
        HEAD + "diagnostics:\n  - id: a\n    use: http.check\n    with: {}\n",
        6,
        "diagnostics[0].with.url",
        "required field is missing",
    ),
    (
        "template does not compile",
        HEAD + "diagnostics:\n  - id: a\n    use: http.check\n    with:\n      url: '{{ params.url '\n",
        7,
        "diagnostics[0].with.url",
        "does not compile",
    ),
    (
        "template names an unknown param",
        HEAD + "params:\n  url: {type: string}\ndiagnostics:\n  - id: a\n    use: http.check\n    with:\n"
        "      url: '{{ params.uri }}'\n",
        9,
        "diagnostics[0].with.url",
        "unknown param 'uri'",
    ),
    (
        "condition names an unknown diagnostic",
        HEAD + "mitigations:\n  - id: m\n    when: 'rollout.last_change_minutes < 60'\n"
        "    use: kubernetes.restart\n    with: {deployment: api}\n"
        "    approval: {approvers: [{group: sre}]}\n",
        5,
        "mitigations[0].when",
        "unknown name 'rollout'",
    ),
    (
        "mitigation used as a diagnostic",
        HEAD + "diagnostics:\n  - id: a\n    use: kubernetes.rollback\n    with: {deployment: api}\n",
        5,
        "diagnostics[0].use",
        "changes production",
    ),
    (
        "mitigation without approval",
        HEAD + "mitigations:\n  - id: a\n    use: kubernetes.rollback\n    with: {deployment: api}\n",
        4,
        "mitigations[0].approval",
        "required field is missing",
    ),
    (
        "approver with two identities",
        HEAD + "mitigations:\n  - id: a\n    use: kubernetes.rollback\n    with: {deployment: api}\n"
        "    approval:\n      approvers:\n        - {user: alice, group: sre}\n",
        9,
        "mitigations[0].approval.approvers[0]",
        "exactly one of user, group or oncall",
    ),
    (
        "bad duration",
        HEAD + "mitigations:\n  - id: a\n    use: kubernetes.rollback\n    with: {deployment: api}\n"
        "    approval: {approvers: [{group: sre}], timeout: soon}\n",
        7,
        "mitigations[0].approval.timeout",
        "not a duration",
    ),
    (
        "bad matcher regex",
        HEAD + "match:\n  - 'alertname =~ \"(\"'\n",
        4,
        "match[0]",
        "does not compile",
    ),
    (
        "param default of the wrong type",
        HEAD + "params:\n  replicas: {type: integer, default: many}\n",
        4,
        "params.replicas",
        "expected integer",
    ),
    (
        "from that is not an alert field",
        HEAD + "params:\n  ns:\n    from: incident.title\n",
        5,
        "params.ns.from",
        "must name an alert field",
    ),
    (
        "duplicate step id",
        HEAD + "diagnostics:\n  - id: a\n    use: http.check\n    with: {url: 'http://127.0.0.1/'}\n"
        "  - id: a\n    use: http.check\n    with: {url: 'http://127.0.0.1/'}\n",
        7,
        "diagnostics[1].id",
        "already used at diagnostics[0]",
    ),
    (
        "verify step without a success criterion",
        HEAD + "verify:\n  - use: ssh.disk\n    with: {hosts: web}\n",
        4,
        "verify[0].expect",
        "say what recovered means",
    ),
    (
        "unconditional severity rule before others",
        HEAD + "severity:\n  - level: P2\n  - when: 'true'\n    level: P1\n",
        4,
        "severity[0]",
        "never run",
    ),
]


@pytest.mark.parametrize(("case", "text", "line", "field", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_runbook_names_file_line_field(
    case: str, text: str, line: int, field: str, message: str
) -> None:
    with pytest.raises(RunbookInvalid) as info:
        parse_runbook(text, "team/broken.yaml")
    rendered = [str(p) for p in info.value.problems]
    expected_prefix = f"team/broken.yaml:{line}: {field}: "
    assert any(r.startswith(expected_prefix) and message in r for r in rendered), rendered


def test_templated_params_are_type_checked_when_rendered_not_before() -> None:
    text = HEAD + textwrap.dedent(
        """\
        params:
          replicas: {type: integer, default: 3}
        mitigations:
          - id: scale
            use: kubernetes.scale
            with: {deployment: api, replicas: "{{ params.replicas }}"}
            approval: {approvers: [{group: sre}]}
        """
    )
    assert parse_runbook(text).mitigations[0].with_["replicas"] == "{{ params.replicas }}"


def test_catalogue_reports_duplicates_and_keeps_valid_ones(tmp_path: Path) -> None:
    good = HEAD.replace("broken", "one")
    (tmp_path / "a.yaml").write_text(good)
    (tmp_path / "b.yaml").write_text(good)
    (tmp_path / "c.yaml").write_text(HEAD + "foo: 1\n")
    cat = load_catalogue([tmp_path])
    assert list(cat.runbooks) == ["one"]
    assert [str(p).split(":")[0] for p in cat.problems] == [
        str(tmp_path / "b.yaml"),
        str(tmp_path / "c.yaml"),
    ]


@pytest.mark.parametrize(
    ("matcher", "labels", "hit"),
    [
        ('alertname="HighErrorRate"', {"alertname": "HighErrorRate"}, True),
        ('alertname="HighErrorRate"', {"alertname": "HighErrorRateX"}, False),
        ('alertname=~"High.*"', {"alertname": "HighCPU"}, True),
        ('alertname=~"High"', {"alertname": "HighCPU"}, False),  # anchored, as in Alertmanager
        ('env!="staging"', {"env": "prod"}, True),
        ('env!="staging"', {}, True),
        ('env!~"stag.*"', {"env": "staging"}, False),
        ('team=~".+"', {}, False),
        ('team=""', {}, True),
    ],
)
def test_matchers_follow_alertmanager_semantics(matcher: str, labels: dict[str, str], hit: bool) -> None:
    assert Matcher.parse(matcher).matches(labels) is hit


def test_catalogue_match_picks_by_priority() -> None:
    cat = load_catalogue([REPO / "runbooks"])
    labels = {"alertname": "HighErrorRate", "deployment": "checkout", "namespace": "shop"}
    found = cat.match(labels)
    assert found is not None and found.runbook.name == "k8s-bad-deploy"
    assert cat.match({"alertname": "Unrelated"}) is None


def test_params_come_from_given_then_alert_then_default() -> None:
    rb = load_catalogue([REPO / "runbooks"]).runbooks["k8s-bad-deploy"].runbook
    alert = {"labels": {"deployment": "checkout", "namespace": "shop"}}
    assert resolve_params(rb, {}, alert)["namespace"] == "shop"
    assert resolve_params(rb, {"namespace": "prod2"}, alert)["namespace"] == "prod2"
    assert resolve_params(rb, {"deployment": "api"}, None)["namespace"] == "prod"


def test_bad_params_name_every_field() -> None:
    rb = load_catalogue([REPO / "runbooks"]).runbooks["k8s-saturation"].runbook
    with pytest.raises(ValueError) as info:
        resolve_params(rb, {"max_replicas": "lots", "colour": "red", "deployment": "api; rm -rf /"})
    message = str(info.value)
    assert "params.max_replicas: expected integer" in message
    assert "params.colour: unknown param" in message
    assert "params.deployment" in message and "does not match the pattern" in message
