"""The report's charts as PNG (matplotlib, no display needed): incidents per week by severity, stacked; the
weekly median times to acknowledge and to resolve; minutes waiting for approval beside machine time; the
action items left open at each week's end (the burn-down)."""

from __future__ import annotations

import io
from typing import Any

from warroom.reports.trends import Week

LEVELS = ("P1", "P2", "P3", "P4")
COLOURS = {"P1": "#c62828", "P2": "#ef6c00", "P3": "#f9a825", "P4": "#90a4ae"}


def _png(figure: object) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    return buffer.getvalue()


def plotting() -> Any:
    """matplotlib's pyplot, drawing without a display (a server has none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def charts(weeks: list[Week]) -> dict[str, bytes]:
    """``{name: png}``: incidents, times, approval_wait, action_items."""
    plt = plotting()
    labels = [w.start.strftime("%b %d") for w in weeks]
    x = list(range(len(weeks)))
    out: dict[str, bytes] = {}

    fig, ax = plt.subplots(figsize=(8, 3.2))
    bottom = [0] * len(weeks)
    for level in LEVELS:
        counts = [w.by_severity.get(level, 0) for w in weeks]
        ax.bar(x, counts, bottom=bottom, color=COLOURS[level], label=level)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_title("Incidents per week, by severity")
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.legend(ncols=4, fontsize="small")
    out["incidents"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    gap = float("nan")  # a week without incidents has no median: a gap, not a zero
    ax.plot(
        x,
        [w.ack_median / 60 if w.ack_median is not None else gap for w in weeks],
        marker="o",
        label="time to acknowledge (median)",
    )
    ax.plot(
        x,
        [w.resolve_median / 60 if w.resolve_median is not None else gap for w in weeks],
        marker="o",
        label="time to resolve (median)",
    )
    ax.set_ylabel("minutes")
    ax.set_title("Time to acknowledge and to resolve, weekly medians")
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.legend(fontsize="small")
    out["times"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar([i - 0.2 for i in x], [w.waiting_minutes for w in weeks], width=0.4, label="waiting for approval")
    ax.bar([i + 0.2 for i in x], [w.machine_minutes for w in weeks], width=0.4, label="machine time")
    ax.set_ylabel("minutes")
    ax.set_title("Until mitigated: waiting for approval beside machine time")
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.legend(fontsize="small")
    out["approval_wait"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.step(x, [w.open_items for w in weeks], where="post", color="#1565c0")
    ax.fill_between(x, [w.open_items for w in weeks], step="post", alpha=0.2, color="#1565c0")
    ax.set_title("Action items still open at each week's end")
    ax.set_xticks(x, labels, rotation=45, ha="right")
    out["action_items"] = _png(fig)
    return out


PHASE_COLOURS = {
    "waiting": "#9e9e9e",
    "investigating": "#1565c0",
    "approval": "#ef6c00",
    "change": "#2e7d32",
    "verifying": "#6a1b9a",
    "resolving": "#78909c",
}


def phases_chart(title: str, spans: list[tuple[str, str, float, float]]) -> bytes:
    """An incident's phases as a Gantt picture: ``(label, kind, start, end)`` in minutes from detection."""
    plt = plotting()

    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * max(1, len(spans))))
    for row, (_, kind, start, end) in enumerate(spans):
        ax.barh(row, max(end - start, 0.05), left=start, color=PHASE_COLOURS.get(kind, "#607d8b"))
        ax.text(end + 0.1, row, f"{end - start:.1f} min", va="center", fontsize="small")
    ax.set_yticks(range(len(spans)), [s[0] for s in spans])
    ax.invert_yaxis()
    ax.set_xlabel("minutes since detection")
    ax.set_title(title)
    return _png(fig)
