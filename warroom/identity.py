"""Who answers a gate, proven without trusting Prefect: TOTP secrets sealed in Warroom's ledger, and an
Ed25519 signing key per approver whose public half the ledger keeps.

Two paths, and what each proves:
- a **signed answer** (`warroom approve` with the approver's key file): the holder of NAME's private key
  chose this decision, these adjustments and this reason for this gate and this exact plan. Nothing that
  reaches the Prefect API can alter it without the signature failing.
- a **one-time code** (the Prefect UI form): someone who holds NAME's authenticator answered within the
  code's 30 s step (one step of drift either way). The rest of the answer travels through Prefect's input
  store, so a Prefect API user could rewrite it before the gate reads it; runbooks may refuse this path
  (``approval.signed: true``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from warroom.home import private_file
from warroom.ledger import Store
from warroom.redact import register_secret
from warroom.settings import Settings

APPROVER = r"^[A-Za-z0-9_.@-]{1,100}$"
ISSUER = "Warroom"
DRIFT_STEPS = 1  # codes of the previous and next 30 s step count too (clocks drift); no more


class EnrollmentError(ValueError):
    pass


@dataclass(frozen=True)
class Identity:
    ok: bool
    why: str
    counter: int | None = None  # the TOTP step of a valid code: spent once in the ledger
    enrollment: str = ""  # which enrollment's secret made it (codes are spent per enrollment)


@dataclass(frozen=True)
class Enrollment:
    name: str
    uri: str  # the otpauth:// URI for the authenticator app; shown once
    key_file: Path  # the private signing key, mode 0600, for `warroom approve --key`


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


def key_file(settings: Settings, name: str) -> Path:
    """Where `warroom approvers enroll` puts NAME's private signing key, and `warroom approve` looks."""
    return Path(settings.home) / "approver-keys" / f"{name}.pem"


def enroll(
    store: Store, settings: Settings, name: str, *, replace: bool = False, key_out: Path | None = None
) -> Enrollment:
    """Make NAME's TOTP secret (sealed into the ledger) and signing key (private half to a 0600 file)."""
    if not re.match(APPROVER, name):
        raise EnrollmentError(f"approver names are letters, digits and _.@- (got {name!r})")
    if store.approver(name) is not None and not replace:
        raise EnrollmentError(f"{name} is already enrolled; --replace issues new credentials")
    secret = pyotp.random_base32()
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sealed = _sealer(settings).encrypt(secret.encode()).decode()
    path = key_out or key_file(settings, name)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private_file(path, pem, replace=True)
    if not store.save_approver(name, sealed, base64.b64encode(public).decode(), replace=replace):
        raise EnrollmentError(f"{name} is already enrolled; --replace issues new credentials")
    return Enrollment(name, pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER), path)


def _totp_secret(store: Store, settings: Settings, name: str) -> tuple[str, str] | None:
    """NAME's TOTP secret and the fingerprint of the enrollment that made it; None when not enrolled."""
    record = store.approver(name)
    if record is None:
        return None
    try:
        secret = _sealer(settings).decrypt(record.totp_sealed.encode()).decode()
    except InvalidToken:
        return None  # sealed under another key: as good as not enrolled here
    register_secret(secret)
    return secret, hashlib.sha256(record.totp_sealed.encode()).hexdigest()[:32]


def check_code(
    store: Store, settings: Settings, name: str, code: str, at: datetime | None = None
) -> Identity:
    """Is ``code`` NAME's one-time code for now (one 30 s step of drift either way)?"""
    found = _totp_secret(store, settings, name)
    if found is None:
        return Identity(False, f"{name} is not enrolled (warroom approvers enroll {name})")
    secret, enrollment = found
    totp = pyotp.TOTP(secret)
    when = at or datetime.now(UTC)
    for drift in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        t = when + timedelta(seconds=drift * totp.interval)
        if hmac.compare_digest(totp.at(t), code):
            return Identity(True, "one-time code valid", totp.timecode(t), enrollment)
    return Identity(False, f"wrong one-time code for {name}")


def answer_message(
    *,
    gate: int,
    incident: str,
    proposal: str,
    plan_digest: str,
    decision: str,
    approver: str,
    reason: str,
    answer_id: str,
    adjustments: dict[str, Any],
) -> bytes:
    """The exact bytes a signed answer signs: everything that decides what runs, and for which gate."""
    body = {
        "v": 1,
        "gate": gate,
        "incident": incident,
        "proposal": proposal,
        "plan_digest": plan_digest,
        "decision": decision,
        "approver": approver,
        "reason": reason,
        "answer_id": answer_id,
        "adjustments": {k: adjustments[k] for k in sorted(adjustments) if adjustments[k] is not None},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(key_path: Path, message: bytes) -> str:
    try:
        private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise EnrollmentError(f"cannot read the signing key {key_path}: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise EnrollmentError(f"{key_path} is not an Ed25519 private key")
    return base64.b64encode(private.sign(message)).decode()


def check_signature(store: Store, name: str, message: bytes, signature: str) -> Identity:
    record = store.approver(name)
    if record is None:
        return Identity(False, f"{name} is not enrolled (warroom approvers enroll {name})")
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(record.public_key)).verify(
            base64.b64decode(signature, validate=True), message
        )
    except (InvalidSignature, ValueError):
        return Identity(
            False,
            f"the signature is not {name}'s over this gate's plan and this answer "
            "(altered on the way, or given for another gate)",
        )
    return Identity(True, "signed answer verified")


def has_key_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.R_OK)
