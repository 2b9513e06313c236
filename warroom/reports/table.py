"""A period's figures as people read them in a terminal: each beside the previous period's, with the change;
times as medians (p90 and mean beside), the way on-call reviews quote them."""

from __future__ import annotations

from datetime import timedelta

from warroom.duration import format_duration
from warroom.reports.figures import Figures
from warroom.reports.stats import Stat


def _time(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(timedelta(seconds=round(seconds)))


def _delta(now: float | None, before: float | None, *, time: bool = False) -> str:
    if now is None or before is None:
        return ""
    change = now - before
    if change == 0:
        return "="
    shown = _time(abs(change)) if time else f"{abs(change):.12g}"
    return ("+" if change > 0 else "-") + shown


def _stat_rows(name: str, now: Stat, before: Stat) -> list[tuple[str, str, str, str]]:
    return [
        (
            f"{name}, median",
            _time(now.median),
            _time(before.median),
            _delta(now.median, before.median, time=True),
        ),
        (
            f"  p90 / mean (of {now.count})",
            f"{_time(now.p90)} / {_time(now.mean)}",
            f"{_time(before.p90)} / {_time(before.mean)}",
            "",
        ),
    ]


def rows(now: Figures, before: Figures) -> list[tuple[str, str, str, str]]:
    def n(label: str, a: float | None, b: float | None) -> tuple[str, str, str, str]:
        return (label, "-" if a is None else f"{a:.12g}", "-" if b is None else f"{b:.12g}", _delta(a, b))

    levels = ("P1", "P2", "P3", "P4")
    out = [
        n("incidents", now.incidents, before.incidents),
        (
            "  P1 / P2 / P3 / P4",
            " / ".join(str(now.by_severity.get(lv, 0)) for lv in levels),
            " / ".join(str(before.by_severity.get(lv, 0)) for lv in levels),
            "",
        ),
        n("  still open", now.open, before.open),
        *_stat_rows("time to acknowledge", now.to_acknowledge, before.to_acknowledge),
        *_stat_rows("time to mitigate", now.to_mitigate, before.to_mitigate),
        *_stat_rows("time to resolve", now.to_resolve, before.to_resolve),
        n("customer impact, minutes", now.impact_minutes, before.impact_minutes),
        n("waiting for approval, minutes", now.approval_wait_minutes, before.approval_wait_minutes),
        n("machine time to mitigate, minutes", now.machine_minutes, before.machine_minutes),
        n("changes proposed", now.changes["proposed"], before.changes["proposed"]),
        (
            "  approved / rejected / timed out",
            _trio(now, ("approved", "rejected", "timed_out")),
            _trio(before, ("approved", "rejected", "timed_out")),
            "",
        ),
        (
            "  applied / failed / partial",
            _trio(now, ("applied", "failed", "partial")),
            _trio(before, ("applied", "failed", "partial")),
            "",
        ),
        n("resolved by an approved change", now.resolved_by_change, before.resolved_by_change),
        n("resolved by hand", now.resolved_by_hand, before.resolved_by_hand),
        n("automation rate", now.automation_rate, before.automation_rate),
        (
            "post-mortems done / owed",
            f"{now.postmortems_done} / {now.postmortems_owed}",
            f"{before.postmortems_done} / {before.postmortems_owed}",
            "",
        ),
        (
            "  done after resolution, median",
            _time(now.postmortem_after.median),
            _time(before.postmortem_after.median),
            _delta(now.postmortem_after.median, before.postmortem_after.median, time=True),
        ),
        n("action items", now.action_items["total"], before.action_items["total"]),
        ("  done / open / overdue", _items(now), _items(before), ""),
        n("  completion rate", now.action_items["completion_rate"], before.action_items["completion_rate"]),
        n(
            "  open, median age in days",
            now.action_items["open_median_age_days"],
            before.action_items["open_median_age_days"],
        ),
    ]
    for person, load in list(now.oncall.items())[:8]:
        was = before.oncall.get(person, {"pages": 0, "night_pages": 0, "acknowledged": 0})
        out.append(
            (
                f"on call: {person}, pages (night) / acknowledged",
                f"{load['pages']} ({load['night_pages']}) / {load['acknowledged']}",
                f"{was['pages']} ({was['night_pages']}) / {was['acknowledged']}",
                _delta(load["pages"], was["pages"]),
            )
        )
    return out


def _trio(f: Figures, names: tuple[str, str, str]) -> str:
    return " / ".join(str(f.changes[name]) for name in names)


def _items(f: Figures) -> str:
    return " / ".join(str(int(f.action_items[k])) for k in ("done", "open", "overdue"))


def render(now: Figures, before: Figures) -> str:
    table = [("", "this period", "the one before", "change"), *rows(now, before)]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = [f"{now.period.words()}, beside {before.period.words()}", ""]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines += [
        "",
        "Times: median (nearest rank), p90 and mean; open incidents are left out of the time to resolve.",
    ]
    return "\n".join(lines) + "\n"
