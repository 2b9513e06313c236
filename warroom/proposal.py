"""A proposed mitigation, and the page an approver reads before answering its gate.

The page puts first what a tired person must see to decide (what changes, the dry run, the way back, who
may answer and until when), then the incident and the alert, then the evidence; as Markdown lists, never
raw JSON. It is rendered again at every pause, so a refused answer is the first thing its author reads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from warroom.duration import format_duration
from warroom.incident import Incident
from warroom.redact import redact


class Proposal(BaseModel):
    id: str
    use: str
    params: dict[str, Any]
    summary: str
    evidence: dict[str, Any]
    dry_run: dict[str, Any] | None
    way_back: str
    apply_key: str
    last_time: str | None = None  # how the same change went on a similar incident before (not in the digest)

    @property
    def plan_digest(self) -> str:
        """What an answer approves: the step, its params and the dry run that was shown."""
        plan = {"use": self.use, "params": self.params, "dry_run": self.dry_run}
        return hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()


def _cell(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flatten(data: Any, prefix: str = "", limit: int = 40) -> list[tuple[str, Any]]:
    """Nested mappings as dotted keys; lists of scalars stay whole; at most ``limit`` rows."""
    rows: list[tuple[str, Any]] = []

    def walk(value: Any, key: str) -> None:
        if len(rows) >= limit:
            return
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
            for i, v in enumerate(value[:10]):
                walk(v, f"{key}[{i}]")
        else:
            rows.append((key or "value", value))

    walk(data, prefix)
    return rows


def fields(data: Any) -> str:
    """Fields as a Markdown list (``- `key`: value``): every renderer shows lists, not every one tables."""
    rows = flatten(redact(data))
    if not rows:
        return "_none_"
    return "\n".join(f"- `{_cell(k, 80)}`: {_cell(v)}" for k, v in rows)


def _ago(then: datetime | None, at: datetime) -> str:
    if then is None:
        return "unknown"
    return f"{format_duration(at - then)} ago ({then:%H:%M:%S} UTC)" if at >= then else f"{then:%H:%M:%S} UTC"


@dataclass(frozen=True)
class GatePage:
    """What the approver reads: ``brief`` (plain text, the decision's essentials, shown at full size with
    the decision field) and ``markdown`` (the whole story above the form)."""

    brief: str
    markdown: str


def _said(data: dict[str, Any], limit: int) -> str:
    """``key=value`` pairs of what was actually said: nulls and empty values left out."""
    rows = [(k, v) for k, v in flatten(redact(data), limit=limit * 3) if v not in (None, "", [], {})]
    return ", ".join(f"{k}={_cell(v, 40)}" for k, v in rows[:limit])


def dry_run_in_words(dry: dict[str, Any] | None) -> str:
    if not dry:
        return "this step has no dry run"
    if dry.get("error"):
        return f"the dry run failed: {dry['error']}"
    return str(dry.get("summary") or "") or _said(dry, 6) or "the system accepted it and reported nothing"


def findings(evidence: dict[str, Any], limit: int = 4) -> list[str]:
    """The evidence as plain sentences, each step's own headline; what found trouble first."""
    said: list[tuple[bool, str]] = []
    for label, result in evidence.items():
        data = result if isinstance(result, dict) else {}
        words = str(redact(data.get("summary") or data.get("reason") or "")).strip()
        if not words:
            words = _said(data, 3) or "reported nothing"
        said.append((data.get("ok") is not False, f"{label}: {_cell(words, 300)}"))
    return [text for _, text in sorted(said, key=lambda s: s[0])][:limit]


def gate_page(
    *,
    incident: Incident,
    proposal: Proposal,
    alert: dict[str, Any],
    who_may_approve: str,
    required: int,
    granted: list[str],
    deadline: datetime,
    last_refusal: dict[str, Any] | None,
    at: datetime,
) -> GatePage:
    """The approval form's brief and the Markdown above it in the Prefect UI."""
    lines: list[str] = []
    if last_refusal:
        lines += [
            f"> **Your last answer was refused** at {last_refusal.get('at', '?')} "
            f"(from {last_refusal.get('approver') or 'an unnamed approver'}): {last_refusal.get('why', '')}",
            "> Nothing was executed. Answer again below.",
            "",
        ]
    dry_line = dry_run_in_words(proposal.dry_run)
    params_line = _said(proposal.params, 6)
    so_far = ", ".join(granted) or "nobody"
    found = findings(proposal.evidence)
    # One paragraph each: the UI renders the field's help as Markdown, where single newlines run together.
    brief = "\n\n".join(
        [
            f"Change: {proposal.summary} ({proposal.use} {params_line}).",
            f"Dry run: {dry_line}.",
            f"Way back: {proposal.way_back or 'none given'}.",
            *(["Why: " + "; ".join(found) + "."] if found else []),
            *([f"{proposal.last_time[0].upper()}{proposal.last_time[1:]}."] if proposal.last_time else []),
            f"Who: {required} of {who_may_approve}; so far {so_far}. "
            f"Closes {deadline:%H:%M} UTC (in {format_duration(max(deadline - at, timedelta(0)))}); "
            "then nothing is executed.",
        ]
    )
    # The Prefect UI shows this page in a small scroll box: the decision's essentials come first, compact.
    lines += [
        f"## {incident.id} · {incident.severity.value} · approve `{proposal.id}`?",
        "",
        f"**Change**: {proposal.summary}: `{proposal.use}` {params_line}  ",
        f"**Dry run**: {dry_line}  ",
        f"**Way back**: {proposal.way_back or 'none given'}  ",
        *(
            [f"**Last time**: {proposal.last_time.removeprefix('last time ')}  "]
            if proposal.last_time
            else []
        ),
        f"**Closes** {deadline:%H:%M} UTC · {required} of {who_may_approve} · so far: {so_far}",
        "",
        "**Why**:" if found else "**Why**: _no evidence named_",
        *(f"- {f}" for f in found),
        "",
        "---",
        "",
        f"**What will change**: {proposal.summary} (`{proposal.use}`)",
        "",
        fields(proposal.params),
        "",
        "**Dry run** (what the system said it would do):",
        "",
        fields(proposal.dry_run) if proposal.dry_run else "_this step has no dry run_",
        "",
        f"**Way back**: `{proposal.way_back}`" if proposal.way_back else "**Way back**: none given",
        "",
        f"**Who may approve**: {required} of {who_may_approve}; so far: {', '.join(granted) or 'nobody'}. "
        f"The gate closes at {deadline:%Y-%m-%d %H:%M:%S} UTC "
        f"(in {format_duration(max(deadline - at, timedelta(0)))}); then nothing is executed.",
        "",
        "**Decision** is required: *approve* runs exactly this change; *reject* closes the gate. "
        "Prove who you are with the 6-digit code from your authenticator app.",
        "",
        "### The incident",
        "",
        f"**{incident.title}** · status {incident.status.value} · detected {_ago(incident.detected_at, at)}",
    ]
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    if labels or annotations:
        started = alert.get("startsAt") or alert.get("starts_at")
        summary = annotations.get("summary") or annotations.get("description") or ""
        lines += [
            "",
            f"**Alert** `{labels.get('alertname', '?')}` {summary}".rstrip()
            + (f" · fired at {started}" if started else ""),
            "",
            fields(labels),
        ]
    lines += [
        "",
        "### Evidence in full",
        "",
        fields(proposal.evidence) if proposal.evidence else "_no evidence named_",
        "",
        f"From a terminal: `warroom approve {incident.id} --proposal {proposal.id} --as NAME --reason TEXT`",
    ]
    return GatePage(brief=brief, markdown="\n".join(lines))
