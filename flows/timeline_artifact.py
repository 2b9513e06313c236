"""The incident's timeline as one Prefect artifact, kept current by a thread of the run, off its path.

The artifact is a copy for the UI (the ledger holds the truth): an approved change waits for no artifact
update, and the publishes of a burst of events become one update of the latest timeline. The run flushes
it before it ends, so the artifact a finished run leaves is whole.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from uuid import UUID

from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.actions import ArtifactUpdate

from flows.prefect_api import prefect_api

log = logging.getLogger("warroom.timeline")

IDLE_SECONDS = 30.0  # a publisher thread with nothing to do ends (a warm lane runs thousands of runs)


class TimelineArtifact:
    """``render()`` gives (key, markdown, description); ``touch()`` asks for the artifact to show it."""

    def __init__(self, render: Callable[[], tuple[str, str, str]]) -> None:
        self._render = render
        self._context = contextvars.copy_context()  # the flow run's: the artifact belongs to it
        self._cond = threading.Condition()
        self._wanted = 0
        self._done = 0
        self._thread: threading.Thread | None = None
        self.artifact_id: UUID | None = None

    def touch(self) -> None:
        """Show the timeline as it is now (or later): returns at once."""
        with self._cond:
            self._wanted += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._context.copy().run, args=(self._run,), name="warroom-timeline", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the artifact shows every event recorded before this call; False when it timed out."""
        with self._cond:
            wanted = self._wanted
            return self._cond.wait_for(lambda: self._done >= wanted, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._wanted > self._done, IDLE_SECONDS):
                    self._thread = None
                    return
                target = self._wanted
            try:
                self._push()
            except Exception as exc:  # a copy for the UI: the run goes on, the next touch tries again
                log.warning("the timeline artifact was not updated: %s", type(exc).__name__)
            with self._cond:
                self._done = target
                self._cond.notify_all()

    def _push(self) -> None:
        key, markdown, description = self._render()
        if self.artifact_id is None:
            self.artifact_id = create_markdown_artifact(  # type: ignore[assignment]
                key=key, markdown=markdown, description=description
            )
            return
        with prefect_api() as client:
            client.update_artifact(self.artifact_id, ArtifactUpdate(data=markdown, description=description))
