"""Warroom's own status page: only what a person published, uptime per component from those posts, the
HTML read without JavaScript, index.json and the Atom feed saying the same, who may publish, and the
page's own update cadence."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from xml.etree import ElementTree as ET

import httpx
import pytest

from flows.status_page import StatusRefused, keep_status, publish_status
from tests.flow_helpers import code
from tests.status_http import serving
from tests.test_cli import warroom
from warroom.events import EventKind
from warroom.identity import Purpose
from warroom.incident import Role, Severity
from warroom.ledger import Store
from warroom.settings import get_settings
from warroom.severity import communication_plan, policy_for
from warroom.status.html import shown_percent
from warroom.status.model import ComponentState, PublicState, StatusPost
from warroom.status.uptime import uptime
from warroom.status.web import status_app

WEIGHTS = {ComponentState.MAJOR: 1.0, ComponentState.PARTIAL: 0.3}
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _post(
    pid: int, incident: int, state: PublicState, at: datetime, started: datetime, **components: str
) -> StatusPost:
    return StatusPost(
        pid,
        incident,
        "t",
        state,
        "x",
        {k: ComponentState(v) for k, v in components.items()},
        "bob",
        at,
        started,
        None,
    )


def test_uptime_weighs_a_partial_outage_at_30_percent_and_counts_overlapping_incidents_once() -> None:
    posts = [
        # INC-1: Checkout down for 10 minutes, then partly for 20, then resolved.
        _post(1, 1, PublicState.INVESTIGATING, T0 + timedelta(minutes=2), T0, Checkout="major_outage"),
        _post(2, 1, PublicState.MONITORING, T0 + timedelta(minutes=10), T0, Checkout="partial_outage"),
        _post(3, 1, PublicState.RESOLVED, T0 + timedelta(minutes=30), T0, Checkout="operational"),
        # INC-2 overlaps INC-1's partial outage with a major one for 5 minutes: the worse counts, once.
        _post(
            4,
            2,
            PublicState.INVESTIGATING,
            T0 + timedelta(minutes=15),
            T0 + timedelta(minutes=15),
            Checkout="major_outage",
        ),
        _post(
            5,
            2,
            PublicState.RESOLVED,
            T0 + timedelta(minutes=20),
            T0 + timedelta(minutes=15),
            Checkout="operational",
        ),
    ]
    [checkout] = uptime(
        ["Checkout"], posts, today=date(2026, 12, 1), days=3, weights=WEIGHTS, until=T0 + timedelta(hours=5)
    )
    day = checkout.days[-1]
    # 10 min major (from the stated start, not the first post) + 5 min major + 15 min partial at 30%
    assert day.down_seconds == pytest.approx(600 + 300 + 0.3 * 900)
    assert day.down_minutes == 20  # 19.5 minutes, rounded up
    assert day.worst is ComponentState.MAJOR and day.incidents == (1, 2)
    assert [d.down_seconds for d in checkout.days[:2]] == [0.0, 0.0]
    assert checkout.percent == pytest.approx(100 * (1 - 1170 / (3 * 86400)), abs=0.001)


def test_uptime_splits_an_outage_across_midnight_and_an_open_incident_runs_until_now() -> None:
    start = datetime(2026, 12, 1, 23, 50, tzinfo=UTC)
    posts = [_post(1, 7, PublicState.IDENTIFIED, start, start, Api="major_outage")]
    now = datetime(2026, 12, 2, 0, 30, tzinfo=UTC)
    [api] = uptime(["Api"], posts, today=date(2026, 12, 2), days=2, weights=WEIGHTS, until=now)
    assert [d.down_minutes for d in api.days] == [10, 30]
    # ten seconds down in 90 days is not 100%, as the page shows it
    assert shown_percent(100 * (1 - 10 / (90 * 86400))) == "99.99" and shown_percent(100.0) == "100.00"
    # no post, no outage
    [quiet] = uptime(["Api"], [], today=date(2026, 12, 2), days=2, weights=WEIGHTS, until=now)
    assert [d.down_seconds for d in quiet.days] == [0.0, 0.0]


def _p1(store: Store, title: str = "Checkout errors", service: str = "checkout") -> int:
    incident = store.open_or_attach(
        f"k-{time.monotonic_ns()}", title=title, severity=Severity.P1, service=service
    ).incident
    text, data = communication_plan(policy_for(Severity.P1, get_settings().severity))
    store.append(incident.number, EventKind.COMMUNICATION_PLANNED, text, data=data)
    store.assign_role(incident.number, Role.COMMANDER, "alice")
    store.assign_role(incident.number, Role.COMMS_LEAD, "bob")
    return incident.number


class _Text(HTMLParser):
    """What a reader without JavaScript gets: the text, the titles, and any script."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.titles: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.titles += [v or "" for k, v in attrs if k == "title"]
        if any(k.startswith("on") for k, _ in attrs):
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(" ".join(data.split()))


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_STATUS_COMPONENTS", json.dumps({"checkout": ["Checkout", "Payments API"]}))
    monkeypatch.setenv("WARROOM_STATUS_CACHE_SECONDS", "0")
    get_settings.cache_clear()


def test_the_page_reads_without_javascript_and_index_json_and_atom_say_the_same(
    store: Store, settings_env: None
) -> None:
    settings = get_settings()
    number = _p1(store)
    store.append(number, EventKind.NOTE, "db password rotated; suspect deploy 4f2a by carol")  # internal
    with serving(status_app(store, settings)) as url:
        before = httpx.get(f"{url}/").text
        assert "All systems operational" in before and "No incidents in the last 15 days" in before
        publish_status(
            store, settings, number, "bob", PublicState.INVESTIGATING, "Checkout is failing for some."
        )
        publish_status(
            store,
            settings,
            number,
            "alice",
            PublicState.IDENTIFIED,
            "A bad release; rolling it back.",
            components={"Payments API": ComponentState.OPERATIONAL},
        )
        html = httpx.get(f"{url}/")
        index = httpx.get(f"{url}/index.json").json()
        atom = ET.fromstring(httpx.get(f"{url}/feed.atom").content)
    assert html.headers["content-type"].startswith("text/html")
    page = _Text()
    page.feed(html.text)
    text = "\n".join(page.text)
    assert page.scripts == 0
    assert "A major outage is under way" in text
    # the updates newest first, each in the person's words, with when the next one is due
    assert text.index("A bad release; rolling it back.") < text.index("Checkout is failing for some.")
    assert re.search(r"Next update in 1[45] minutes", text), text
    assert "Checkout\nMajor outage" in text and "Payments API\nOperational" in text
    # nothing from the timeline by itself: not the note, not who posted
    assert "password" not in html.text and "carol" not in html.text and "bob" not in html.text
    bars = [t for t in page.titles if re.match(r"\d{4}-\d\d-\d\d: ", t)]
    assert len(bars) == 2 * 90
    assert sum(f"INC-{number}" in t for t in bars) == 2  # today's bar of each component names it
    # index.json: the same facts
    assert index["status"] == "major_outage"
    assert {c["name"]: c["state"] for c in index["components"]} == {
        "Checkout": "major_outage",
        "Payments API": "operational",
    }
    [public] = index["incidents"]
    assert public["id"] == f"INC-{number}" and public["state"] == "identified"
    assert [u["text"] for u in public["updates"]] == [
        "A bad release; rolling it back.",
        "Checkout is failing for some.",
    ]
    assert len(index["components"][0]["days"]) == 90
    # the Atom feed: one entry per update, newest first
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = atom.findall("a:entry", ns)
    assert [e.findtext("a:title", namespaces=ns) for e in entries] == [
        "Identified: Checkout and Payments API: major outage",
        "Investigating: Checkout and Payments API: major outage",
    ]
    assert entries[0].findtext("a:content", namespaces=ns) == "A bad release; rolling it back."


def test_a_status_post_by_someone_neither_comms_lead_nor_commander_is_refused(
    store: Store, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARROOM_DATABASE_URL", ledger_url)
    get_settings.cache_clear()
    number = _p1(store)
    # mallory proves who she is; she still may not speak for the company
    refused = warroom(
        "status",
        "post",
        f"INC-{number}",
        "All good, nothing to see",
        "--state",
        "resolved",
        "--as",
        "mallory",
        "--code",
        code("mallory", Purpose.ACKNOWLEDGE),
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "comms lead (bob) or the commander (alice)" in refused.stderr
    assert store.status_posts(number) == []
    [said] = [e for e in store.timeline(number) if e.kind is EventKind.STATUS_REFUSED]
    assert said.actor == "mallory" and "refused" in said.text
    # a typed name proves nothing: bob's name with mallory's code
    forged = warroom(
        "status",
        "post",
        f"INC-{number}",
        "All good",
        "--as",
        "bob",
        "--code",
        code("mallory", Purpose.ACKNOWLEDGE),
    )
    assert forged.returncode == 1 and store.status_posts(number) == []
    with pytest.raises(StatusRefused, match="comms lead"):
        publish_status(store, get_settings(), number, "mallory", PublicState.INVESTIGATING, "words")
    # the comms lead may, and the draft is there when they give no words of their own
    drafted = json.loads(warroom("status", "draft", f"INC-{number}", "--json").stdout)
    assert drafted["components"] == {"checkout": "major_outage"}
    assert drafted["text"].startswith("We are currently experiencing issues with checkout")
    posted = warroom(
        "status",
        "post",
        f"INC-{number}",
        "We are looking into checkout errors.",
        "--as",
        "bob",
        "--code",
        code("bob", Purpose.ACKNOWLEDGE),
    )
    assert posted.returncode == 0, posted.stderr
    assert "investigating published by bob" in posted.stdout and "next update due" in posted.stdout
    [post] = store.status_posts(number)
    assert post.text == "We are looking into checkout errors." and post.author == "bob"


def test_the_status_page_cadence_reminds_once_then_the_commander_and_stops_after_resolved(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARROOM_SEVERITY", '{"P1": {"update_every": "1s"}}')
    get_settings.cache_clear()
    settings = get_settings()
    number = _p1(store)
    detected = store.get(number).detected_at
    assert keep_status(settings, store, detected + timedelta(seconds=0.9)) == []  # not due yet
    said = keep_status(settings, store, detected + timedelta(seconds=1.1))
    assert len(said) == 1 and "the status page says nothing yet" in said[0] and "bob" in said[0]
    assert keep_status(settings, store, detected + timedelta(seconds=1.2)) == []  # once per mark
    keep_status(settings, store, detected + timedelta(seconds=2.1))
    due = [e for e in store.timeline(number) if e.kind is EventKind.STATUS_DUE]
    assert [e.data["level"] for e in due] == [1, 2] and due[1].data["person"] == "alice"
    publish_status(store, settings, number, "bob", PublicState.INVESTIGATING, "Looking into it.")
    posted = [e for e in store.timeline(number) if e.kind is EventKind.STATUS_POSTED][-1].at
    keep_status(settings, store, posted + timedelta(seconds=1.1))
    due = [e for e in store.timeline(number) if e.kind is EventKind.STATUS_DUE]
    assert len(due) == 3 and "no update for 1s" in due[2].text  # the clock counts from the post
    publish_status(store, settings, number, "bob", PublicState.RESOLVED, "Fixed.")
    keep_status(settings, store, posted + timedelta(hours=1))
    assert len([e for e in store.timeline(number) if e.kind is EventKind.STATUS_DUE]) == 3


def test_scheduled_maintenance_is_on_the_page_and_puts_its_component_under_maintenance(
    store: Store, settings_env: None
) -> None:
    settings = get_settings()
    now = datetime.now(UTC)
    store.add_maintenance(
        "Database upgrade",
        "Checkout may pause for a minute.",
        ["Checkout"],
        now - timedelta(minutes=1),
        now + timedelta(hours=1),
        "alice",
    )
    store.add_maintenance(
        "Old work", "done", ["Checkout"], now - timedelta(days=2), now - timedelta(days=1), "alice"
    )
    with serving(status_app(store, settings)) as url:
        index = httpx.get(f"{url}/index.json").json()
        html = httpx.get(f"{url}/").text
    assert [m["title"] for m in index["maintenance"]] == ["Database upgrade"]
    assert {c["name"]: c["state"] for c in index["components"]}["Checkout"] == "under_maintenance"
    assert (
        "Scheduled maintenance" in html
        and "Checkout may pause for a minute." in html
        and "Old work" not in html
    )
