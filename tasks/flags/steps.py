"""``flags.status`` (reads) and ``flags.disable`` (changes production: the flag off in one environment)."""

from __future__ import annotations

from tasks.flags.models import FlagChange, FlagParams, FlagState
from tasks.flags.providers import FlagError, FlagRef, provider
from tasks.step import step
from warroom.settings import get_settings
from warroom.steps import StepKind


def _ref(params: FlagParams) -> FlagRef:
    return FlagRef(params.flag, params.environment, params.project)


def _where(params: FlagParams) -> str:
    return f"{params.provider} flag {params.flag!r} in {params.environment!r}"


@step("flags.status", StepKind.DIAGNOSTIC)
def status(params: FlagParams) -> FlagState:
    """Read whether a feature flag is on in an environment, its strategies or variations, and its last
    change where the provider says. Reads only."""
    reading = provider(params.provider).read(_ref(params), get_settings())
    changed = f", last changed {reading.last_change:%Y-%m-%d %H:%M}Z" if reading.last_change else ""
    by = f" by {reading.changed_by}" if reading.changed_by else ""
    return FlagState(
        summary=f"{_where(params)} is {'on' if reading.enabled else 'off'}{changed}{by}",
        provider=params.provider,
        flag=params.flag,
        environment=params.environment,
        enabled=reading.enabled,
        strategies=reading.strategies,
        last_change=reading.last_change,
        changed_by=reading.changed_by,
    )


def _disable(params: FlagParams, dry_run: bool) -> FlagChange:
    settings = get_settings()
    way_back = f"turn {_where(params)} on again (its rules are kept, so it serves as before)"
    base = {"provider": params.provider, "flag": params.flag, "environment": params.environment}
    try:
        chosen = provider(params.provider)
        before = chosen.read(_ref(params), settings)
        if not before.enabled:
            return FlagChange(
                summary=f"{_where(params)} is already off: nothing to change",
                applied=not dry_run,
                dry_run=dry_run,
                enabled=False,
                was_enabled=False,
                **base,
            )
        if dry_run:
            return FlagChange(
                summary=f"would turn {_where(params)} off (on now; rules: "
                f"{', '.join(before.strategies) or '-'})",
                applied=False,
                dry_run=True,
                way_back=way_back,
                enabled=True,
                was_enabled=True,
                **base,
            )
        chosen.set_enabled(
            _ref(params), False, "turned off by Warroom after an approved mitigation", settings
        )
        after = chosen.read(_ref(params), settings)
    except FlagError as exc:
        return FlagChange(
            summary=f"{_where(params)}: nothing changed: {exc}",
            applied=False,
            dry_run=dry_run,
            error=str(exc),
            enabled=None,
            **base,
        )
    return FlagChange(
        summary=f"turned {_where(params)} off" + ("" if not after.enabled else ", but it still reads on"),
        applied=not after.enabled,
        dry_run=False,
        way_back=way_back,
        error=None if not after.enabled else "the provider still reports the flag on",
        enabled=after.enabled,
        was_enabled=True,
        **base,
    )


@step("flags.disable", StepKind.MITIGATION)
def disable(params: FlagParams, dry_run: bool = False) -> FlagChange:
    """Turn a feature flag off in one environment (changes production). Idempotent when it is already off;
    the way back turns it on again with its rules as they were."""
    return _disable(params, dry_run=dry_run)
