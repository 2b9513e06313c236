"""Action items: what an incident leaves to do, with owner, due date and status."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import RowMapping, insert, select, update

from warroom.events import EventKind
from warroom.incident import ActionItem, ActionItemStatus, incident_ref
from warroom.ledger.engine import NotFound, now, number_of, utc
from warroom.ledger.timeline import Timeline
from warroom.schema import action_items


def row_action(row: RowMapping) -> ActionItem:
    return ActionItem(
        id=row["id"],
        incident=incident_ref(row["incident_number"]),
        title=row["title"],
        owner=row["owner"],
        due=row["due"],
        status=ActionItemStatus(row["status"]),
        tracker_url=row["tracker_url"],
        created_at=utc(row["created_at"]),
        completed_at=utc(row["completed_at"]),
    )


class ActionItems(Timeline):
    def add_action_item(
        self,
        ref: str | int,
        title: str,
        *,
        owner: str | None = None,
        due: date | None = None,
        tracker_url: str | None = None,
        actor: str = "warroom",
        key: str | None = None,
    ) -> ActionItem:
        """Add an item; with ``key``, adding the same item again (a re-entered run) returns the first."""
        number = number_of(ref)
        with self._write() as conn:
            self._require(conn, number)
            if key is not None:
                earlier = self._event_keyed(conn, number, key)
                if earlier is not None:
                    row = (
                        conn.execute(
                            select(action_items).where(action_items.c.id == earlier.data["action_item"])
                        )
                        .mappings()
                        .one()
                    )
                    return row_action(row)
            values = {
                "incident_number": number,
                "title": title,
                "owner": owner,
                "due": due,
                "status": ActionItemStatus.OPEN.value,
                "tracker_url": tracker_url,
                "created_at": now(),
                "completed_at": None,
            }
            item_id = conn.execute(
                insert(action_items).values(**values).returning(action_items.c.id)
            ).scalar_one()
            self._append(
                conn,
                number,
                EventKind.ACTION_ITEM_ADDED,
                f"action item: {title}",
                actor=actor,
                data={"action_item": item_id, "owner": owner, "due": due, "tracker_url": tracker_url},
                key=key,
            )
            return row_action({**values, "id": item_id})  # type: ignore[arg-type]

    def update_action_item(
        self,
        item_id: int,
        *,
        status: ActionItemStatus | None = None,
        tracker_url: str | None = None,
        actor: str = "warroom",
    ) -> ActionItem:
        with self._write() as conn:
            row = conn.execute(select(action_items).where(action_items.c.id == item_id)).mappings().first()
            if row is None:
                raise NotFound(f"no action item {item_id}")
            values: dict[str, Any] = {}
            if status is not None:
                values["status"] = ActionItemStatus(status).value
                values["completed_at"] = now() if status is not ActionItemStatus.OPEN else None
            if tracker_url is not None:
                values["tracker_url"] = tracker_url
            if values:
                conn.execute(update(action_items).where(action_items.c.id == item_id).values(**values))
                self._append(
                    conn,
                    row["incident_number"],
                    EventKind.ACTION_ITEM_UPDATED,
                    f"action item {item_id}: {row['title']}"
                    + (f" is {values['status']}" if "status" in values else ""),
                    actor=actor,
                    data={"action_item": item_id, **{k: v for k, v in values.items() if k != "completed_at"}},
                )
            new = conn.execute(select(action_items).where(action_items.c.id == item_id)).mappings().one()
        return row_action(new)

    def action_items(
        self, ref: str | int | None = None, *, status: ActionItemStatus | None = None
    ) -> list[ActionItem]:
        q = select(action_items).order_by(action_items.c.id)
        if ref is not None:
            q = q.where(action_items.c.incident_number == number_of(ref))
        if status is not None:
            q = q.where(action_items.c.status == ActionItemStatus(status).value)
        with self._read() as conn:
            return [row_action(r) for r in conn.execute(q).mappings()]
