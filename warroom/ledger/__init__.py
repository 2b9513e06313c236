"""The ledger: Warroom's own record of incidents, timelines, approvals, the intake queue and run attempts.

One module per concern; ``Store`` composes the incident-side ones over one database, ``RunLedger`` the
run attempts and their approval gates on the same database.
"""

from warroom.ledger.action_items import ActionItems
from warroom.ledger.approvals import Approvals
from warroom.ledger.attempts import Attempt, AttemptState, Begun
from warroom.ledger.changes import Changes
from warroom.ledger.chat import ChatRoom, ChatRooms
from warroom.ledger.chat_answers import ChatAnswer, ChatAnswers, ChatAsk
from warroom.ledger.engine import HEAD, MIGRATIONS, NotFound, StoreError, StoreUnavailable, now, safe_url, utc
from warroom.ledger.gates import Gate, GateState, RunLedger, parse_pause_key, pause_key
from warroom.ledger.incidents import Opened
from warroom.ledger.intake import Intake
from warroom.ledger.leases import Held, Leases
from warroom.ledger.paging import OverrideRecord, Page, PageState, Paging
from warroom.ledger.status import StatusPosts
from warroom.ledger.tracking import TrackedTask, Tracking


class Store(
    Changes, Intake, Approvals, ActionItems, Paging, Tracking, ChatRooms, ChatAnswers, StatusPosts, Leases
):
    """The ledger. Every write is one transaction; every change of state leaves a timeline event."""


__all__ = [
    "HEAD",
    "MIGRATIONS",
    "Attempt",
    "AttemptState",
    "Begun",
    "ChatAnswer",
    "ChatAsk",
    "ChatRoom",
    "Gate",
    "GateState",
    "Held",
    "NotFound",
    "Opened",
    "OverrideRecord",
    "Page",
    "PageState",
    "RunLedger",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TrackedTask",
    "now",
    "parse_pause_key",
    "pause_key",
    "safe_url",
    "utc",
]
