"""The public status page as the ledger keeps it: each update a person published (the page shows nothing
else), its copy on a vendor's page, and scheduled maintenance."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, and_, func, insert, or_, select, update

from warroom.events import EventKind
from warroom.incident import TimelineEvent
from warroom.ledger.engine import now, number_of, utc
from warroom.ledger.timeline import Timeline
from warroom.schema import incidents, status_maintenance, status_posts, status_publications, timeline_events
from warroom.status.model import ComponentState, Maintenance, PublicState, StatusPost

RESOLUTION_KEY = "summary:resolution"  # the one resolution announcement of an incident


def _post(row: RowMapping) -> StatusPost:
    return StatusPost(
        id=row["id"],
        incident=row["incident_number"],
        title=row["title"],
        state=PublicState(row["state"]),
        text=row["text"],
        components={str(k): ComponentState(v) for k, v in (row["components"] or {}).items()},
        author=row["author"],
        posted_at=utc(row["posted_at"]) or now(),
        started_at=utc(row["started_at"]) or now(),
        next_update_at=utc(row["next_update_at"]),
    )


class StatusPosts(Timeline):
    def add_status_post(
        self,
        ref: str | int,
        *,
        title: str,
        state: PublicState,
        text: str,
        components: Mapping[str, ComponentState],
        author: str,
        started_at: datetime,
        next_update_at: datetime | None,
        event_text: str,
        event_data: dict[str, Any],
    ) -> tuple[StatusPost, TimelineEvent]:
        """Publish an update on Warroom's own page, and say so on the timeline, in one transaction."""
        number = number_of(ref)
        values = {
            "incident_number": number,
            "title": title[:300],
            "state": PublicState(state).value,
            "text": text,
            "components": {k: ComponentState(v).value for k, v in components.items()},
            "author": author,
            "posted_at": now(),
            "started_at": started_at,
            "next_update_at": next_update_at,
        }
        with self._write() as conn:
            self._require(conn, number)
            post_id = conn.execute(insert(status_posts).values(**values).returning(status_posts.c.id))
            values["id"] = post_id.scalar_one()
            event = self._append(
                conn,
                number,
                EventKind.STATUS_POSTED,
                event_text,
                actor=author,
                data={**event_data, "post": values["id"]},
                key=f"status-post:{values['id']}",
            )
        return _post(values), event  # type: ignore[arg-type]

    def status_posts(self, ref: str | int) -> list[StatusPost]:
        """The incident's public updates, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(status_posts)
                .where(status_posts.c.incident_number == number_of(ref))
                .order_by(status_posts.c.id)
            ).mappings()
            return [_post(r) for r in rows]

    def status_history(self, since: datetime) -> list[StatusPost]:
        """Every update of the public incidents posted to since ``since`` and of those still open, oldest
        first: what the page and its uptime bars are made of."""
        touched = select(status_posts.c.incident_number).where(status_posts.c.posted_at >= since)
        last = select(func.max(status_posts.c.id)).group_by(status_posts.c.incident_number)
        still_open = select(status_posts.c.incident_number).where(
            status_posts.c.id.in_(last), status_posts.c.state != PublicState.RESOLVED.value
        )
        with self._read() as conn:
            rows = conn.execute(
                select(status_posts)
                .where(
                    or_(
                        status_posts.c.incident_number.in_(touched),
                        status_posts.c.incident_number.in_(still_open),
                    )
                )
                .order_by(status_posts.c.id)
            ).mappings()
            return [_post(r) for r in rows]

    def unpublished(self, provider: str, within: timedelta = timedelta(days=1)) -> list[StatusPost]:
        """Posts of the last ``within`` the vendor's page does not hold yet, oldest first (a provider set
        up today does not replay last month)."""
        done = select(status_publications.c.post_id).where(
            and_(
                status_publications.c.provider == provider,
                status_publications.c.published_at.is_not(None),
            )
        )
        with self._read() as conn:
            rows = conn.execute(
                select(status_posts)
                .where(status_posts.c.posted_at >= now() - within, status_posts.c.id.not_in(done))
                .order_by(status_posts.c.id)
            ).mappings()
            return [_post(r) for r in rows]

    def published_as(self, ref: str | int, provider: str) -> str | None:
        """The vendor's id of the incident's public incident, once a post made it."""
        with self._read() as conn:
            return conn.execute(
                select(status_publications.c.external_id)
                .join(status_posts, status_posts.c.id == status_publications.c.post_id)
                .where(
                    status_posts.c.incident_number == number_of(ref),
                    status_publications.c.provider == provider,
                    status_publications.c.external_id.is_not(None),
                )
                .order_by(status_posts.c.id)
                .limit(1)
            ).scalar()

    def publication_tried(
        self, post_id: int, provider: str, *, external_id: str | None, error: str | None
    ) -> bool:
        """Record one try to publish a post on a vendor's page; True when this is its first failure (the
        timeline says a vendor's page fails once, not every pass)."""
        with self._write() as conn:
            row = (
                conn.execute(
                    select(status_publications).where(
                        status_publications.c.post_id == post_id, status_publications.c.provider == provider
                    )
                )
                .mappings()
                .first()
            )
            values = {
                "external_id": external_id,
                "published_at": now() if error is None else None,
                "error": error,
            }
            if row is None:
                conn.execute(
                    insert(status_publications).values(post_id=post_id, provider=provider, tries=1, **values)
                )
                return error is not None
            conn.execute(
                update(status_publications)
                .where(status_publications.c.post_id == post_id, status_publications.c.provider == provider)
                .values(tries=row["tries"] + 1, **values)
            )
            return error is not None and row["error"] is None

    def add_maintenance(
        self,
        title: str,
        text: str,
        components: list[str],
        starts_at: datetime,
        ends_at: datetime,
        author: str,
    ) -> Maintenance:
        values = {
            "title": title[:300],
            "text": text,
            "components": components,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "author": author,
            "created_at": now(),
        }
        with self._write() as conn:
            values["id"] = conn.execute(
                insert(status_maintenance).values(**values).returning(status_maintenance.c.id)
            ).scalar_one()
        return Maintenance(
            id=int(values["id"]),  # type: ignore[call-overload]
            title=title,
            text=text,
            components=components,
            starts_at=starts_at,
            ends_at=ends_at,
            author=author,
        )

    def maintenance(self, since: datetime) -> list[Maintenance]:
        """Maintenance windows ending after ``since``, soonest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(status_maintenance)
                .where(status_maintenance.c.ends_at >= since)
                .order_by(status_maintenance.c.starts_at)
            ).mappings()
            return [
                Maintenance(
                    id=r["id"],
                    title=r["title"],
                    text=r["text"],
                    components=list(r["components"] or []),
                    starts_at=utc(r["starts_at"]) or now(),
                    ends_at=utc(r["ends_at"]) or now(),
                    author=r["author"],
                )
                for r in rows
            ]

    def unannounced_resolutions(self, since: datetime) -> list[int]:
        """Incidents resolved (or closed) whose leadership was sent a summary since ``since`` and not yet
        told of the resolution (the ``summary:resolution`` event)."""
        told = select(timeline_events.c.incident_number).where(
            timeline_events.c.kind == EventKind.SUMMARY_SENT.value, timeline_events.c.at >= since
        )
        announced = select(timeline_events.c.incident_number).where(
            timeline_events.c.event_key == RESOLUTION_KEY
        )
        with self._read() as conn:
            return list(
                conn.execute(
                    select(incidents.c.number)
                    .where(
                        incidents.c.number.in_(told),
                        incidents.c.number.not_in(announced),
                        incidents.c.status.in_(["resolved", "closed"]),
                    )
                    .order_by(incidents.c.number)
                ).scalars()
            )
