"""Approver identity kept where the Prefect API cannot reach: sealed TOTP secrets, a code window of one
step, codes spent once, signed answers that break when anything they cover is changed, start tokens."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from warroom.identity import (
    EnrollmentError,
    answer_message,
    check_code,
    check_signature,
    enroll,
    sign,
)
from warroom.ledger import Store
from warroom.settings import Settings

NOW = datetime(2026, 11, 27, 3, 0, 15, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def _message(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "gate": 7,
        "incident": "INC-3",
        "proposal": "rollback",
        "plan_digest": "d" * 64,
        "decision": "approve",
        "approver": "bob",
        "reason": "the deploy broke it",
        "answer_id": "a1",
        "adjustments": {"replicas": 6},
    }
    fields.update(changes)
    return answer_message(**fields)  # type: ignore[arg-type]


def test_enrollment_seals_the_secret_in_the_ledger_and_keeps_keys_private(
    store: Store, settings: Settings
) -> None:
    enrolled = enroll(store, settings, "bob")
    secret = pyotp.parse_uri(enrolled.uri).secret
    record = store.approver("bob")
    assert record is not None and secret not in record.totp_sealed
    if store.dialect == "sqlite":
        assert secret.encode() not in Path(store.engine.url.database or "").read_bytes()
    for private in (settings.home / "approvers.key", enrolled.key_file):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(enrolled.key_file.parent.stat().st_mode) == 0o700
    with pytest.raises(EnrollmentError, match="already enrolled"):
        enroll(store, settings, "bob")
    with pytest.raises(EnrollmentError, match="letters, digits"):
        enroll(store, settings, "bob; rm -rf /")


def test_a_code_counts_within_one_step_of_drift_and_no_further(store: Store, settings: Settings) -> None:
    totp = pyotp.TOTP(pyotp.parse_uri(enroll(store, settings, "carol").uri).secret)
    for offset, ok in (
        (0, True),
        (-30, True),
        (30, True),
        (-60, False),
        (60, False),
        (600, False),
        (-600, False),
    ):
        code = totp.at(NOW + timedelta(seconds=offset))
        assert check_code(store, settings, "carol", code, at=NOW).ok is ok, offset
    assert not check_code(store, settings, "dan", totp.at(NOW), at=NOW).ok  # not enrolled


def test_a_code_is_spent_once_per_approver(store: Store, settings: Settings) -> None:
    totp = pyotp.TOTP(pyotp.parse_uri(enroll(store, settings, "erin").uri).secret)
    identity = check_code(store, settings, "erin", totp.at(NOW), at=NOW)
    assert identity.ok and identity.counter is not None
    assert store.use_code("erin", identity.counter) is True
    assert store.use_code("erin", identity.counter) is False
    assert store.use_code("frank", identity.counter) is True  # another person's code of the same step


def test_a_code_is_spent_for_its_enrollment_and_re_enrolling_starts_fresh_codes(
    store: Store, settings: Settings
) -> None:
    old = pyotp.TOTP(pyotp.parse_uri(enroll(store, settings, "erin").uri).secret)
    first = check_code(store, settings, "erin", old.at(NOW), at=NOW)
    assert store.use_code("erin", first.counter, enrollment=first.enrollment)  # type: ignore[arg-type]
    assert not store.use_code("erin", first.counter, enrollment=first.enrollment)  # type: ignore[arg-type]
    new = pyotp.TOTP(pyotp.parse_uri(enroll(store, settings, "erin", replace=True).uri).secret)
    assert not check_code(store, settings, "erin", old.at(NOW), at=NOW).ok  # the lost phone's codes: none
    again = check_code(store, settings, "erin", new.at(NOW), at=NOW)
    assert again.ok and again.counter == first.counter and again.enrollment != first.enrollment
    assert store.use_code("erin", again.counter, enrollment=again.enrollment)  # type: ignore[arg-type]
    assert not store.use_code("erin", again.counter, enrollment=again.enrollment)  # type: ignore[arg-type]


def test_a_secret_sealed_under_another_key_proves_nothing(store: Store, settings: Settings) -> None:
    totp = pyotp.TOTP(pyotp.parse_uri(enroll(store, settings, "gina").uri).secret)
    other = Settings(home=settings.home, approver_key=SecretStr(Fernet.generate_key().decode()))
    assert not check_code(store, other, "gina", totp.at(NOW), at=NOW).ok


def test_a_signed_answer_verifies_only_as_it_was_signed(store: Store, settings: Settings) -> None:
    bob = enroll(store, settings, "bob")
    alice = enroll(store, settings, "alice")
    signature = sign(bob.key_file, _message())
    assert check_signature(store, "bob", _message(), signature).ok
    for changed in (
        {"decision": "reject"},
        {"adjustments": {"replicas": 60}},
        {"gate": 8},
        {"proposal": "scale_up"},
        {"plan_digest": "e" * 64},
        {"reason": "{{ 7*7 }}"},
        {"answer_id": "a2"},
    ):
        assert not check_signature(store, "bob", _message(**changed), signature).ok, changed
    assert not check_signature(store, "alice", _message(), signature).ok  # bob's signature is not alice's
    assert not check_signature(store, "bob", _message(), sign(alice.key_file, _message())).ok
    assert not check_signature(store, "bob", _message(), "not base64!").ok


def test_a_start_token_names_the_starter_of_one_run_only(store: Store) -> None:
    token = store.issue_start("dave")
    assert store.redeem_start(token, "run-a") == "dave"
    assert store.redeem_start(token, "run-a") == "dave"  # the same run, re-entered
    assert store.redeem_start(token, "run-b") is None  # copied into another run through the Prefect API
    assert store.redeem_start("forged", "run-c") is None
