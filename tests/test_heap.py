"""A receiver built to serve settles its heap first: what it loaded to start is out of the collector's full
passes, which paused every request in flight for 45-120 ms under bench/intake.py's 200 alerts/s."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from deployments.serve import build_intake
from tests.conftest import REPO
from warroom.settings import get_settings


def test_a_receiver_built_to_serve_keeps_its_start_up_heap_out_of_full_collections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(REPO / "runbooks"))
    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'warroom.db'}")
    get_settings.cache_clear()
    gc.unfreeze()
    intake = build_intake(get_settings())
    try:
        state = intake.app.state  # made with the app, before the freeze
        assert gc.get_freeze_count() > 10_000
        assert not any(o is state for o in gc.get_objects()), "the app's start-up objects are still scanned"
        assert gc.is_tracked(state)
    finally:
        gc.unfreeze()
        intake.store.close()
