"""Identity kept where the Prefect API cannot reach: keys made on the person's machine (the host holds only
public halves and their history), sealed TOTP secrets one per purpose, a code window of one step, codes
spent once, signatures that break when anything they cover is changed, starts bound to one run."""

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
    Purpose,
    Registration,
    check_code,
    check_signature,
    register,
    revoke,
    rotate_key,
)
from warroom.ledger import Store
from warroom.settings import Settings
from warroom.signing import Signer, SigningKeyError, answer_message, load_signer, make_key, start_message
from warroom.starts import from_proof, from_signed, params_digest

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


def _person(store: Store, settings: Settings, name: str, laptop: Path) -> tuple[Signer, Registration]:
    signer = make_key(laptop / name / "key.pem", name)
    return signer, register(store, settings, name, signer.public_line())


def _totp(done: Registration, purpose: Purpose = Purpose.APPROVE) -> pyotp.TOTP:
    return pyotp.TOTP(pyotp.parse_uri(done.uris[purpose]).secret)


def test_keys_are_made_on_the_persons_machine_and_the_host_keeps_only_public_halves(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    signer, done = _person(store, settings, "bob", tmp_path / "laptop")
    assert stat.S_IMODE(signer.path.stat().st_mode) == 0o600
    assert load_signer(signer.path).name == "bob"  # the key names its owner: no name is typed to pick it
    secret = _totp(done).secret
    record = store.approver("bob")
    assert record is not None and secret not in record.totp_sealed
    assert stat.S_IMODE((settings.home / "approvers.key").stat().st_mode) == 0o600
    assert not list(settings.home.rglob("*.pem"))  # no private key anywhere on the host
    [key] = store.signing_keys("bob")
    assert key.fingerprint == signer.fingerprint and key.retired_at is None
    if store.dialect == "sqlite":
        ledger = Path(store.engine.url.database or "").read_bytes()
        assert secret.encode() not in ledger and b"PRIVATE KEY" not in ledger
    with pytest.raises(EnrollmentError, match="registered already"):
        register(store, settings, "bob", None)
    with pytest.raises(EnrollmentError, match="letters, digits"):
        register(store, settings, "bob; rm -rf /", None)
    with pytest.raises(EnrollmentError, match="made for 'bob', not 'mallory'"):
        register(store, settings, "mallory", signer.public_line())
    with pytest.raises(SigningKeyError, match="exists already"):
        make_key(signer.path, "bob")


def test_an_acknowledgement_code_is_never_an_approval_code(store: Store, settings: Settings) -> None:
    done = register(store, settings, "carol", None)
    ack, approve = _totp(done, Purpose.ACKNOWLEDGE), _totp(done, Purpose.APPROVE)
    assert ack.secret != approve.secret
    assert check_code(store, settings, "carol", ack.at(NOW), at=NOW, purpose=Purpose.ACKNOWLEDGE).ok
    assert not check_code(store, settings, "carol", ack.at(NOW), at=NOW, purpose=Purpose.APPROVE).ok
    assert not check_code(store, settings, "carol", approve.at(NOW), at=NOW, purpose=Purpose.ACKNOWLEDGE).ok


def test_a_replaced_or_revoked_key_proves_nothing_and_says_why(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    old, done = _person(store, settings, "dana", tmp_path / "laptop")
    assert check_signature(store, "dana", _message(approver="dana"), old.sign(_message(approver="dana"))).ok
    new = make_key(tmp_path / "laptop2" / "key.pem", "dana")
    rotate_key(store, "dana", new.public_line())
    stale = check_signature(store, "dana", _message(approver="dana"), old.sign(_message(approver="dana")))
    assert (
        not stale.ok and f"key {old.fingerprint}, retired at" in stale.why and "replaced by key" in stale.why
    )
    assert check_signature(store, "dana", _message(approver="dana"), new.sign(_message(approver="dana"))).ok
    revoke(store, "dana", "laptop stolen")
    gone = check_signature(store, "dana", _message(approver="dana"), new.sign(_message(approver="dana")))
    assert not gone.ok and "revoked" in gone.why and "laptop stolen" in gone.why
    code = check_code(store, settings, "dana", _totp(done).at(NOW), at=NOW)
    assert not code.ok and "laptop stolen" in code.why


def test_a_start_proof_names_the_starter_of_one_run_with_exactly_its_parameters(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    dave, _ = _person(store, settings, "dave", tmp_path / "laptop")
    params = {
        "runbook": "svc",
        "params": {"replicas": 4},
        "alert": None,
        "dedup_key": "k",
        "requested_by": "dave",
    }
    digest = params_digest(**params)  # type: ignore[arg-type]
    signed = {
        "starter": "dave",
        "signature": dave.sign(
            start_message(flow_run_id="run-a", runbook="svc", params_digest=digest, starter="dave")
        ),
    }
    kw = {"runbook": "svc", "digest": digest, "claimed": "dave"}
    assert from_signed(store, signed, flow_run_id="run-a", **kw).proven  # type: ignore[arg-type]
    copied = from_signed(store, signed, flow_run_id="run-b", **kw)  # type: ignore[arg-type]
    assert not copied.proven and "did not verify" in copied.why  # copied into another run: nothing
    patched = params_digest(**{**params, "params": {"replicas": 50}})  # type: ignore[arg-type]
    proof = store.start_proof("run-a")
    assert proof is not None and proof.starter == "dave" and proof.kind == "signed"
    later = from_proof(proof, "svc", patched, "dave")  # the run's parameters PATCHed after the start
    assert not later.proven and "differ from what dave vouched for" in later.why
    forged = {"starter": "dave", "signature": "0" * 16 + ":" + "A" * 88}
    assert not from_signed(store, forged, flow_run_id="run-c", **kw).proven  # type: ignore[arg-type]
    assert store.start_proof("run-c") is None


def test_a_code_counts_within_one_step_of_drift_and_no_further(store: Store, settings: Settings) -> None:
    totp = _totp(register(store, settings, "carol", None))
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
    totp = _totp(register(store, settings, "erin", None))
    identity = check_code(store, settings, "erin", totp.at(NOW), at=NOW)
    assert identity.ok and identity.counter is not None
    assert store.use_code("erin", identity.counter) is True
    assert store.use_code("erin", identity.counter) is False
    assert store.use_code("frank", identity.counter) is True  # another person's code of the same step


def test_a_code_is_spent_for_its_secret_and_re_registering_starts_fresh_codes(
    store: Store, settings: Settings
) -> None:
    old = _totp(register(store, settings, "erin", None))
    first = check_code(store, settings, "erin", old.at(NOW), at=NOW)
    assert store.use_code("erin", first.counter, enrollment=first.enrollment)  # type: ignore[arg-type]
    assert not store.use_code("erin", first.counter, enrollment=first.enrollment)  # type: ignore[arg-type]
    new = _totp(register(store, settings, "erin", None, replace=True))
    assert not check_code(store, settings, "erin", old.at(NOW), at=NOW).ok  # the lost phone's codes: none
    again = check_code(store, settings, "erin", new.at(NOW), at=NOW)
    assert again.ok and again.counter == first.counter and again.enrollment != first.enrollment
    assert store.use_code("erin", again.counter, enrollment=again.enrollment)  # type: ignore[arg-type]
    assert not store.use_code("erin", again.counter, enrollment=again.enrollment)  # type: ignore[arg-type]


def test_a_secret_sealed_under_another_key_proves_nothing(store: Store, settings: Settings) -> None:
    totp = _totp(register(store, settings, "gina", None))
    other = Settings(home=settings.home, approver_key=SecretStr(Fernet.generate_key().decode()))
    assert not check_code(store, other, "gina", totp.at(NOW), at=NOW).ok


def test_a_signed_answer_verifies_only_as_it_was_signed(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    bob, _ = _person(store, settings, "bob", tmp_path / "laptop")
    alice, _ = _person(store, settings, "alice", tmp_path / "laptop")
    signature = bob.sign(_message())
    assert check_signature(store, "bob", _message(), signature).ok
    for changed in (
        {"decision": "reject"},
        {"adjustments": {"replicas": 60}},
        {"gate": 8},
        {"incident": "INC-4"},  # the same gate id in another ledger sharing the Prefect server
        {"approver": "alice"},
        {"proposal": "scale_up"},
        {"plan_digest": "e" * 64},
        {"reason": "{{ 7*7 }}"},
        {"answer_id": "a2"},
    ):
        assert not check_signature(store, "bob", _message(**changed), signature).ok, changed
    assert not check_signature(store, "alice", _message(), signature).ok  # bob's signature is not alice's
    assert not check_signature(store, "bob", _message(), alice.sign(_message())).ok
    assert not check_signature(store, "bob", _message(), "not base64!").ok


def test_keys_made_on_the_host_before_0010_are_retired_with_the_reason(ledger_url: str) -> None:
    """An existing ledger: the migration keeps the old public keys but retires them, since their private
    halves were made on (and may still be on) the Warroom host."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from warroom.ledger import MIGRATIONS

    engine = create_engine(ledger_url)
    if ledger_url.startswith("sqlite"):
        Path(engine.url.database or "").parent.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
        conn.execute(
            text(
                "INSERT INTO approvers (name, totp_sealed, public_key, enrolled_at) VALUES (:n, :t, :k, :at)"
            ),
            {"n": "olga", "t": "sealed", "k": "A" * 43 + "=", "at": NOW},
        )
    engine.dispose()
    store = Store(ledger_url)  # migrates to HEAD on open
    try:
        [key] = store.signing_keys("olga")
        assert key.retired_at is not None and "made on the Warroom host" in (key.retired_why or "")
        record = store.approver("olga")
        assert record is not None and record.ack_totp_sealed is None and record.revoked_at is None
    finally:
        store.close()
