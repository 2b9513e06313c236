"""One TLS context per trust setting for Warroom's own HTTP clients. httpx builds a new context for every
client it makes, loading the whole CA bundle (about 30 ms of CPU on these machines), and the steps,
notifiers and trackers make a client per call: fifty gates answered at once paid for hundreds of them."""

from __future__ import annotations

import os
import ssl
from functools import lru_cache

import httpx


def tls_context(verify: bool = True) -> ssl.SSLContext:
    """What ``httpx.Client(verify=verify)`` would build (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured as
    httpx does), built once per setting and shared: a context is safe to share between clients and threads."""
    return _built(verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@lru_cache(maxsize=8)
def _built(verify: bool, _cafile: str | None, _capath: str | None) -> ssl.SSLContext:
    # The bundle's location is part of the key: a process that points SSL_CERT_FILE elsewhere gets a new one.
    return httpx.create_ssl_context(verify=verify)
