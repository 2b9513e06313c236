"""The receiver's own sender credentials: a bearer token or an HMAC signature per format.

Formats with a vendor signature (PagerDuty) or none at the HTTP level (SNS) say so in their own module.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from warroom.settings import Settings


class Unauthorized(Exception):
    pass


def home_token(settings: Settings) -> str:
    """The receiver's default bearer token, made once in $WARROOM_HOME (mode 0600) when none is configured."""
    path = Path(settings.home) / "intake-token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hmac_ok(secret: str, body: bytes, presented: str) -> bool:
    return hmac.compare_digest(hmac_hex(secret, body), presented.strip().lower())


def shared_credentials(source: str, body: bytes, settings: Settings) -> dict[str, str]:
    """The headers that ``check_shared`` accepts for ``source``; its counterpart, kept beside it."""
    hmac_secret = settings.intake_hmac_secrets.get(source) or settings.intake_hmac_secrets.get("*")
    if hmac_secret is not None:
        return {"X-Warroom-Signature": f"sha256={hmac_hex(hmac_secret.get_secret_value(), body)}"}
    token = settings.intake_tokens.get(source) or settings.intake_tokens.get("*")
    return {"Authorization": f"Bearer {token.get_secret_value() if token else home_token(settings)}"}


def check_shared(source: str, headers: Mapping[str, str], body: bytes, settings: Settings) -> None:
    """Raise Unauthorized unless the request carries the receiver's credentials for ``source``."""
    hmac_secret = settings.intake_hmac_secrets.get(source) or settings.intake_hmac_secrets.get("*")
    if hmac_secret is not None:
        signature = headers.get("x-warroom-signature", "")
        if signature.startswith("sha256=") and hmac_ok(hmac_secret.get_secret_value(), body, signature[7:]):
            return
        raise Unauthorized("X-Warroom-Signature missing or wrong (sha256=<hex HMAC of the body>)")
    token = settings.intake_tokens.get(source) or settings.intake_tokens.get("*")
    expected = token.get_secret_value() if token is not None else home_token(settings)
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and hmac.compare_digest(auth[7:].strip(), expected):
        return
    raise Unauthorized("bearer token missing or wrong")
