"""The hand-off once a run has resolved its incident: the runbook's post-mortem action items opened as
tracked items (owner, due date), each on the timeline. What happens to them next is the humans' call:
``warroom actions list|done``."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.response import Response, RunOutcome
from warroom.expressions import ExpressionError, render_value


def open_action_items(response: Response, outcome: RunOutcome) -> None:
    if outcome.outcome != "resolved":
        return  # a handed-back or failed run leaves the follow-up to the people who take it over
    spec = response.runbook.postmortem
    incident = response.store.get(response.incident.number)
    resolved = (incident.resolved_at or datetime.now(UTC)).date()
    for index, item in enumerate(spec.action_items):
        try:
            title = str(render_value(item.title, response.context()))
        except ExpressionError:
            title = item.title
        response.store.add_action_item(
            incident.number,
            title,
            owner=item.owner or spec.owner or incident.roles.commander,
            due=resolved + item.due_in if item.due_in is not None else None,
            key=f"runbook-action:{index}",
        )
