"""Leadership summaries: drafted from the incident, sent by the comms lead to the audience the severity names,
by email through a real SMTP server (aiosmtpd on loopback) and to Slack channels (the loopback Web API), and
the resolution announced once to the same people."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from flows.stakeholders import SummaryRefused, announce_resolutions, send_summary
from flows.status_page import publish_status
from tests.peers.slack import TOKEN, SlackPeer, running_slack
from tests.smtp_server import Inbox, running_smtp
from tests.test_cli import warroom
from tests.test_status_page import _p1
from warroom.events import EventKind
from warroom.incident import Status
from warroom.ledger import Store
from warroom.settings import get_settings
from warroom.status.model import PublicState

AUDIENCES = {
    "c-level": ["ceo@example.com", "cto@example.com", "#leadership"],
    "all-hands": ["everyone@example.com"],
    "manager": ["eng-managers@example.com"],
}


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Inbox, SlackPeer]]:
    with running_smtp() as smtp, running_slack() as slack:
        slack.add_channel("leadership")
        monkeypatch.setenv("WARROOM_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("WARROOM_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("WARROOM_SMTP_SECURITY", "insecure")
        monkeypatch.setenv("WARROOM_SMTP_SENDER", "warroom@example.com")
        monkeypatch.setenv("WARROOM_SLACK_URL", slack.url)
        monkeypatch.setenv("WARROOM_SLACK_TOKEN", TOKEN)
        monkeypatch.setenv("WARROOM_STAKEHOLDERS_AUDIENCES", json.dumps(AUDIENCES))
        get_settings.cache_clear()
        yield smtp, slack


def test_the_leadership_summary_reaches_the_p1_audience_by_email_and_slack(
    store: Store, inbox: tuple[Inbox, SlackPeer]
) -> None:
    smtp, slack = inbox
    settings = get_settings()
    number = _p1(store)
    publish_status(store, settings, number, "bob", PublicState.INVESTIGATING, "Some payments fail.")
    sent = send_summary(store, settings, number, "bob")
    assert sent.failed == [] and sent.unknown == []
    assert sent.summary.audience == ["all-hands", "c-level"]
    assert sorted(m.recipients[0] for m in smtp.mails) == [
        "ceo@example.com",
        "cto@example.com",
        "everyone@example.com",
    ]
    mail = smtp.to("ceo@example.com")[0]
    assert mail.sender == "warroom@example.com"
    assert mail.subject == f"[P1] INC-{number} Checkout errors: detected"
    for part in (
        "Impact:",
        "Customer impact:",
        '"Some payments fail."',
        "Business impact:",
        "ETA:",
        "Not known yet.",
        "What we are doing:",
        "Commander: alice",
        "Next update:",
    ):
        assert part in mail.text, (part, mail.text)
    [posted] = slack.channel_named("leadership").messages.values()
    assert f"INC-{number}" in posted["text"] and "*Impact:*" in posted["text"]
    [event] = [e for e in store.timeline(number) if e.kind is EventKind.SUMMARY_SENT]
    assert event.actor == "bob" and sorted(event.data["recipients"]) == sorted(
        ["ceo@example.com", "cto@example.com", "#leadership", "everyone@example.com"]
    )
    # the person's own words go out when they edit the draft
    send_summary(store, settings, number, "alice", subject="Checkout: payments failing", body="Our words.")
    assert [m.text.strip() for m in smtp.to("cto@example.com")][-1] == "Our words."


def test_a_summary_from_someone_neither_comms_lead_nor_commander_is_refused_and_nothing_is_sent(
    store: Store, inbox: tuple[Inbox, SlackPeer]
) -> None:
    smtp, _ = inbox
    number = _p1(store)
    with pytest.raises(SummaryRefused, match=r"comms lead \(bob\) or the commander \(alice\)"):
        send_summary(store, get_settings(), number, "mallory")
    assert smtp.mails == []


def test_a_channel_that_refuses_is_on_the_timeline_without_its_password_or_token(
    store: Store, inbox: tuple[Inbox, SlackPeer], monkeypatch: pytest.MonkeyPatch, ledger_url: str
) -> None:
    from tests.net import free_port

    monkeypatch.setenv("WARROOM_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("WARROOM_SMTP_USERNAME", "warroom")
    monkeypatch.setenv("WARROOM_SMTP_PASSWORD", "smtp-pa55-word")
    hook = f"json://hook:s3cret-hook-token@127.0.0.1:{free_port()}/notify"  # any apprise URL; nobody there
    monkeypatch.setenv("WARROOM_STAKEHOLDERS_AUDIENCES", json.dumps({"c-level": ["ceo@example.com", hook]}))
    get_settings.cache_clear()
    number = _p1(store)
    sent = send_summary(store, get_settings(), number, "bob")
    failed_to = sorted(d.address for d in sent.failed)
    assert failed_to[0] == "ceo@example.com" and failed_to[1].startswith("json://hook:****@127.0.0.1:")
    assert sent.unknown == ["all-hands"]  # named by the policy, given no addresses
    [failed] = [e for e in store.timeline(number) if e.kind is EventKind.SUMMARY_FAILED]
    assert "ceo@example.com" in failed.text and "all-hands has no addresses" in failed.text
    for secret in ("smtp-pa55-word", "s3cret-hook-token"):
        assert secret not in failed.text + str(failed.data) + str(sent.failed)
    shown = warroom("status", "summary", f"INC-{number}", env={"WARROOM_DATABASE_URL": ledger_url})
    assert "json://hook:****@" in shown.stdout, shown.stdout.splitlines()[:3]
    assert "s3cret-hook-token" not in shown.stdout + shown.stderr
    assert not [e for e in store.timeline(number) if e.kind is EventKind.SUMMARY_SENT]


def test_the_resolution_is_announced_once_to_the_audience_the_summary_went_to(
    store: Store, inbox: tuple[Inbox, SlackPeer]
) -> None:
    smtp, _ = inbox
    settings = get_settings()
    number = _p1(store)
    untold = _p1(store, title="Search slow")  # no summary was sent: its resolution is nobody's news
    send_summary(store, settings, number, "bob")
    assert announce_resolutions(settings, store) == []  # not resolved yet
    publish_status(store, settings, number, "bob", PublicState.RESOLVED, "Checkout works again.")
    for n in (number, untold):
        store.set_status(n, Status.RESOLVED, actor="alice", text="rolled back")
    said = announce_resolutions(settings, store)
    assert said == [f"INC-{number}: resolution announced to all-hands, c-level"]
    assert announce_resolutions(settings, store) == []
    resolved = [m for m in smtp.to("ceo@example.com") if m.subject.endswith(": resolved")]
    assert len(resolved) == 1 and "Checkout works again." in resolved[0].text
    assert f"INC-{number} is resolved" in resolved[0].text
