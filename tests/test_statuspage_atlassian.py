"""Atlassian Statuspage as a provider beside Warroom's own page, against a loopback peer that answers as
Statuspage's REST API documents: the first post opens the incident there, later ones update it and set
the components; a failing Statuspage is on the timeline once, and the keeper publishes what it missed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flows.status_page import keep_status, publish_status, status_ready
from tasks.statuspage import StatusPageError
from tests.peers.statuspage import API_KEY, PAGE, StatuspagePeer, running_statuspage
from tests.test_status_page import _p1
from warroom.events import EventKind
from warroom.ledger import Store
from warroom.settings import get_settings
from warroom.status.model import ComponentState, PublicState


@pytest.fixture
def statuspage(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatuspagePeer]:
    with running_statuspage() as peer:
        peer.add_component("Checkout")
        peer.add_component("Payments API")
        peer.add_component("Search")
        monkeypatch.setenv("WARROOM_STATUS_PROVIDER", "atlassian")
        monkeypatch.setenv("WARROOM_STATUSPAGE_URL", peer.url)
        monkeypatch.setenv("WARROOM_STATUSPAGE_API_KEY", API_KEY)
        monkeypatch.setenv("WARROOM_STATUSPAGE_PAGE_ID", PAGE)
        monkeypatch.setenv("WARROOM_STATUS_COMPONENTS", '{"checkout": ["Checkout", "Payments API"]}')
        get_settings.cache_clear()
        yield peer


def test_posts_open_then_update_the_statuspage_incident_and_set_its_components(
    store: Store, statuspage: StatuspagePeer
) -> None:
    settings = get_settings()
    number = _p1(store)
    first = publish_status(store, settings, number, "bob", PublicState.INVESTIGATING, "Checkout is failing.")
    [made] = statuspage.incidents.values()
    assert first.vendor == f"published on atlassian as {made['id']}"
    assert made["name"] == "Checkout and Payments API: major outage" and made["status"] == "investigating"
    assert (
        statuspage.status_of("Checkout") == "major_outage" and statuspage.status_of("Search") == "operational"
    )
    publish_status(
        store,
        settings,
        number,
        "alice",
        PublicState.MONITORING,
        "Rolled back; watching.",
        components={"Checkout": ComponentState.DEGRADED, "Payments API": ComponentState.OPERATIONAL},
    )
    publish_status(store, settings, number, "bob", PublicState.RESOLVED, "Checkout works again.")
    assert len(statuspage.incidents) == 1  # one public incident, updated in place
    assert [u["body"] for u in made["incident_updates"]] == [
        "Checkout works again.",
        "Rolled back; watching.",
        "Checkout is failing.",
    ]
    assert made["status"] == "resolved" and statuspage.status_of("Checkout") == "operational"
    assert [m for m, _, _, _ in statuspage.requests if m != "GET"] == ["POST", "PATCH", "PATCH"]
    published = [e for e in store.timeline(number) if e.kind is EventKind.STATUS_PUBLISHED]
    assert [e.data["external_id"] for e in published] == [made["id"]] * 3


def test_a_failing_statuspage_is_on_the_timeline_once_and_the_keeper_publishes_later_without_its_key(
    store: Store, statuspage: StatuspagePeer
) -> None:
    settings = get_settings()
    number = _p1(store)
    statuspage.down = True
    done = publish_status(store, settings, number, "bob", PublicState.INVESTIGATING, "Checkout is failing.")
    assert done.vendor is not None and done.vendor.startswith("not yet on atlassian") and "503" in done.vendor
    assert store.status_posts(number)  # on Warroom's own page all the same: nothing waits for the vendor
    publish_status(store, settings, number, "bob", PublicState.IDENTIFIED, "Found it.")
    keep_status(settings, store)
    failed = [e for e in store.timeline(number) if e.kind is EventKind.STATUS_PUBLISH_FAILED]
    assert len(failed) == 2  # once per post, not once per try
    statuspage.down = False
    said = keep_status(settings, store)
    assert len(said) == 2 and all("published on atlassian" in s for s in said)
    [made] = statuspage.incidents.values()
    assert [u["body"] for u in made["incident_updates"]] == ["Found it.", "Checkout is failing."]
    assert keep_status(settings, store) == []  # nothing twice
    everything = " ".join(e.text + str(e.data) for e in store.timeline(number))
    assert API_KEY not in everything and API_KEY not in " ".join(said)


def test_a_component_statuspage_does_not_have_is_named_and_a_wrong_key_refused_in_its_words(
    store: Store, statuspage: StatuspagePeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    number = _p1(store)
    done = publish_status(
        store,
        settings,
        number,
        "bob",
        PublicState.INVESTIGATING,
        "Slow.",
        components={"Billing": ComponentState.DEGRADED},
    )
    assert done.vendor is not None and "no component named 'Billing'" in done.vendor
    assert "Checkout" in done.vendor  # what it has
    assert status_ready(settings) == f"Statuspage page Warroom test page ({PAGE})"
    monkeypatch.setenv("WARROOM_STATUSPAGE_API_KEY", "wrong-key-0000")
    get_settings.cache_clear()
    with pytest.raises(StatusPageError, match="401 Could not authenticate"):  # `warroom up` stops here
        status_ready(get_settings())
    other = _p1(store)
    refused = publish_status(store, get_settings(), other, "bob", PublicState.INVESTIGATING, "Slow.")
    assert refused.vendor is not None and "401 Could not authenticate" in refused.vendor
    assert "wrong-key-0000" not in refused.vendor
