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
