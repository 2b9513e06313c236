"""A person's signing key, made and kept on their own machine, and the exact bytes each purpose signs.

`warroom approvers enroll NAME` on the person's machine makes an Ed25519 key pair there: the private half
goes to a 0600 file that names its owner, the public half is printed as one line an admin registers on the
Warroom host (`warroom approvers register`). The host never holds a private key. `warroom approve`,
`warroom run` and `warroom ack` sign as the owner of the key they load, never as a name typed beside it.

Every message says what it is for (``purpose``) and what it is bound to, so a signature given for one
thing (an answer at gate 7, the start of one flow run) proves nothing for another.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from warroom.home import private_file

APPROVER = r"^[A-Za-z0-9_.@-]{1,100}$"
KEY_OWNER = "Warroom signing key of: "  # the key file's first line
PUBLIC_PREFIX = "warroom-ed25519"
SIGNATURE = r"^[0-9a-f]{16}:[A-Za-z0-9+/=]{1,120}$"  # key fingerprint : signature


class SigningKeyError(ValueError):
    """A key file or public key that cannot be used, said in words."""


def fingerprint(public_b64: str) -> str:
    """A short, stable name for a public key (what signatures carry, what the timeline shows)."""
    return hashlib.sha256(public_b64.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """A loaded private key and the person it belongs to."""

    name: str
    path: Path
    key: Ed25519PrivateKey

    @property
    def public_b64(self) -> str:
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_b64)

    def public_line(self) -> str:
        return f"{PUBLIC_PREFIX} {self.public_b64} {self.name}"

    def sign(self, message: bytes) -> str:
        return f"{self.fingerprint}:{base64.b64encode(self.key.sign(message)).decode()}"


def make_key(path: Path, name: str, *, replace: bool = False) -> Signer:
    """Make NAME's key pair on this machine: the private half to ``path`` (0600), nowhere else."""
    if not re.match(APPROVER, name):
        raise SigningKeyError(f"approver names are letters, digits and _.@- (got {name!r})")
    if path.exists() and not replace:
        raise SigningKeyError(f"{path} exists already; --replace makes a new key (register it again)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_file(path, f"{KEY_OWNER}{name}\n".encode() + pem, replace=True)
    return Signer(name, path, key)


def load_signer(path: Path) -> Signer:
    """The key at ``path`` and the person it was made for."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key {path}: {exc.strerror or exc}") from None
    first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    if not first.startswith(KEY_OWNER) or not re.match(APPROVER, first[len(KEY_OWNER) :]):
        raise SigningKeyError(
            f"{path} is not a Warroom signing key (make one with `warroom approvers enroll`)"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise SigningKeyError(f"cannot read the signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return Signer(first[len(KEY_OWNER) :], path, key)


def parse_public_line(line: str, name: str) -> tuple[str, str]:
    """(fingerprint, base64 key) of a public key line made for NAME, or SigningKeyError saying why not."""
    parts = line.strip().split()
    if len(parts) != 3 or parts[0] != PUBLIC_PREFIX:
        raise SigningKeyError(
            f"a public key line reads '{PUBLIC_PREFIX} KEY NAME', as `warroom approvers enroll` prints"
        )
    if parts[2] != name:
        raise SigningKeyError(f"that public key was made for {parts[2]!r}, not {name!r}")
    try:
        raw = base64.b64decode(parts[1], validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise SigningKeyError("the public key is not 32 bytes of Ed25519 in base64") from None
    return fingerprint(parts[1]), parts[1]


def split_signature(signature: str) -> tuple[str, bytes] | None:
    if not re.match(SIGNATURE, signature):
        return None
    fp, _, sig = signature.partition(":")
    try:
        return fp, base64.b64decode(sig, validate=True)
    except ValueError:
        return None


def verifies(public_b64: str, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64)).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
    return _canonical(
        {
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
    )


def start_message(*, flow_run_id: str, runbook: str, params_digest: str, starter: str) -> bytes:
    """What a person signs to say they started this one flow run of this runbook with these parameters."""
    return _canonical(
        {
            "v": 1,
            "purpose": "start",
            "flow_run_id": flow_run_id,
            "runbook": runbook,
            "params_digest": params_digest,
            "starter": starter,
        }
    )


def ack_message(*, incident: str, person: str, at: int) -> bytes:
    """What a person signs to take an incident (``at``: Unix seconds, so an old signature is refused)."""
    return _canonical({"v": 1, "purpose": "acknowledge", "incident": incident, "person": person, "at": at})
