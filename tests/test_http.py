"""HTTP checks against loopback servers: status, body, latency, retries, holding healthy, TLS expiry."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tasks.http import HttpCheckParams, HttpCompareParams, check, compare
from warroom.tls import tls_context


class Behaviour:
    def __init__(self) -> None:
        self.calls = 0
        self.fail_first = 0
        self.delay = 0.0
        self.flap_every = 0
        self.status = 200
        self.body = "ok: all systems nominal"


@contextmanager
def server(behaviour: Behaviour, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            behaviour.calls += 1
            time.sleep(behaviour.delay)
            code = behaviour.status
            if behaviour.calls <= behaviour.fail_first:
                code = 502
            if behaviour.flap_every and behaviour.calls % behaviour.flap_every == 0:
                code = 500
            raw = behaviour.body.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def self_signed(directory: Path, days: int) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days, hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def run_check(**kw: object) -> object:
    return check(HttpCheckParams.model_validate(kw))


def test_healthy_endpoint() -> None:
    b = Behaviour()
    with server(b) as url:
        result = run_check(url=url, body_contains="nominal", body_regex=r"^ok:")
    assert result.ok and result.status == 200 and result.latency_ms is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "params", "reason"),
    [
        ({"status": 503}, {}, "status 503, expected [200]"),
        ({}, {"body_contains": "degraded"}, "body does not contain 'degraded'"),
        ({}, {"body_regex": r"^error"}, "body does not match '^error'"),
        ({"delay": 0.3}, {"max_latency": "100ms"}, "over 100 ms"),
    ],
)
def test_unhealthy_says_why(change: dict[str, object], params: dict[str, object], reason: str) -> None:
    b = Behaviour()
    for k, v in change.items():
        setattr(b, k, v)
    with server(b) as url:
        result = run_check(url=url, retries=0, **params)
    assert not result.ok and reason in result.reason  # type: ignore[attr-defined]


def test_transient_failures_are_retried_with_backoff() -> None:
    b = Behaviour()
    b.fail_first = 2
    with server(b) as url:
        started = time.monotonic()
        result = run_check(url=url, retries=3)
        took = time.monotonic() - started
    assert result.ok and result.attempts == 3  # type: ignore[attr-defined]
    assert took >= 0.25 + 0.5  # backoff 0.25s then 0.5s


def test_connection_refused_is_a_clear_failure() -> None:
    result = run_check(url="http://127.0.0.1:9/healthz", retries=0)
    assert not result.ok and "ConnectError" in result.reason  # type: ignore[attr-defined]


def test_for_means_healthy_continuously_that_long() -> None:
    b = Behaviour()
    with server(b) as url:
        result = run_check(url=url, interval="200ms", retries=0, **{"for": "1s"})
    assert result.ok and result.healthy_for_s >= 1 and result.probes >= 5  # type: ignore[attr-defined]


def test_for_fails_when_health_flaps() -> None:
    b = Behaviour()
    b.flap_every = 3
    with server(b) as url:
        result = run_check(url=url, interval="100ms", retries=0, within="1500ms", **{"for": "1s"})
    assert not result.ok  # type: ignore[attr-defined]


def test_tls_expiry(tmp_path: Path) -> None:
    with server(Behaviour(), tls=self_signed(tmp_path, days=5)) as url:
        soon = run_check(url=url, verify_tls=False, min_tls_days=10)
        fine = run_check(url=url, verify_tls=False, min_tls_days=3)
    assert not soon.ok and "certificate expires in 5 days" in soon.reason  # type: ignore[attr-defined]
    assert fine.ok and fine.tls_days_left == 5  # type: ignore[attr-defined]


def test_a_check_trusts_only_the_ca_bundle_in_force_and_shares_one_tls_context_per_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path, days=30)
    with server(Behaviour(), tls=(cert, key)) as url:
        untrusted = run_check(url=url, retries=0)
        unverified = run_check(url=url, retries=0, verify_tls=False)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # as an operator points Warroom at a private CA
        trusted = run_check(url=url, retries=0)
    assert not untrusted.ok and "CERTIFICATE_VERIFY_FAILED" in untrusted.reason  # type: ignore[attr-defined]
    assert unverified.ok and trusted.ok  # type: ignore[attr-defined]
    # Built once per setting: a client per call no longer loads the CA bundle per call.
    assert tls_context() is tls_context() and tls_context(False) is tls_context(False)
    assert tls_context(False).verify_mode is ssl.CERT_NONE
    monkeypatch.delenv("SSL_CERT_FILE")
    assert tls_context().verify_mode is ssl.CERT_REQUIRED and tls_context().check_hostname


def test_compare_against_a_baseline_url() -> None:
    healthy, slow = Behaviour(), Behaviour()
    # Slower by far more than a loaded machine's own noise (a baseline measured 36 ms under load).
    slow.delay = 0.2
    slow.flap_every = 2
    with server(healthy) as base, server(slow) as current:
        result = compare(HttpCompareParams(url=current, baseline_url=base, samples=6))
        same = compare(HttpCompareParams(url=base, baseline_url=base, samples=5, max_latency_ratio=50))
    assert result.degraded and "error rate 50%" in result.reason and result.latency_ratio > 2
    assert not same.degraded


def test_compare_needs_a_baseline() -> None:
    with pytest.raises(ValueError, match="give baseline_url"):
        HttpCompareParams(url="http://127.0.0.1:9/")
