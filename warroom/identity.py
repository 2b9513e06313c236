"""Who someone is, proven without trusting Prefect: the Warroom host's side of identity.

The host registers a person (`warroom approvers register`): their public signing key (the private half
was made on their own machine, ``warroom/signing.py``) and two TOTP secrets, sealed in the ledger, one per
purpose. An approval code and an acknowledgement code come from different secrets, so a code given to
take an incident can never answer a gate, however it is intercepted.

What each proof proves:
- a **signature** checked against the person's registered key: the key's holder chose exactly what the
  message says (an answer at one gate over one plan, the start of one flow run). A key replaced or
  revoked proves nothing from then on, and the refusal says which and when.
- a **one-time code**: someone holding NAME's authenticator, for that purpose, within the code's 30 s
  step (one step of drift either way). Spent in the ledger the first time it is judged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import pyotp
from cryptography.fernet import Fernet, InvalidToken

from warroom.home import private_file
from warroom.ledger import Store
from warroom.ledger.approvals import ApproverRecord
from warroom.redact import register_secret
from warroom.settings import Settings
from warroom.signing import APPROVER, SigningKeyError, parse_public_line, split_signature, verifies

DRIFT_STEPS = 1  # codes of the previous and next 30 s step count too (clocks drift); no more


class Purpose(StrEnum):
    APPROVE = "approve"
    ACKNOWLEDGE = "acknowledge"


ISSUERS = {Purpose.APPROVE: "Warroom approve", Purpose.ACKNOWLEDGE: "Warroom acknowledge"}
_WHAT = {Purpose.APPROVE: "code", Purpose.ACKNOWLEDGE: "acknowledgement code"}


class EnrollmentError(ValueError):
    pass


@dataclass(frozen=True)
class Identity:
    ok: bool
    why: str
    counter: int | None = None  # the TOTP step of a valid code: spent once in the ledger
    enrollment: str = ""  # which secret made it (codes are spent per secret)
    key: str | None = None  # the fingerprint of the key a valid signature was made with


@dataclass(frozen=True)
class Registration:
    name: str
    uris: dict[Purpose, str]  # otpauth:// URIs for the authenticator app, one per purpose; shown once
    key: str | None  # the registered key's fingerprint, when a public key was given


def _sealer(settings: Settings) -> Fernet:
    if settings.approver_key is not None:
        key = settings.approver_key.get_secret_value().encode()
    else:
        path = Path(settings.home) / "approvers.key"
        if not path.exists():
            private_file(path, Fernet.generate_key())
        key = path.read_bytes().strip()
    try:
        return Fernet(key)
    except ValueError:
        raise EnrollmentError(
            "the approver sealing key is not a Fernet key (32 url-safe base64 bytes)"
        ) from None


def register(
    store: Store, settings: Settings, name: str, public_key: str | None, *, replace: bool = False
) -> Registration:
    """Register NAME on this host: their public key line (from `warroom approvers enroll` on their own
    machine; None for codes only) and fresh TOTP secrets, sealed. Re-registering retires old keys."""
    if not re.match(APPROVER, name):
        raise EnrollmentError(f"approver names are letters, digits and _.@- (got {name!r})")
    key = _new_key(store, name, public_key) if public_key else None
    secrets = {p: pyotp.random_base32() for p in Purpose}
    sealer = _sealer(settings)
    sealed = {p: sealer.encrypt(s.encode()).decode() for p, s in secrets.items()}
    if not store.save_approver(
        name, sealed[Purpose.APPROVE], sealed[Purpose.ACKNOWLEDGE], key, replace=replace
    ):
        raise EnrollmentError(f"{name} is registered already; --replace issues new credentials")
    uris = {p: pyotp.TOTP(s).provisioning_uri(name=name, issuer_name=ISSUERS[p]) for p, s in secrets.items()}
    return Registration(name, uris, key[0] if key else None)


def rotate_key(store: Store, name: str, public_key: str) -> str:
    """Make a new public key NAME's one signing key; answers signed with the old one fail from now on."""
    record = store.approver(name)
    if record is None or record.revoked_at is not None:
        raise EnrollmentError(f"{name} is not registered here (warroom approvers register {name} ...)")
    fp, key = _new_key(store, name, public_key)
    store.register_key(name, fp, key)
    return fp


def _new_key(store: Store, name: str, public_key: str) -> tuple[str, str]:
    """(fingerprint, key) of NAME's public key line, one never registered before (by anyone)."""
    try:
        fp, key = parse_public_line(public_key, name)
    except SigningKeyError as exc:
        raise EnrollmentError(str(exc)) from None
    known = store.signing_key(fp)
    if known is not None:
        raise EnrollmentError(f"key {fp} was registered before ({known.approver}): make a new one")
    return fp, key


def _revoked(record: ApproverRecord) -> Identity | None:
    """The refusal for an approver who was revoked; None while they are not."""
    if record.revoked_at is None:
        return None
    return Identity(
        False, f"{record.name} was revoked at {record.revoked_at:%Y-%m-%d %H:%M} UTC ({record.revoked_why})"
    )


def revoke(store: Store, name: str, why: str) -> None:
    if not store.revoke_approver(name, why):
        raise EnrollmentError(f"{name} is not registered here")


def _totp_secret(store: Store, settings: Settings, name: str, purpose: Purpose) -> tuple[str, str] | Identity:
    """NAME's TOTP secret for ``purpose`` and a fingerprint of it; or why there is none."""
    record = store.approver(name)
    if record is None:
        return Identity(False, f"{name} is not enrolled (warroom approvers register {name})")
    if (revoked := _revoked(record)) is not None:
        return revoked
    sealed = record.totp_sealed if purpose is Purpose.APPROVE else record.ack_totp_sealed
    if sealed is None:
        return Identity(False, f"{name} has no {purpose.value} codes yet: register again with --replace")
    try:
        secret = _sealer(settings).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return Identity(False, f"{name} is not enrolled here (sealed under another key)")
    register_secret(secret)
    return secret, hashlib.sha256(sealed.encode()).hexdigest()[:32]


def check_code(
    store: Store,
    settings: Settings,
    name: str,
    code: str,
    at: datetime | None = None,
    *,
    purpose: Purpose = Purpose.APPROVE,
) -> Identity:
    """Is ``code`` NAME's one-time code for ``purpose`` now (one 30 s step of drift either way)?"""
    found = _totp_secret(store, settings, name, purpose)
    if isinstance(found, Identity):
        return found
    secret, enrollment = found
    totp = pyotp.TOTP(secret)
    when = at or datetime.now(UTC)
    for drift in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        t = when + timedelta(seconds=drift * totp.interval)
        if hmac.compare_digest(totp.at(t), code):
            return Identity(True, f"one-time {_WHAT[purpose]} valid", totp.timecode(t), enrollment)
    return Identity(False, f"wrong one-time {_WHAT[purpose]} for {name}")


def spend_code(
    store: Store,
    settings: Settings,
    name: str,
    code: str,
    ref: str | int | None,
    *,
    purpose: Purpose,
) -> Identity:
    """Check a code and spend it: a code seen once is never good again, whatever it was judged for."""
    identity = check_code(store, settings, name, code, purpose=purpose)
    if identity.ok and identity.counter is not None:
        if not store.use_code(name, identity.counter, ref, enrollment=identity.enrollment):
            return Identity(False, f"one-time code already used by {name}")
    return identity


def check_signature(store: Store, name: str, message: bytes, signature: str) -> Identity:
    """Did NAME's current registered key sign ``message``? If not, which of the ways it failed."""
    parts = split_signature(signature)
    if parts is None:
        return Identity(False, "the signature is malformed (expected FINGERPRINT:BASE64)")
    fp, raw = parts
    key = store.signing_key(fp)
    if key is None or key.approver != name:
        return Identity(False, f"signed with key {fp}, which is not a key registered for {name}")
    if not verifies(key.public_key, message, raw):
        return Identity(
            False,
            f"the signature is not {name}'s over this exact message "
            "(altered on the way, or given for something else)",
        )
    record = store.approver(name)
    if record is None:
        return Identity(False, f"{name} is not enrolled (warroom approvers register {name})")
    if (revoked := _revoked(record)) is not None:
        return revoked
    if key.retired_at is not None:
        return Identity(
            False,
            f"signed with {name}'s key {fp}, retired at {key.retired_at:%Y-%m-%d %H:%M} UTC "
            f"({key.retired_why})",
        )
    return Identity(True, "signature verified", key=fp)
