"""Reports over a ledger built by hand, whose right answers are worked out here: the guide's example (28
minutes in all, 16 of customer impact), an open incident left out of the time to resolve, an empty period,
a filter, and every figure beside the previous period's."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from warroom.events import EventKind
from warroom.incident import Severity
from warroom.ledger import Store
from warroom.reports.figures import Filters, figures
from warroom.reports.period import Period, period_of
from warroom.reports.warnings import warnings
from warroom.schema import action_items, approval_gates, incidents, pages, run_attempts

SHOTS = (
    Path(os.environ.get("WARROOM_TEST_OUTPUT") or Path(__file__).resolve().parent.parent / "test-output")
    / "reports"
)
T = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
MONTH = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
MIN = timedelta(minutes=1)


def _incident(
    store: Store,
    key: str,
    level: Severity,
    detected: datetime,
    *,
    runbook: str | None = None,
    acknowledged: datetime | None = None,
    mitigated: datetime | None = None,
    resolved: datetime | None = None,
    closed: datetime | None = None,
    status: str | None = None,
    commander: str | None = None,
) -> int:
    number = store.open_or_attach(
        key, title=key, severity=level, runbook=runbook, service="checkout", at=detected
    ).incident.number
    with store.engine.begin() as conn:
        conn.execute(
            update(incidents)
            .where(incidents.c.number == number)
            .values(
                detected_at=detected,
                acknowledged_at=acknowledged,
                mitigated_at=mitigated,
                resolved_at=resolved,
                closed_at=closed,
                status=status or ("closed" if closed else "resolved" if resolved else "investigating"),
                roles={"commander": commander, "comms_lead": None, "responders": [], "smes": []},
                open_key=None if resolved else key,
            )
        )
    return number


def _gate(
    store: Store,
    number: int,
    opened: datetime,
    closed: datetime,
    state: str,
    granted: list[str] | None = None,
) -> None:
    with store.engine.begin() as conn:
        attempt = conn.execute(
            insert(run_attempts)
            .values(
                flow_run_id=f"run-{number}-{opened:%H%M}",
                attempt=1,
                incident_number=number,
                runbook="rb",
                state="finished",
                started_at=opened,
                heartbeat_at=closed,
                checkpoint={},
            )
            .returning(run_attempts.c.id)
        ).scalar_one()
        conn.execute(
            insert(approval_gates).values(
                attempt_id=attempt,
                incident_number=number,
                proposal="rollback",
                plan_digest="0" * 64,
                state=state,
                opened_at=opened,
                deadline=opened + timedelta(hours=1),
                closed_at=closed,
                granted=granted or [],
                adjustments={},
            )
        )


def _page(store: Store, number: int, person: str, at: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            insert(pages).values(
                incident_number=number,
                step=0,
                target=f"sre/{person}",
                person=person,
                paged_at=at,
                due_at=at + 15 * MIN,
                state="acknowledged",
                closed_at=at + MIN,
            )
        )


def _item(store: Store, number: int, status: str, due: date | None, created: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            insert(action_items).values(
                incident_number=number,
                title="x",
                owner="sam",
                due=due,
                status=status,
                created_at=created,
                completed_at=created + timedelta(days=1) if status == "done" else None,
            )
        )


@pytest.fixture
def ledger(store: Store) -> Store:
    # The guide's incident: detected 10:00, taken 10:03, rolled back 10:16 after a 4-minute wait for
    # approval, resolved 10:28: 28 minutes in all, 16 of them customers affected.
    a = _incident(
        store,
        "guide",
        Severity.P1,
        T,
        runbook="k8s-bad-deploy",
        acknowledged=T + 3 * MIN,
        mitigated=T + 16 * MIN,
        resolved=T + 28 * MIN,
        closed=T + timedelta(days=2),
    )
    _gate(store, a, T + 8 * MIN, T + 12 * MIN, "granted", ["bob"])
    store.append(a, EventKind.MITIGATION_APPLIED, "rollback applied", data={"proposal": "rollback"})
    _item(store, a, "done", date(2026, 11, 20), T)
    _item(store, a, "open", date(2026, 11, 10), T)  # overdue by the report's day
    _item(store, a, "open", date(2026, 12, 30), T)
    _page(store, a, "alice", T)
    store.append(a, EventKind.INCIDENT_ACKNOWLEDGED, "acknowledged by alice", actor="alice")
    # A P2 fixed by hand an hour later: taken in a minute, 41 minutes to resolve, its post-mortem not done.
    b = _incident(
        store,
        "by-hand",
        Severity.P2,
        T + timedelta(hours=1),
        acknowledged=T + timedelta(hours=1) + MIN,
        resolved=T + timedelta(hours=1) + 41 * MIN,
    )
    _page(store, b, "bob", T + timedelta(hours=1))
    store.append(b, EventKind.INCIDENT_ACKNOWLEDGED, "acknowledged by bob", actor="bob")
    # A P3 still open, nobody has taken it: in the counts and the impact, not in the times.
    c = _incident(store, "open", Severity.P3, T + timedelta(hours=2))
    _page(store, c, "carol", T + timedelta(hours=13))  # 23:00 UTC: a night page, never answered
    # October's incident is the previous period's.
    _incident(
        store,
        "october",
        Severity.P1,
        T - timedelta(days=20),
        acknowledged=T - timedelta(days=20) + 10 * MIN,
        resolved=T - timedelta(days=20) + 60 * MIN,
    )
    return store


def test_figures_over_the_guides_example_and_its_neighbours_are_the_hand_worked_ones(ledger: Store) -> None:
    at = datetime(2026, 11, 15, tzinfo=UTC)  # the report is made mid-month
    f = figures(ledger, MONTH, at=at)
    assert (f.incidents, f.open) == (3, 1)
    assert f.by_severity == {"P1": 1, "P2": 1, "P3": 1}
    assert f.by_runbook == {"(none)": 2, "k8s-bad-deploy": 1}
    # acknowledged in 3 and 1 minutes: mean 2, nearest-rank median the smaller, p90 the larger
    assert (f.to_acknowledge.count, f.to_acknowledge.mean, f.to_acknowledge.median, f.to_acknowledge.p90) == (
        2,
        120.0,
        60.0,
        180.0,
    )
    assert (f.to_mitigate.count, f.to_mitigate.median) == (1, 960.0)
    # resolved in 28 and 41 minutes; the open P3 is left out
    assert (f.to_resolve.count, f.to_resolve.mean, f.to_resolve.median, f.to_resolve.p90) == (
        2,
        2070.0,
        1680.0,
        2460.0,
    )
    # 16 (mitigated) + 41 (resolved, never mitigated) + 12.5 days (the P3, open until the report's moment)
    assert f.impact_minutes == 16 + 41 + 12.5 * 24 * 60
    assert (f.approval_wait_minutes, f.machine_minutes) == (4.0, 12.0)
    assert f.changes == {
        "proposed": 1,
        "approved": 1,
        "rejected": 0,
        "timed_out": 0,
        "applied": 1,
        "failed": 0,
        "partial": 0,
    }
    assert (f.resolved_by_change, f.resolved_by_hand, f.automation_rate) == (1, 1, 0.5)
    assert (f.postmortems_owed, f.postmortems_done) == (2, 1)
    assert f.action_items["total"] == 3 and f.action_items["done"] == 1 and f.action_items["overdue"] == 1
    assert f.action_items["completion_rate"] == 0.333
    assert f.postmortem_after.median == 2 * 86400 - 28 * 60  # closed two days after detection
    assert f.oncall == {
        "alice": {"pages": 1, "night_pages": 0, "acknowledged": 1},
        "bob": {"pages": 1, "night_pages": 0, "acknowledged": 1},
        "carol": {"pages": 1, "night_pages": 1, "acknowledged": 0},
    }


def test_the_previous_period_an_empty_period_and_a_filter(ledger: Store) -> None:
    before = figures(ledger, MONTH.previous(), at=T)
    assert before.incidents == 1 and before.to_resolve.median == 3600.0 and before.to_acknowledge.p90 == 600.0
    empty = figures(ledger, Period(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)), at=T)
    assert empty.incidents == 0 and empty.to_resolve.count == 0 and empty.to_resolve.median is None
    assert empty.automation_rate is None and empty.action_items["completion_rate"] == 0.0
    p1 = figures(ledger, MONTH, Filters(severity=Severity.P1), at=T + timedelta(days=1))
    assert p1.incidents == 1 and p1.to_resolve.median == 1680.0 and p1.impact_minutes == 16.0
    team = figures(
        ledger, MONTH, Filters(runbooks=("k8s-bad-deploy", "ecs-bad-deploy")), at=T + timedelta(days=1)
    )
    assert team.incidents == 1 and figures(ledger, MONTH, Filters(runbooks=()), at=T).incidents == 0
    one = figures(ledger, MONTH, Filters(runbook="k8s-bad-deploy"), at=T + timedelta(days=1))
    assert one.incidents == 1 and one.approval_wait_minutes == 4.0


def test_a_period_is_read_as_people_write_it() -> None:
    now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert period_of("30d", None, None, now) == Period(now - timedelta(days=30), now)
    november = period_of(None, date(2026, 11, 1), date(2026, 11, 30), now)
    assert november == MONTH and november.previous().start == datetime(2026, 10, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="not both"):
        period_of("7d", date(2026, 11, 1), None, now)
    with pytest.raises(ValueError, match="before"):
        period_of(None, date(2026, 12, 1), date(2026, 11, 1), now)


def test_warroom_report_prints_each_figure_beside_the_period_before(ledger: Store, ledger_url: str) -> None:
    from tests.test_cli import warroom

    env = {"WARROOM_DATABASE_URL": ledger_url}
    shown = warroom("report", "--from", "2026-11-01", "--to", "2026-11-30", env=env)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.startswith("2026-11-01 00:00 to 2026-12-01 00:00 UTC (30d), beside 2026-10-02 00:00")
    lines = {line.split("  ")[0].strip(): line for line in text.splitlines() if line.strip()}
    assert lines["incidents"].split()[1:] == ["3", "1", "+2"]
    assert lines["time to resolve, median"].split()[-3:] == ["28m", "1h", "-32m"]
    assert lines["post-mortems done / owed"].split()[-6:] == ["1", "/", "2", "0", "/", "1"]
    data = json.loads(
        warroom(
            "report", "--from", "2026-11-01", "--to", "2026-11-30", "--severity", "P1", "--json", env=env
        ).stdout
    )
    assert data["figures"]["incidents"] == 1 and data["previous"]["incidents"] == 1
    assert data["figures"]["to_resolve"]["median_seconds"] == 1680.0
    assert [w["kind"] for w in data["warnings"]] == ["action_items_overdue"]  # the guide's overdue item
    said = text.split("\nWarnings:\n", 1)[1].splitlines()
    assert said == [
        "  postmortem_missing: 1 incident(s) resolved 5+ days ago without their required post-mortem: INC-2",
        "  action_items_overdue: 1 action item(s) past their due date: INC-1",
        "  unmatched: 1 P1/P2 incident(s) matched no runbook: INC-2",
    ]
    nobody = warroom("report", "--team", "payments", env=env)
    assert nobody.returncode == 2 and "no runbook names team 'payments'" in nobody.stderr
    bad = warroom("report", "--since", "7d", "--from", "2026-11-01", env=env)
    assert bad.returncode == 2 and "not both" in bad.stderr


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _kinds(store: Store) -> dict[str, tuple[str, ...]]:
    return {w.kind: w.incidents for w in warnings(store, MONTH, NOW)}


def test_a_required_post_mortem_missing_five_days_after_resolution_is_called_out(store: Store) -> None:
    rb = "k8s-bad-deploy"
    late = _incident(store, "late", Severity.P1, NOW - 6 * DAY, runbook=rb, resolved=NOW - 5 * DAY)
    _incident(
        store, "almost", Severity.P2, NOW - 6 * DAY, runbook="ecs-bad-deploy", resolved=NOW - 5 * DAY + MIN
    )  # a minute short
    _incident(store, "minor", Severity.P3, NOW - 9 * DAY, resolved=NOW - 8 * DAY)  # none required
    _incident(
        store,
        "done",
        Severity.P1,
        NOW - 9 * DAY,
        runbook="host-disk",
        resolved=NOW - 8 * DAY,
        closed=NOW - 7 * DAY,
    )
    assert _kinds(store) == {"postmortem_missing": (f"INC-{late}",)}


def test_an_action_item_past_its_due_day_is_called_out_and_one_due_today_is_not(store: Store) -> None:
    n = _incident(store, "a", Severity.P3, NOW - 9 * DAY, resolved=NOW - 8 * DAY)
    _item(store, n, "open", (NOW - DAY).date(), NOW - 8 * DAY)
    _item(store, n, "open", NOW.date(), NOW - 8 * DAY)
    _item(store, n, "done", (NOW - 3 * DAY).date(), NOW - 8 * DAY)
    found = {w.kind: w for w in warnings(store, MONTH, NOW)}
    assert list(found) == ["action_items_overdue"] and found["action_items_overdue"].incidents == (
        f"INC-{n}",
    )
    assert found["action_items_overdue"].text.startswith("1 action item(s)")


def test_the_same_incident_twice_is_repeating_once_is_not(store: Store) -> None:
    first = _incident(store, "disk-full:web-1", Severity.P3, NOW - 9 * DAY, resolved=NOW - 9 * DAY + 5 * MIN)
    assert _kinds(store) == {}
    again = _incident(store, "disk-full:web-1", Severity.P3, NOW - 2 * DAY, resolved=NOW - 2 * DAY + 5 * MIN)
    _incident(store, "disk-full:web-2", Severity.P3, NOW - 2 * DAY, resolved=NOW - DAY)
    assert _kinds(store) == {"repeating": (f"INC-{first}", f"INC-{again}")}
    [said] = warnings(store, MONTH, NOW)
    assert said.text == "1 alert(s) came back as new incidents: disk-full:web-1 x2" and said.count == 2


def test_an_incident_whose_update_was_late_is_called_out(store: Store) -> None:
    told = _incident(store, "told", Severity.P3, NOW - 2 * DAY)
    late = _incident(store, "late", Severity.P3, NOW - 2 * DAY)
    store.append(told, EventKind.UPDATE_POSTED, "all fine", actor="bob")
    store.append(late, EventKind.STATUS_DUE, "the status page says nothing yet", data={"level": 1})
    assert _kinds(store) == {"updates_missed": (f"INC-{late}",)}


def test_one_person_commanding_most_incidents_is_hero_culture_half_is_not(store: Store) -> None:
    for n, who in enumerate(["alice", "alice", "bob", "carol"]):
        _incident(store, f"h{n}", Severity.P3, NOW - 3 * DAY, resolved=NOW - 2 * DAY, commander=who)
    assert _kinds(store) == {}  # alice commands 2 of 4: half, not most
    fifth = _incident(store, "h4", Severity.P3, NOW - 3 * DAY, resolved=NOW - 2 * DAY, commander="alice")
    found = [w for w in warnings(store, MONTH, NOW) if w.kind == "hero"]
    assert (
        len(found) == 1
        and found[0].text.startswith("alice commanded 3 of 5")
        and f"INC-{fifth}" in found[0].incidents
    )


def test_an_incident_nobody_triaged_for_an_hour_and_a_severe_one_no_runbook_matched(store: Store) -> None:
    stale = _incident(store, "stale", Severity.P3, NOW - 61 * MIN, status="detected")
    _incident(store, "fresh", Severity.P3, NOW - 59 * MIN, status="detected")
    severe = _incident(store, "severe", Severity.P2, NOW - 3 * DAY, resolved=NOW - 2 * DAY, closed=NOW - DAY)
    _incident(
        store,
        "matched",
        Severity.P1,
        NOW - 3 * DAY,
        runbook="k8s-bad-deploy",
        resolved=NOW - 2 * DAY,
        closed=NOW - DAY,
    )
    assert _kinds(store) == {"untriaged": (f"INC-{stale}",), "unmatched": (f"INC-{severe}",)}


def test_the_weekly_report_deployment_publishes_a_table_and_a_summary_artifact(
    ledger: Store, ledger_url: str, prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.report import SUMMARY_KEY, TABLE_KEY, report
    from warroom.settings import get_settings

    monkeypatch.setenv("WARROOM_DATABASE_URL", ledger_url)
    get_settings.cache_clear()
    said = report(since="60d", ending=MONTH.end)
    assert said.startswith("4 incidents, 3 warning(s)")  # October's too: 60 days back from December
    with get_client(sync_client=True) as client:
        [table] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[TABLE_KEY])),
            limit=1,
            sort="CREATED_DESC",
        )
        [summary] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[SUMMARY_KEY])),
            limit=1,
            sort="CREATED_DESC",
        )
    rows = {r["figure"]: r for r in json.loads(table.data)}
    assert rows["incidents"]["this period"] == "4" and rows["time to resolve, median"]["this period"] == "41m"
    assert "**4 incidents**" in summary.data and "## Warnings" in summary.data
    assert "**postmortem_missing**" in summary.data and "INC-2" in summary.data


def test_the_weeks_behind_the_charts_are_the_hand_worked_ones_and_each_chart_shows_them(
    ledger: Store, tmp_path: Path
) -> None:
    import matplotlib.image

    from warroom.reports.charts import charts
    from warroom.reports.trends import weeks

    found = weeks(ledger, MONTH)
    # November 2026's weeks, Mondays: the first holds November 1st (a Sunday), the last November 30th
    assert [w.start for w in found] == [date(2026, 10, 26) + timedelta(weeks=n) for n in range(6)]
    first = found[1]  # the week of Monday November 2nd
    assert first.by_severity == {"P1": 1, "P2": 1, "P3": 1}
    assert (first.ack_median, first.resolve_median) == (60.0, 1680.0)
    assert (first.waiting_minutes, first.machine_minutes) == (4.0, 12.0)
    # three items made on the 2nd, one done on the 3rd: two still open at each week's end after
    assert [w.open_items for w in found] == [0, 2, 2, 2, 2, 2]
    assert all(not w.by_severity for w in found[2:])
    drawn = charts(found)
    assert set(drawn) == {"incidents", "times", "approval_wait", "action_items"}
    for name, png in drawn.items():
        path = tmp_path / f"{name}.png"
        path.write_bytes(png)
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[1] > 600 and pixels.shape[0] > 250, name
        colours = {tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::37]}
        assert len(colours) > 8, f"{name} is blank"


def test_the_html_report_stands_alone_and_reads_in_a_browser(
    ledger: Store, ledger_url: str, tmp_path: Path
) -> None:
    import shutil

    from playwright.sync_api import sync_playwright

    from tests.test_cli import warroom

    out = tmp_path / "report.html"
    made = warroom(
        "report",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--html",
        str(out),
        "--charts",
        str(tmp_path / "png"),
        env={"WARROOM_DATABASE_URL": ledger_url},
    )
    assert made.returncode == 0, made.stderr
    page = out.read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page  # nothing fetched
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
        "action_items.png",
        "approval_wait.png",
        "incidents.png",
        "times.png",
    ]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the report is read in Debian's chromium (scripts/install.sh --dev installs it)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1100, "height": 1400})
            tab.goto(out.as_uri())
            tab.screenshot(path=str(SHOTS / "report.png"), full_page=True)
            text = tab.inner_text("body")
            drawn = tab.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.alt, i.complete && i.naturalWidth])"
            )
        finally:
            browser.close()
    assert "time to resolve, median" in text and "28m" in text
    assert "postmortem_missing: 1 incident(s) resolved 5+ days ago" in text
    assert sorted(alt for alt, width in drawn if width and width > 600) == [
        "action_items",
        "approval_wait",
        "incidents",
        "times",
    ]


def test_a_new_incident_gets_its_similar_past_and_a_proposal_how_it_went_last_time(ledger: Store) -> None:
    from warroom.proposal import Proposal, gate_page
    from warroom.reports.past import last_time, similar

    guide = ledger.get("INC-1")
    ledger.append(guide.number, EventKind.VERIFICATION_PASSED, "pods healthy")  # after the rollback
    events = ledger.timeline(guide.number)
    applied = next(e for e in events if e.kind is EventKind.MITIGATION_APPLIED)
    verified = next(e for e in events if e.kind is EventKind.VERIFICATION_PASSED)
    took = verified.at - applied.at
    again = ledger.open_or_attach(
        "guide", title="guide again", severity=Severity.P1, runbook="k8s-bad-deploy", service="checkout"
    ).incident
    before = similar(ledger, again)
    # the same alert first, then the rest of the service's, newest first
    assert [p.id for p in before][:1] == ["INC-1"] and before[0].match == "the same alert"
    assert {p.id for p in before} == {"INC-1", "INC-2", "INC-3", "INC-4"}
    first = before[0]
    assert [(c.proposal, c.approved_by) for c in first.changes] == [("rollback", ("bob",))]
    assert first.changes[0].recovered_in == took and first.postmortem_done and first.open_action_items == 2
    assert (
        "rollback approved by bob, recovered in" in first.line()
        and "2 action item(s) still open" in first.line()
    )
    hand = next(p for p in before if p.id == "INC-2")
    assert hand.line().startswith(
        "INC-2 (P2, 2026-11-02, the same service): resolved by hand; no post-mortem yet"
    )
    said = last_time(ledger, again, "rollback")
    assert said is not None and said.startswith("last time (INC-1, 2026-11-02): rollback approved by bob")
    assert last_time(ledger, again, "scale_up") is None
    page = gate_page(
        incident=again,
        proposal=Proposal(
            id="rollback",
            use="kubernetes.rollback",
            params={},
            summary="Roll back",
            evidence={},
            dry_run=None,
            way_back="undo",
            apply_key="k",
            last_time=said,
        ),
        alert={},
        who_may_approve="group sre",
        required=1,
        granted=[],
        deadline=NOW,
        last_refusal=None,
        at=NOW,
    )
    assert "Last time (INC-1, 2026-11-02): rollback approved by bob" in page.brief
    assert "**Last time**: (INC-1, 2026-11-02): rollback approved by bob" in page.markdown
    # the first incident of its kind has no past
    assert similar(ledger, ledger.get("INC-4")) == []  # October's came first: nothing before it


def test_the_incidents_phases_are_drawn_from_its_timeline_for_its_post_mortem(tmp_path: Path) -> None:
    import matplotlib.image

    from warroom.incident import Incident, Status, TimelineEvent
    from warroom.postmortem.files import draw_phases
    from warroom.postmortem.phases import phases

    incident = Incident(
        id="INC-7",
        number=7,
        title="checkout errors",
        severity=Severity.P1,
        status=Status.RESOLVED,
        detected_at=T,
        acknowledged_at=T + 3 * MIN,
        mitigated_at=T + 16 * MIN,
        resolved_at=T + 28 * MIN,
    )

    def event(n: int, kind: EventKind, minutes: float, **data: str) -> TimelineEvent:
        return TimelineEvent(
            id=n, incident="INC-7", at=T + minutes * MIN, kind=kind, actor="x", text="", data=data
        )

    timeline = [
        event(1, EventKind.RUN_STARTED, 1),
        event(2, EventKind.MITIGATION_PROPOSED, 6, proposal="rollback"),
        event(3, EventKind.APPROVAL_REQUESTED, 8, proposal="rollback"),
        event(4, EventKind.APPROVAL_GRANTED, 12),
        event(5, EventKind.MITIGATION_STARTED, 12, proposal="rollback"),
        event(6, EventKind.MITIGATION_APPLIED, 14, proposal="rollback"),
        event(7, EventKind.VERIFICATION_PASSED, 16),
    ]
    drawn = [
        (p.label, (p.start - T) / MIN, (p.end - T) / MIN) for p in phases(incident, timeline, T + 60 * MIN)
    ]
    assert drawn == [
        ("until someone took it", 0, 3),
        ("investigating", 1, 6),
        ("waiting for approval of rollback", 8, 12),
        ("rollback being made", 12, 14),
        ("verifying", 14, 16),
        ("until resolved", 16, 28),
    ]
    png = tmp_path / "phases.png"
    png.write_bytes(draw_phases(incident, timeline))
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[1] > 600 and len({tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::31]}) > 8


def test_an_incident_acknowledged_before_it_was_triaged_counts_in_the_time_to_acknowledge(
    store: Store,
) -> None:
    # paged and taken within two minutes, while its run had not triaged it yet (still `detected`)
    _incident(store, "early", Severity.P2, T, acknowledged=T + 2 * MIN, status="detected")
    f = figures(store, MONTH, at=T + 10 * MIN)
    assert (f.to_acknowledge.count, f.to_acknowledge.median) == (1, 120.0)
    assert f.to_resolve.count == 0 and f.open == 1


def test_the_same_runbook_answering_one_service_thrice_is_called_out_twice_is_not(store: Store) -> None:
    for n in range(2):
        _incident(
            store, f"svc-{n}", Severity.P3, NOW - (3 + n) * DAY, runbook="disk-full", resolved=NOW - 2 * DAY
        )
    assert "repeating_service" not in _kinds(store)
    third = _incident(store, "svc-2", Severity.P3, NOW - DAY, runbook="disk-full", resolved=NOW - DAY + MIN)
    [said] = [w for w in warnings(store, MONTH, NOW) if w.kind == "repeating_service"]
    assert said.text == "the same runbook keeps answering the same service: checkout (disk-full) x3"
    assert said.count == 3 and f"INC-{third}" in said.incidents


def test_one_person_taking_most_pages_is_burnout_half_is_not(store: Store) -> None:
    numbers = [
        _incident(store, f"p{n}", Severity.P3, NOW - 3 * DAY, resolved=NOW - 2 * DAY) for n in range(5)
    ]
    for number, who in zip(numbers[:4], ["dan", "dan", "erin", "frank"], strict=True):
        _page(store, number, who, NOW - 3 * DAY)
    assert "burnout" not in _kinds(store)  # dan took 2 of 4
    _page(store, numbers[4], "dan", NOW - 3 * DAY)
    [said] = [w for w in warnings(store, MONTH, NOW) if w.kind == "burnout"]
    assert said.text.startswith("dan was paged 3 of 5 times") and said.count == 3
