"""The approval form (what the Prefect UI shows and its server checks) and the answer the gate accepts."""

from __future__ import annotations

import copy
from typing import Any, Literal

from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from warroom.proposal import GatePage
from warroom.signing import APPROVER, SIGNATURE


class ApprovalForm(RunInput):
    """What the Prefect UI shows and its server checks: the decision is a required choice with no default.

    The other fields are deliberately loose here: a wrong code or a missing reason must reach the gate,
    which records it and shows the refusal on the next form, instead of vanishing in the UI.
    """

    decision: Literal["approve", "reject"] = Field(description="approve runs exactly the change above")
    approver: str = Field(max_length=200, description="Your name as enrolled")
    code: str = Field(max_length=100, description="The 6-digit code from your authenticator app")
    reason: str = Field(max_length=4000, description="Why; it goes on the incident timeline")
    # Prefect's RunInput forbids keys its schema does not name, and the server enforces the schema: then
    # the answer id and signature `warroom approve` sends would have to be fields a person sees. Ignoring
    # extra keys leaves them off the form; the gate reads them and judges every key by `Answer`.
    model_config = ConfigDict(extra="ignore")


class Answer(BaseModel):
    """An answer as the gate accepts it: the strict rules."""

    decision: Literal["approve", "reject"]
    approver: str = Field(pattern=APPROVER)
    code: str = Field(default="", pattern=r"^([0-9]{6})?$")
    reason: str = Field(min_length=1, max_length=2000)
    answer_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    signature: str | None = Field(default=None, pattern=SIGNATURE)


def _adjustable_fields(params_model: type[BaseModel], adjustable: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in adjustable:
        info = copy.copy(params_model.model_fields[name])
        info.default = None
        info.default_factory = None
        fields[name] = (info.annotation | None, info)  # type: ignore[operator]
    return fields


def form_for(params_model: type[BaseModel], adjustable: list[str], page: GatePage) -> type[ApprovalForm]:
    """The form for one proposal: the base fields plus the step params the runbook lets approvers adjust.

    The Prefect UI shows the form's description in a box a few lines tall at 1440x1000; a field's help it
    shows whole. So the decision's essentials (the change, the dry run, the way back, who and until when)
    are the decision field's help, and the whole story stays above the form."""
    decision = (
        Literal["approve", "reject"],
        Field(title="Decision: approve runs exactly this change", description=page.brief),
    )
    form = create_model(
        "ApprovalForm",
        __base__=ApprovalForm,
        decision=decision,  # type: ignore[arg-type]
        **_adjustable_fields(params_model, adjustable),
    )
    form._description = page.markdown  # shown above the form in the Prefect UI
    return form


def answer_model(params_model: type[BaseModel], adjustable: list[str]) -> type[Answer]:
    return create_model("Answer", __base__=Answer, **_adjustable_fields(params_model, adjustable))


def validation_text(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e["loc"]) or "answer"
        msg = "the 6 digits from your authenticator app" if loc == "code" else e["msg"]
        parts.append(f"{loc}: {msg}")
    return "the answer is incomplete or malformed: " + "; ".join(parts)
