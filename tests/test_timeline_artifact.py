"""The timeline artifact is kept by a thread of the run: a publish returns at once, a burst of publishes is a
few updates of the latest timeline, and a flush leaves the artifact showing everything recorded before it."""

from __future__ import annotations

import threading
import uuid

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.timeline_artifact import TimelineArtifact


def test_a_burst_of_publishes_is_a_few_updates_and_a_flush_shows_the_last(prefect_api: str) -> None:
    key = f"test-timeline-{uuid.uuid4().hex[:12]}"
    recorded: list[str] = []
    renders: list[int] = []
    go = threading.Event()

    def render() -> tuple[str, str, str]:
        go.wait(60)  # a Prefect server that takes its time until the run has gone on
        renders.append(len(recorded))
        return key, "\n".join(recorded), f"{len(recorded)} events"

    artifact = TimelineArtifact(render)
    for i in range(20):
        recorded.append(f"event {i}")
        artifact.touch()
    assert renders == []  # twenty publishes returned, and none waited for its render
    go.set()
    assert artifact.flush(60)
    assert len(renders) <= 3 and renders[-1] == 20
    with get_client(sync_client=True) as client:
        [shown] = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert shown.data == "\n".join(f"event {i}" for i in range(20))
    assert shown.description == "20 events"
