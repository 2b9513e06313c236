"""`warroom settings`: every setting Warroom reads, from the models that declare them (the core's and each
integration's, found where the integrations are found). The README's settings table is its output."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from warroom.settings import IntegrationSettings, Settings, SettingsError, get_settings


def settings_models() -> list[type[Settings] | type[IntegrationSettings]]:
    """The core settings, then every integration's, by heading: each family is loaded as it is for use
    (its registry's ``discover()``, the step modules), so a new module's settings are listed with no edit."""
    # Importing a registry imports its members' modules, which define their settings models.
    import tasks.chat
    import tasks.flags.providers
    import tasks.notifiers
    import tasks.stakeholders
    import tasks.statuspage
    import tasks.trackers  # noqa: F401
    import warroom.intake.formats
    import warroom.intake.slack_actions
    import warroom.intake.slack_events
    import warroom.status.model  # noqa: F401
    from warroom.settings_table import heading
    from warroom.steps import all_steps

    all_steps()  # every step package's modules
    found: list[type[IntegrationSettings]] = []
    todo = list(IntegrationSettings.__subclasses__())
    while todo:
        model = todo.pop()
        todo += model.__subclasses__()
        if model.__module__.startswith(("warroom.", "tasks.", "flows.", "deployments.")):
            found.append(model)
    return [Settings, *sorted(found, key=heading)]


def settings(
    markdown: Annotated[bool, typer.Option("--markdown", help="The README's table")] = False,
) -> None:
    """Every WARROOM_ setting: its variable, default and what it does; checks the current values."""
    from warroom.settings_table import markdown as as_markdown

    models = settings_models()
    if markdown:
        sys.stdout.write(as_markdown(models))
        return
    problems = []
    try:
        current = get_settings()
        for model in models[1:]:
            try:
                current.of(model)  # type: ignore[type-var]
            except SettingsError as exc:
                problems.append(str(exc))
    except SettingsError as exc:
        problems.append(str(exc))
    sys.stdout.write(as_markdown(models))
    if problems:
        sys.stderr.write("\n".join(f"error: {p}" for p in problems) + "\n")
        raise typer.Exit(2)
