"""What the public status page says, from the ledger: the components and their state now, the public
incidents (open ones first, each update newest first with when the next is due), past incidents, uptime bars
per component, and scheduled maintenance. Only what people published is read: never the timeline.
The HTML, ``index.json`` and the Atom feed are all made from one ``Page``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from warroom.ledger import Store, now
from warroom.status.model import (
    ComponentState,
    Maintenance,
    PublicState,
    StatusPost,
    StatusSettings,
    worst,
)
from warroom.status.uptime import ComponentUptime, uptime


@dataclass(frozen=True)
class PublicIncident:
    key: str  # INC-N: the page's anchor and the feed entry's id
    title: str
    state: PublicState
    started_at: datetime
    resolved_at: datetime | None
    components: dict[str, ComponentState]  # as the newest update left them
    updates: tuple[StatusPost, ...]  # newest first
    next_update_at: datetime | None

    @property
    def duration(self) -> timedelta:
        return (self.resolved_at or now()) - self.started_at


@dataclass(frozen=True)
class ComponentView:
    name: str
    state: ComponentState
    uptime: ComponentUptime


@dataclass(frozen=True)
class Page:
    title: str
    url: str | None
    at: datetime
    components: tuple[ComponentView, ...]
    active: tuple[PublicIncident, ...]
    past: tuple[PublicIncident, ...]
    maintenance: tuple[Maintenance, ...]
    history_days: int
    past_days: int

    @property
    def overall(self) -> ComponentState:
        return worst([c.state for c in self.components])

    @property
    def incidents(self) -> tuple[PublicIncident, ...]:
        return self.active + self.past


def _incidents(posts: list[StatusPost]) -> list[PublicIncident]:
    grouped: dict[int, list[StatusPost]] = defaultdict(list)
    for post in posts:
        grouped[post.incident].append(post)
    out = []
    for number, updates in grouped.items():
        updates.sort(key=lambda p: p.id)
        last = updates[-1]
        resolved = last.state is PublicState.RESOLVED
        out.append(
            PublicIncident(
                key=f"INC-{number}",
                title=last.title,
                state=last.state,
                started_at=updates[0].started_at,
                resolved_at=last.posted_at if resolved else None,
                components=dict(last.components),
                updates=tuple(reversed(updates)),
                next_update_at=None if resolved else last.next_update_at,
            )
        )
    return sorted(out, key=lambda i: i.started_at, reverse=True)


def build_page(store: Store, settings: StatusSettings, at: datetime | None = None) -> Page:
    at = at or now()
    since = at - timedelta(days=settings.history_days)
    posts = store.status_history(since)
    windows = store.maintenance(since)
    incidents = _incidents(posts)
    names = [c for listed in settings.components.values() for c in listed]
    for post in posts:
        names += [c for c in post.components if c not in names]
    for window in windows:
        names += [c for c in window.components if c not in names]
    names = list(dict.fromkeys(names))
    bars = {
        u.name: u
        for u in uptime(
            names,
            posts,
            today=at.date(),
            days=settings.history_days,
            weights=settings.downtime_weights,
            until=at,
        )
    }
    active = [i for i in incidents if i.resolved_at is None]
    views = []
    for name in names:
        states = [i.components[name] for i in active if name in i.components]
        states += [ComponentState.MAINTENANCE for w in windows if name in w.components and w.starts_at <= at]
        views.append(ComponentView(name, worst(states), bars[name]))
    return Page(
        title=settings.title,
        url=settings.public_url,
        at=at,
        components=tuple(views),
        active=tuple(active),
        past=tuple(
            i
            for i in incidents
            if i.resolved_at is not None and i.resolved_at >= at - timedelta(days=settings.past_days)
        ),
        maintenance=tuple(w for w in windows if w.ends_at >= at),
        history_days=settings.history_days,
        past_days=settings.past_days,
    )


def _update(post: StatusPost) -> dict[str, Any]:
    return {
        "state": post.state.value,
        "text": post.text,
        "at": post.posted_at.isoformat(),
        "components": {k: v.value for k, v in post.components.items()},
    }


def page_json(page: Page) -> dict[str, Any]:
    """``index.json``: the same facts as the HTML."""
    return {
        "title": page.title,
        "url": page.url,
        "generated_at": page.at.isoformat(),
        "status": page.overall.value,
        "components": [
            {
                "name": c.name,
                "state": c.state.value,
                "uptime_percent": round(c.uptime.percent, 4),
                "days": [
                    {
                        "date": d.day.isoformat(),
                        "down_minutes": d.down_minutes,
                        "down_seconds": round(d.down_seconds, 1),
                        "worst": d.worst.value,
                        "incidents": [f"INC-{n}" for n in d.incidents],
                    }
                    for d in c.uptime.days
                ],
            }
            for c in page.components
        ],
        "incidents": [
            {
                "id": i.key,
                "title": i.title,
                "state": i.state.value,
                "started_at": i.started_at.isoformat(),
                "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
                "next_update_at": i.next_update_at.isoformat() if i.next_update_at else None,
                "components": {k: v.value for k, v in i.components.items()},
                "updates": [_update(u) for u in i.updates],
            }
            for i in page.incidents
        ],
        "maintenance": [
            {
                "title": w.title,
                "text": w.text,
                "components": w.components,
                "starts_at": w.starts_at.isoformat(),
                "ends_at": w.ends_at.isoformat(),
            }
            for w in page.maintenance
        ],
    }
