"""The incident's room under a storm: --incidents P1s opened at once, each wanting its room and each with
--events events a responder needs, told by the keeper's pass (flows/communicate.py) every --poll seconds
against the loopback Slack Web API, which answers with Slack's rate limits (tests/peers/slack.py: a
method's tier per minute, chat.postMessage one a second per channel with a burst of three, 429 with
Retry-After). With --shared, one channel holds a thread per incident.

Prints: when the rooms were made after the incidents opened, event -> message in its room (median, p95,
max; and counted from when its room was made), the messages posted and the calls Slack answered 429.
Slack's conversations.create allows 20 rooms a minute: the last of 100 rooms is minutes away, whatever
Warroom does; a rate-limited call rests for its Retry-After while the pass goes on with the other rooms.

Run: python bench/chat_rooms.py [--incidents 100] [--events 5] [--poll 5] [--shared]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on the path: keep it off, so no module there shadows a library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench.figures import percentile  # noqa: E402
from tests.peers.slack import TOKEN, running_slack  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=100)
    ap.add_argument("--events", type=int, default=5)
    ap.add_argument("--poll", type=float, default=5.0, help="the keeper's pass (WARROOM_KEEPER_POLL_SECONDS)")
    ap.add_argument("--shared", action="store_true", help="one shared channel, a thread per incident")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="warroom-bench-") as tmp, running_slack() as slack:
        for name in [k for k in os.environ if k.startswith("WARROOM_")]:
            del os.environ[name]
        os.environ.update(
            WARROOM_HOME=str(Path(tmp) / "home"),
            WARROOM_ONCALL_DIR=str(Path(tmp) / "oncall"),
            WARROOM_CHAT_PROVIDER="slack",
            WARROOM_SLACK_URL=slack.url,
            WARROOM_SLACK_TOKEN=TOKEN,
        )
        if args.shared:
            os.environ["WARROOM_CHAT_SHARED_CHANNEL"] = slack.add_channel("incidents").id
        _bench(args, slack)


def _bench(args: argparse.Namespace, slack: object) -> None:
    from flows.communicate import keep_rooms
    from warroom.events import EventKind
    from warroom.incident import Severity
    from warroom.ledger import Store
    from warroom.settings import get_settings
    from warroom.severity import communication_plan

    settings = get_settings()
    store = Store.from_settings(settings)
    text, plan = communication_plan(settings.policy(Severity.P1))
    opened_at = time.time()
    wanted: dict[int, list[tuple[str, float]]] = {}
    for i in range(args.incidents):
        number = store.open_or_attach(f"bench:{i}", title=f"storm {i}", severity=Severity.P1).incident.number
        store.append(number, EventKind.COMMUNICATION_PLANNED, text, data=plan)
        wanted[number] = [
            (e.text, e.at.timestamp())
            for e in (
                store.append(number, EventKind.DIAGNOSTIC_RESULT, f"bench finding {i}.{j}", data={"ok": True})
                for j in range(args.events)
            )
        ]
    passes = 0
    deadline = time.monotonic() + 3600
    while True:
        started = time.monotonic()
        keep_rooms(settings, store)
        passes += 1
        if _all_told(store, slack, wanted) or time.monotonic() > deadline:
            break
        time.sleep(max(0.0, args.poll - (time.monotonic() - started)))
    rooms = [store.room(n) for n in wanted]
    made = [r.opened_at.timestamp() - opened_at for r in rooms if r is not None]
    latencies = _latencies(store, slack, wanted)
    opened = {n: r.opened_at.timestamp() for n, r in zip(wanted, rooms, strict=True) if r is not None}
    in_room = _latencies(store, slack, wanted, since=opened)
    mode = "a thread each in one shared channel" if args.shared else "a channel each"
    n = args.incidents
    print(
        f"{n} P1 incidents opened at once, {args.events} events each, {mode}; keeper pass every {args.poll}s"
    )
    print(f"  rooms made: {len(made)}/{n}, first after {min(made):.1f}s, last after {max(made):.1f}s")
    median, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(
        f"  event -> message in its room over {len(latencies)} events: median {median:.2f}s "
        f"p95 {p95:.2f}s max {max(latencies):.2f}s"
    )
    print(
        f"  once its room exists (the keeper's pass, Slack's per-channel limit): median "
        f"{statistics.median(in_room):.2f}s p95 {percentile(in_room, 0.95):.2f}s max {max(in_room):.2f}s"
    )
    print(
        f"  keeper passes {passes}; messages posted {len(slack.posts)}; "  # type: ignore[attr-defined]
        f"calls answered 429 by Slack's limits: {len(slack.limited)}"  # type: ignore[attr-defined]
    )
    store.close()


def _told(store: object, slack: object, number: int) -> list[tuple[str, float]]:
    room = store.room(number)  # type: ignore[attr-defined]
    if room is None:
        return []
    channel = slack.channels[room.channel]  # type: ignore[attr-defined]
    return [(m["text"], float(m["ts"])) for m in channel.messages.values()]


def _latencies(
    store: object,
    slack: object,
    wanted: dict[int, list[tuple[str, float]]],
    since: dict[int, float] | None = None,
) -> list[float]:
    """Each event's wait for its message: from the event, or from when its room was made (``since``)."""
    out = []
    for number, events in wanted.items():
        messages = _told(store, slack, number)
        for text, at in events:
            arrived = [ts for said, ts in messages if text in said]
            if arrived:
                out.append(min(arrived) - max(at, (since or {}).get(number, at)))
    return out


def _all_told(store: object, slack: object, wanted: dict[int, list[tuple[str, float]]]) -> bool:
    return len(_latencies(store, slack, wanted)) == sum(len(v) for v in wanted.values())


if __name__ == "__main__":
    main()
