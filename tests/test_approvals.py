"""The approval form's rules are in its JSON Schema; the policy judges identity-proven answers."""

from __future__ import annotations

import pytest

from flows.approval_form import form_for
from tests.plugin_steps import ServiceScaleParams
from warroom.approvals import Verdict, eligible, judge
from warroom.proposal import GatePage
from warroom.runbook import ApprovalPolicy


def test_form_requires_a_decision_and_lets_malformed_answers_reach_the_gate() -> None:
    form = form_for(
        ServiceScaleParams,
        ["replicas"],
        GatePage(brief="Change: replicas to 5.", markdown="what will change"),
    )
    schema = form.model_json_schema()
    props = schema["properties"]
    assert props["decision"]["enum"] == ["approve", "reject"] and "default" not in props["decision"]
    assert set(schema["required"]) == {"decision", "approver", "code", "reason"}
    # A short code or a missing reason is judged (and recorded) by the gate, not lost in the UI.
    assert "pattern" not in props["code"] and "minLength" not in props["reason"]
    replicas = props["replicas"]["anyOf"][0]
    assert replicas["minimum"] == 1 and replicas["maximum"] == 50  # typed adjustments stay typed
    assert form._description == "what will change"  # type: ignore[attr-defined]


def test_the_form_shows_a_person_nothing_internal_and_the_server_still_takes_a_signed_answer() -> None:
    from prefect.utilities.schema_tools import validate

    form = form_for(ServiceScaleParams, ["replicas"], GatePage(brief="b", markdown="m"))
    schema = form.model_json_schema()
    assert set(schema["properties"]) == {"decision", "approver", "code", "reason", "replicas"}
    signed = {"decision": "approve", "approver": "alice", "code": "", "reason": "ok"}
    signed |= {"answer_id": "a1b2", "signature": "ed25519:AAAA"}
    validate(signed, schema, raise_on_error=True)  # what Prefect's server runs on a resume


def test_the_gate_judges_answers_by_the_strict_rules() -> None:
    from pydantic import ValidationError

    from flows.approval_form import Answer

    good = {"decision": "approve", "approver": "alice", "code": "123456", "reason": "ok"}
    assert Answer.model_validate(good).approver == "alice"
    for bad in (
        {"code": "12345"},
        {"code": "12345a"},
        {"reason": ""},
        {"approver": "a b"},
        {"decision": "yes"},
    ):
        with pytest.raises(ValidationError):
            Answer.model_validate({**good, **bad})


def policy(**kw: object) -> ApprovalPolicy:
    return ApprovalPolicy.model_validate({"approvers": [{"group": "sre"}, {"oncall": "primary"}], **kw})


def test_eligible_people_are_the_groups_and_who_is_on_call_now() -> None:
    people = eligible(policy(), {"sre": ["a", "b"]}, {"primary": ["c", "d"]})
    assert people == {"a", "b", "c"}


def test_a_policy_naming_one_group_makes_only_its_members_eligible() -> None:
    one = ApprovalPolicy.model_validate({"approvers": [{"group": "sre"}]})
    assert eligible(one, {"sre": ["a"], "dba": ["b"], "all": ["a", "b", "c"]}, {}) == {"a"}
    assert eligible(one, {"dba": ["b"]}, {}) == set()  # a group nobody configured: nobody


def test_an_oncall_approver_is_whoever_holds_that_layer_now() -> None:
    layers = {"primary": ["p1", "p2"], "secondary": ["s1", "s2"], "comms": ["c1"]}
    second = ApprovalPolicy.model_validate({"approvers": [{"oncall": "secondary"}]})
    assert eligible(second, {}, layers) == {"s1"}
    first = ApprovalPolicy.model_validate({"approvers": [{"oncall": "primary"}]})
    assert eligible(first, {}, layers) == {"p1"}


def test_four_eyes_and_n_of_m() -> None:
    p = policy(required=2)
    kw = {"eligible_people": {"a", "b", "c"}, "excluded": {"a": "started this run"}, "required": 2}
    assert judge("approve", "a", p, granted_by=[], **kw).verdict is Verdict.REFUSED  # type: ignore[arg-type]
    assert judge("approve", "b", p, granted_by=[], **kw).verdict is Verdict.GRANTED  # type: ignore[arg-type]
    again = judge("approve", "b", p, granted_by=["b"], **kw)  # type: ignore[arg-type]
    assert again.verdict is Verdict.REFUSED and "already approved" in again.why
    assert judge("reject", "c", p, granted_by=["b"], **kw).verdict is Verdict.REJECTED  # type: ignore[arg-type]
    assert judge("reject", "z", p, granted_by=[], **kw).verdict is Verdict.REFUSED  # type: ignore[arg-type]
    no_four_eyes = policy(four_eyes=False)
    assert judge("approve", "a", no_four_eyes, granted_by=[], **kw).verdict is Verdict.GRANTED  # type: ignore[arg-type]


def test_the_approver_reads_the_findings_in_plain_sentences_trouble_first_and_no_secrets() -> None:
    from datetime import UTC, datetime, timedelta

    from warroom.incident import Incident, Severity, Status
    from warroom.proposal import Proposal, gate_page
    from warroom.redact import register_secret

    register_secret("s3cr3t-token-42")

    at = datetime(2026, 11, 27, 6, 10, tzinfo=UTC)
    incident = Incident(
        id="INC-7",
        number=7,
        title="checkout 5xx",
        detected_at=at,
        dedup_key="k",
        severity=Severity.P1,
        status=Status.MITIGATING,
    )
    evidence = {
        "rollout": {"summary": "revision 7 (checkout:v2) rolled out 4m ago", "revisions": [{"n": 7}]},
        "errors": {"ok": False, "reason": "5xx ratio 38% > 5% (via s3cr3t-token-42)", "summary": ""},
        "pods": {"ready": 3, "restarts": None},
    }
    proposal = Proposal(
        id="rollback",
        use="k8s.rollback",
        params={"deployment": "checkout", "to_revision": None},
        summary="roll back checkout",
        evidence=evidence,
        dry_run={"summary": "back to revision 6"},
        way_back="k8s.rollback to revision 7",
        apply_key="a",
    )
    page = gate_page(
        incident=incident,
        proposal=proposal,
        alert={},
        who_may_approve="sre",
        required=1,
        granted=[],
        deadline=at + timedelta(minutes=30),
        last_refusal=None,
        at=at,
    )
    [why] = [line for line in page.brief.splitlines() if line.startswith("Why: ")]
    assert why.index("errors: 5xx ratio 38%") < why.index("rollout: revision 7 (checkout:v2) rolled out")
    assert "pods: ready=3" in why and "restarts" not in why
    assert "s3cr3t-token-42" not in page.brief + page.markdown
    assert page.markdown.index("- errors: 5xx ratio 38%") < page.markdown.index("### Evidence in full")
    assert "to_revision" not in page.brief, "a param nobody set is not part of the change read out"
