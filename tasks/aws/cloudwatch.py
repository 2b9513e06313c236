"""CloudWatch: an alarm's state and history, waiting for an alarm to clear, and a metric against its
baseline window. Reads only."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.aws.client import AwsError, call, client
from tasks.aws.models import (
    AlarmCheck,
    AlarmCheckParams,
    AlarmParams,
    AlarmState,
    AlarmTransition,
    MetricBaseline,
    MetricBaselineParams,
)
from tasks.step import step
from warroom.duration import format_duration
from warroom.steps import StepKind


def _alarm(api: Any, name: str) -> dict[str, Any]:
    found = call(api, "DescribeAlarms", f"alarm {name}", AlarmNames=[name])
    alarms = (found.get("MetricAlarms") or []) + (found.get("CompositeAlarms") or [])
    if not alarms:
        raise AwsError(f"no CloudWatch alarm named {name!r} in {api.meta.region_name}", "NotFound")
    return dict(alarms[0])


@step("aws.cloudwatch_alarm", StepKind.DIAGNOSTIC)
def cloudwatch_alarm(params: AlarmParams) -> AlarmState:
    """An alarm's state, why, since when, what it watches and its recent state changes. Reads only:
    2 API calls."""
    api = client("cloudwatch", params.region)
    alarm = _alarm(api, params.alarm)
    history: list[AlarmTransition] = []
    history_error = None
    if params.history:
        try:
            items = (
                call(
                    api,
                    "DescribeAlarmHistory",
                    f"alarm {params.alarm}",
                    AlarmName=params.alarm,
                    HistoryItemType="StateUpdate",
                    MaxRecords=params.history,
                    ScanBy="TimestampDescending",
                ).get("AlarmHistoryItems")
                or []
            )
            history = [AlarmTransition(at=i["Timestamp"], summary=i.get("HistorySummary", "")) for i in items]
        except AwsError as exc:  # the state is what matters; its history is a nicety
            history_error = str(exc)
    state = str(alarm.get("StateValue", "UNKNOWN"))
    updated = alarm.get("StateUpdatedTimestamp")
    since = f" since {updated:%H:%M}Z" if isinstance(updated, datetime) else ""
    return AlarmState(
        summary=f"alarm {params.alarm} is {state}{since}: {alarm.get('StateReason', '')}".rstrip(": "),
        alarm=params.alarm,
        state=state,
        reason=str(alarm.get("StateReason", "")),
        updated_at=updated,
        metric=alarm.get("MetricName"),
        namespace=alarm.get("Namespace"),
        dimensions={d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []},
        threshold=alarm.get("Threshold"),
        history=history,
        history_error=history_error,
    )


@step("aws.alarm_check", StepKind.DIAGNOSTIC)
def alarm_check(params: AlarmCheckParams) -> AlarmCheck:
    """Passes when the alarm is OK within ``within`` and stays OK for ``hold``: the verify step after a
    mitigation. Reads only: one call every ``every`` (5 s)."""
    api = client("cloudwatch", params.region)
    started = time.monotonic()
    deadline = started + params.within.total_seconds()
    ok_since: float | None = None
    while True:
        state = str(_alarm(api, params.alarm).get("StateValue", "UNKNOWN"))
        now = time.monotonic()
        ok_since = (ok_since or now) if state == "OK" else None
        held = ok_since is not None and now - ok_since >= params.hold.total_seconds()
        if held or now >= deadline:
            break
        time.sleep(min(params.every.total_seconds(), max(deadline - now, 0.1)))
    waited = round(time.monotonic() - started, 1)
    hold, within = format_duration(params.hold), format_duration(params.within)
    if held:
        reason = f"alarm {params.alarm} is OK" + (
            f" and held {format_duration(params.hold)}" if params.hold else ""
        )
    elif ok_since is not None:
        reason = f"alarm {params.alarm} turned OK but did not hold for {hold} within {within}"
    else:
        reason = f"alarm {params.alarm} is still {state} after {within}"
    return AlarmCheck(
        summary=f"{reason} (waited {waited:.0f} s)",
        ok=held,
        reason=reason,
        alarm=params.alarm,
        state=state,
        waited_seconds=waited,
    )


def _statistic(
    api: Any, params: MetricBaselineParams, start: datetime, end: datetime
) -> tuple[float | None, int]:
    points = (
        call(
            api,
            "GetMetricStatistics",
            f"metric {params.namespace}/{params.metric}",
            Namespace=params.namespace,
            MetricName=params.metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in sorted(params.dimensions.items())],
            StartTime=start,
            EndTime=end,
            Period=int(params.period.total_seconds()),
            Statistics=[params.statistic],
        ).get("Datapoints")
        or []
    )
    values = [float(p[params.statistic]) for p in points if params.statistic in p]
    if not values:
        return None, 0
    if params.statistic in ("Sum", "SampleCount"):
        return sum(values), len(values)
    if params.statistic == "Maximum":
        return max(values), len(values)
    if params.statistic == "Minimum":
        return min(values), len(values)
    return sum(values) / len(values), len(values)


def regressed(current: float | None, baseline: float | None, params: MetricBaselineParams) -> bool:
    """Worse than the baseline by ``factor`` and by more than ``min_change``; no data proves nothing."""
    if current is None or baseline is None:
        return False
    worse, better = (current, baseline) if params.worse == "higher" else (baseline, current)
    if worse - better <= params.min_change:
        return False
    return better <= 0 or worse / better >= params.factor


@step("aws.cloudwatch_baseline", StepKind.DIAGNOSTIC)
def cloudwatch_baseline(params: MetricBaselineParams) -> MetricBaseline:
    """A metric over the recent window against the same-length baseline window before it (or a day or a
    week before): regressed or not. Reads only: 2 API calls."""
    api = client("cloudwatch", params.region)
    end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - params.window
    offset = params.baseline_offset or params.window
    base_start, base_end = start - offset, end - offset
    current, n_current = _statistic(api, params, start, end)
    baseline, n_base = _statistic(api, params, base_start, base_end)
    ratio = round(current / baseline, 3) if current is not None and baseline else None
    worse = regressed(current, baseline, params)
    name = f"{params.namespace}/{params.metric} {params.statistic}"
    if current is None or baseline is None:
        summary = f"{name}: no data for the {'recent' if current is None else 'baseline'} window"
    else:
        summary = (
            f"{name} is {current:g} over the last {format_duration(params.window)}, {baseline:g} before"
            + (f" (x{ratio:g})" if ratio is not None else "")
            + (": regressed" if worse else ": no worse")
        )
    return MetricBaseline(
        summary=summary,
        namespace=params.namespace,
        metric=params.metric,
        statistic=params.statistic,
        current=current,
        baseline=baseline,
        ratio=ratio,
        regressed=worse,
        current_points=n_current,
        baseline_points=n_base,
        window_start=start,
        baseline_start=base_start,
    )
