"""The deployments beside the runbooks, the desk's own: taking an incident, publishing to the status page,
drafting a post-mortem, the weekly report and the tracker's sync."""

from __future__ import annotations

from typing import Any

from prefect.deployments.runner import EntrypointType, RunnerDeployment

from flows.acknowledge import acknowledge
from flows.postmortem import postmortem
from flows.report import report
from flows.status_form import publish as publish_status
from flows.tracking import tracker_sync


def desk_deployments(entrypoint_type: EntrypointType = EntrypointType.FILE_PATH) -> list[RunnerDeployment]:
    out: list[Any] = []  # to_deployment is typed as maybe a coroutine (async dispatch); here it is not
    taking: Any = acknowledge.to_deployment(
        name="take-an-incident",
        description="Acknowledge an incident from the UI: its pages stop, and you command it when nobody "
        "does. Run it with the incident and your name; the run then asks, on its page, for the code of "
        "your authenticator's 'Warroom acknowledge' entry, which proves who you are.",
        tags=["acknowledge"],
        entrypoint_type=entrypoint_type,
    )
    out.append(taking)
    out.append(
        publish_status.to_deployment(
            name="publish",
            description="Publish the public status page's next update (comms lead or commander). Run it "
            "with the incident, your name and the state; the run then shows Warroom's draft to edit and "
            "asks for your authenticator's 'Warroom acknowledge' code.",
            tags=["status"],
            entrypoint_type=entrypoint_type,
        )
    )
    out.append(
        postmortem.to_deployment(
            name="draft",
            description="Draft (again) the blameless post-mortem of a resolved incident and track its "
            "follow-ups; sections the team edited and tasks already tracked are kept.",
            tags=["postmortem"],
            entrypoint_type=entrypoint_type,
        )
    )
    out.append(
        report.to_deployment(
            name="weekly",
            description="How incident response went over the last week, beside the week before: figures as "
            "a table artifact and a summary with the anti-patterns it shows (the `incident-report` keys).",
            cron="0 8 * * 1",  # Mondays 08:00 UTC, for the week's review
            parameters={"since": "7d"},
            tags=["report"],
            entrypoint_type=entrypoint_type,
        )
    )
    out.append(
        tracker_sync.to_deployment(
            name="every-15-minutes",
            description="The tracker catches up with the ledger; action items closed there are done here.",
            interval=900,
            tags=["tracker"],
            entrypoint_type=entrypoint_type,
        )
    )
    return out
