"""The blameless post-mortem drafted from the ledger: the guide's example computed (total 28 minutes,
customer impact 16), six sections, actors as names and roles and never as causes, a re-draft that keeps
what the team wrote, closing only once the blanks are filled, and the review invite."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from flows.postmortem import learn
from tests.test_cli import warroom
from warroom.incident import Role, Severity, Status
from warroom.ledger import Store
from warroom.postmortem.document import SECTIONS
from warroom.postmortem.figures import compute
from warroom.postmortem.files import path_for, working_days_after, write_draft
from warroom.settings import get_settings

T0 = datetime(2026, 11, 27, 14, 32, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"WARROOM_HOME": str(tmp_path / "home"), "WARROOM_RUNBOOKS_DIR": str(tmp_path / "runbooks")}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    return values


def the_guides_example(store: Store) -> int:
    """Alert 14:32, acknowledged 14:35, rollback approved 14:44 and applied 14:45, restored 14:48,
    resolved 15:00; the alert itself started at 14:32."""
    alert = {"alert": {"starts_at": T0.isoformat(), "labels": {"alertname": "HighErrorRate"}}}
    opened = store.open_or_attach(
        "api:errors",
        title="API outage",
        severity=Severity.P1,
        service="api",
        runbook="k8s-bad-deploy",
        data=alert,
        at=at(0),
        event=("alert.firing", "alert firing: HighErrorRate{service=api} 5xx at 12%"),
    ).incident
    n = opened.number
    store.acknowledge(n, actor="alice", at=at(3))
    store.assign_role(n, Role.COMMANDER, "alice")
    store.assign_role(n, Role.RESPONDER, "bob")
    store.set_status(n, Status.TRIAGED, at=at(3))
    store.set_status(n, Status.INVESTIGATING, at=at(4))
    store.append(
        n, "diagnostic.result", "revision 7 regressed against revision 6", data={"trouble": True}, at=at(6)
    )
    store.append(
        n, "mitigation.proposed", "rollback: roll back to revision 6", data={"proposal": "rollback"}, at=at(8)
    )
    store.append(
        n, "approval.requested", "approval requested for rollback", data={"proposal": "rollback"}, at=at(8)
    )
    store.append(
        n,
        "approval.granted",
        "rollback: approved by bob",
        actor="bob",
        data={"proposal": "rollback"},
        at=at(12),
    )
    store.set_status(n, Status.MITIGATING, at=at(12))
    store.append(
        n,
        "mitigation.applied",
        "Rollback applied: rolled back prod/api to revision 6",  # read by its field, not its words
        data={"proposal": "rollback"},
        at=at(13),
    )
    store.set_status(n, Status.MONITORING, at=at(16))
    store.append(n, "verification.passed", "error rate back under 1%", at=at(16))
    store.set_status(n, Status.RESOLVED, at=at(28))
    store.add_action_item(
        n, "Add a canary step to the deploy pipeline", owner="bob", due=at(28).date() + timedelta(days=7)
    )
    return n


def test_the_guides_example_lasts_28_minutes_with_16_of_customer_impact(env: dict[str, str]) -> None:
    store = Store.from_settings()
    n = the_guides_example(store)
    f = compute(store.get(n), store.timeline(n))
    assert f.total == timedelta(minutes=28) and f.impact == timedelta(minutes=16)
    assert f.to_acknowledge == timedelta(minutes=3) and f.waiting_for_approval == timedelta(minutes=4)
    [ran] = f.mitigations
    assert (ran.proposal, ran.approved_by) == ("rollback", ("bob",))
    written = write_draft(get_settings(), store, n)
    store.close()
    text = written.text
    assert [line[3:] for line in text.splitlines() if line.startswith("## ")] == [t for _, t in SECTIONS]
    assert (
        "customers affected for 16m (from 2026-11-27 14:32 UTC until mitigated at 2026-11-27 14:48 UTC)"
        in text
    )
    assert "**Duration:** 28m from detection" in text and "**Time to acknowledge:** 3m" in text
    assert "Rollback applied: rolled back prod/api to revision 6 (approved by bob)" in text
    assert "| 14:35 | acknowledged: acknowledged by alice | alice (incident commander) |" in text
    assert "| 14:44 | approved: rollback: approved by bob | bob (responder) |" in text
    assert "- revision 7 regressed against revision 6" in text  # the evidence, not a person
    root_cause = text.split("## 3. Root Cause")[1].split("## 4.")[0]
    assert "alice" not in root_cause and "bob" not in root_cause
    assert "Acknowledged in 3m, within the 15m target." in text
    assert "| Add a canary step to the deploy pipeline | bob | 2026-12-04 | open |" in text
    assert stat.S_IMODE(written.path.stat().st_mode) == 0o600


def test_a_redraft_keeps_the_sections_the_team_wrote_and_updates_the_rest(
    env: dict[str, str], tmp_path: Path
) -> None:
    store = Store.from_settings()
    n = the_guides_example(store)
    first = write_draft(get_settings(), store, n)
    ours = "The readiness probe did not cover the new code path.\n\n**Root cause:** a probe gap."
    drafted_root = first.text.split("## 3. Root Cause\n")[1].split("\n## 4.")[0]
    marker, _, _ = drafted_root.partition("\n")
    first.path.write_text(first.text.replace(drafted_root, f"{marker}\n{ours}"))
    store.add_action_item(n, "Cover the new path in the readiness probe", owner="alice")
    second = write_draft(get_settings(), store, n)
    store.close()
    assert second.kept == ("root_cause",)
    assert ours in second.text and "Five whys" not in second.text
    assert "Cover the new path in the readiness probe" in second.text  # the actions section was redrafted


def test_done_is_refused_while_blanks_remain_and_closes_the_incident_once_filled(
    env: dict[str, str], tmp_path: Path
) -> None:
    store = Store.from_settings()
    n = the_guides_example(store)
    incident = store.get(n)
    store.close()
    shown = warroom("postmortem", "show", incident.id, env=env)
    assert shown.returncode == 0 and "## 6. Action Items" in shown.stdout, shown.stderr
    refused = warroom("postmortem", "done", incident.id, "--as", "alice", env=env)
    assert (
        refused.returncode == 1 and "still to fill in: 1. Incident Summary, 3. Root Cause" in refused.stderr
    )
    editor = tmp_path / "editor.py"
    editor.write_text(
        textwrap.dedent(
            """\
        import re, sys
        path = sys.argv[1]
        text = open(path).read().replace("_…_", "done")
        open(path, "w").write(text)
        """
        )
    )
    edited = warroom(
        "postmortem",
        "edit",
        incident.id,
        "--as",
        "alice",
        env={**env, "EDITOR": f"{sys.executable} {editor}"},
    )
    assert edited.returncode == 0 and "saved" in edited.stdout, edited.stdout + edited.stderr
    closed = warroom("postmortem", "done", incident.id, "--as", "alice", env=env)
    assert closed.returncode == 0 and f"{incident.id} is closed" in closed.stdout, closed.stderr
    store = Store.from_settings()
    assert store.get(n).status is Status.CLOSED
    kinds = [e.kind for e in store.timeline(n)]
    store.close()
    assert "postmortem.edited" in kinds
    redraft = warroom("postmortem", "draft", incident.id, env=env)
    assert redraft.returncode == 0
    after = path_for(get_settings(), incident).read_text()
    assert "1. Why did the service fail? done" in after and "_…_" not in after  # the team's text survives


def test_the_review_is_invited_working_days_later_with_the_responders(env: dict[str, str]) -> None:
    assert working_days_after(datetime(2026, 11, 27).date(), 3).isoformat() == "2026-12-02"  # Fri + 3 = Wed
    store = Store.from_settings()
    n = the_guides_example(store)
    learned = learn(get_settings(), store, n)
    store.close()
    assert learned.review is not None and learned.review.isoformat() == "2026-12-02"  # P1: 3 working days
    invite = Path(env["WARROOM_HOME"]) / "postmortems" / "INC-1-review.ics"
    event = next(iter(icalendar.Calendar.from_ical(invite.read_bytes()).walk("VEVENT")))
    assert event.decoded("DTSTART") == datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    assert "Post-mortem review: INC-1 API outage" in str(event["SUMMARY"])


def test_a_manual_resolve_drafts_and_tracks_in_the_local_tracker(env: dict[str, str]) -> None:
    store = Store.from_settings()
    opened = store.open_or_attach("db:slow", title="DB slow", severity=Severity.P2).incident
    store.add_action_item(opened.number, "Index the orders table", owner="carol")
    store.close()
    done = warroom("incidents", "resolve", opened.id, "--as", "alice", "--reason", "vacuum finished", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "post-mortem drafted at" in done.stdout
        and f"{opened.id}: incident tracked as incident" in done.stdout
    )
    again = warroom("actions", "sync", env=env)
    assert again.returncode == 0 and again.stdout.strip() == "tracker up to date"
    store = Store.from_settings()
    tracked = store.tracked(opened.number, "local")
    store.close()
    assert sorted(tracked) == ["action:1", "incident", "review"]
    assert os.path.exists(Path(env["WARROOM_HOME"]) / "postmortems" / f"{opened.id}.md")
