"""HTTP health and synthetic checks. Read-only: these steps only send the requests they describe."""

from __future__ import annotations

import re
import socket
import ssl
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasks.step import step
from warroom.duration import Duration
from warroom.redact import redact_text
from warroom.steps import CheckResult, StepKind
from warroom.tls import tls_context


class HttpCheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str = Field(description="http:// or https:// URL to check")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: list[int] = Field(default_factory=lambda: [200], description="Acceptable status codes")
    body_contains: str | None = None
    body_regex: str | None = None
    max_latency: Duration | None = Field(default=None, description="Slower than this counts as unhealthy")
    timeout: Duration = timedelta(seconds=10)
    for_: Duration = Field(
        default=timedelta(0), alias="for", description="Healthy continuously for this long (verification)"
    )
    within: Duration | None = Field(
        default=None, description="Give up on `for` after this; default for + 60s"
    )
    interval: Duration = Field(default=timedelta(seconds=5), description="Between probes while holding `for`")
    retries: int = Field(default=2, ge=0, le=10, description="Retries of a failed probe, with backoff")
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True
    min_tls_days: int | None = Field(
        default=None, description="Certificate must be valid this many more days"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {v!r}")
        return v

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, int | str) else v

    @field_validator("body_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            re.compile(v)
        return v


class HttpCheckResult(CheckResult):
    url: str
    ok: bool
    status: int | None = None
    latency_ms: float | None = None
    reason: str
    attempts: int = 0
    probes: int = 0
    healthy_for_s: float = 0.0
    tls_days_left: int | None = None


def _tls_days_left(url: str, timeout: float, verify: bool) -> int:
    from cryptography import x509

    parts = urlsplit(url)
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout) as sock,
        ctx.wrap_socket(sock, server_hostname=parts.hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError("no peer certificate")
    cert = x509.load_der_x509_certificate(der)
    return (cert.not_valid_after_utc - datetime.now(UTC)).days


def _probe(client: httpx.Client, p: HttpCheckParams) -> HttpCheckResult:
    """One request with retries and backoff; the verdict says why it is (un)healthy."""
    attempts = 0
    last: HttpCheckResult | None = None
    for attempt in range(p.retries + 1):
        attempts += 1
        started = time.perf_counter()
        try:
            resp = client.request(p.method, p.url, headers=p.headers)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            last = HttpCheckResult(url=p.url, ok=False, reason=redact_text(reason), attempts=attempts)
        else:
            latency = (time.perf_counter() - started) * 1000
            problems = []
            if resp.status_code not in p.expect_status:
                problems.append(f"status {resp.status_code}, expected {p.expect_status}")
            if p.body_contains is not None and p.body_contains not in resp.text:
                problems.append(f"body does not contain {p.body_contains!r}")
            if p.body_regex is not None and not re.search(p.body_regex, resp.text):
                problems.append(f"body does not match {p.body_regex!r}")
            if p.max_latency is not None and latency > p.max_latency.total_seconds() * 1000:
                problems.append(
                    f"latency {latency:.0f} ms over {p.max_latency.total_seconds() * 1000:.0f} ms"
                )
            last = HttpCheckResult(
                url=p.url,
                ok=not problems,
                status=resp.status_code,
                latency_ms=round(latency, 2),
                reason="; ".join(problems) or f"status {resp.status_code} in {latency:.0f} ms",
                attempts=attempts,
            )
            if last.ok:
                return last
        if attempt < p.retries:
            time.sleep(min(0.25 * 2**attempt, 5.0))
    assert last is not None
    return last


@step("http.check", StepKind.DIAGNOSTIC)
def check(params: HttpCheckParams) -> HttpCheckResult:
    """Send a request and judge status, body, latency and TLS expiry; with `for`, hold healthy that long.

    Production impact: only the requests described (GET by default); nothing is changed.
    """
    p = params
    tls_days: int | None = None
    if p.min_tls_days is not None and urlsplit(p.url).scheme == "https":
        try:
            tls_days = _tls_days_left(p.url, p.timeout.total_seconds(), p.verify_tls)
        except (OSError, ssl.SSLError) as exc:
            return HttpCheckResult(url=p.url, ok=False, reason=f"TLS check failed: {exc}")
        if tls_days < p.min_tls_days:
            return HttpCheckResult(
                url=p.url, ok=False, reason=f"certificate expires in {tls_days} days", tls_days_left=tls_days
            )
    hold = p.for_.total_seconds()
    deadline = time.monotonic() + (p.within.total_seconds() if p.within is not None else hold + 60)
    with httpx.Client(
        timeout=p.timeout.total_seconds(), verify=tls_context(p.verify_tls), follow_redirects=False
    ) as client:
        probes = 0
        streak_start: float | None = None
        while True:
            result = _probe(client, p)
            probes += 1
            t = time.monotonic()
            if result.ok:
                streak_start = t if streak_start is None else streak_start
                healthy = t - streak_start
                if healthy >= hold:
                    return result.model_copy(
                        update={
                            "probes": probes,
                            "healthy_for_s": round(healthy, 2),
                            "tls_days_left": tls_days,
                        }
                    )
            else:
                streak_start = None
            if t + p.interval.total_seconds() > deadline or hold == 0:
                held = 0.0 if streak_start is None else round(t - streak_start, 2)
                why = result.reason if not result.ok else f"healthy for only {held:.0f}s of {hold:.0f}s"
                return result.model_copy(
                    update={
                        "ok": False,
                        "reason": why,
                        "probes": probes,
                        "healthy_for_s": held,
                        "tls_days_left": tls_days,
                    }
                )
            time.sleep(p.interval.total_seconds())


class HttpCompareParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    baseline_url: str | None = Field(default=None, description="A healthy twin to compare against")
    baseline_p50_ms: float | None = Field(default=None, description="A stored baseline instead of a URL")
    baseline_error_rate: float | None = Field(default=None, ge=0, le=1)
    samples: int = Field(default=10, ge=1, le=200)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    timeout: Duration = timedelta(seconds=5)
    max_latency_ratio: float = Field(default=2.0, gt=0)
    max_error_rate_increase: float = Field(default=0.05, ge=0, le=1)

    @model_validator(mode="after")
    def _has_baseline(self) -> HttpCompareParams:
        if self.baseline_url is None and self.baseline_p50_ms is None and self.baseline_error_rate is None:
            raise ValueError("give baseline_url, or a stored baseline_p50_ms / baseline_error_rate")
        return self


class HttpCompareResult(CheckResult):
    """``ok`` is not ``degraded``: within the baseline."""

    url: str
    samples: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    baseline_error_rate: float | None
    baseline_p50_ms: float | None
    latency_ratio: float | None
    degraded: bool
    reason: str


def _sample(client: httpx.Client, url: str, n: int, expect: list[int]) -> tuple[float, list[float]]:
    errors = 0
    latencies: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        try:
            resp = client.get(url)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += resp.status_code not in expect
        except httpx.HTTPError:
            errors += 1
    return errors / n, latencies


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


@step("http.compare", StepKind.DIAGNOSTIC)
def compare(params: HttpCompareParams) -> HttpCompareResult:
    """Sample a URL and compare its latency and error rate with a healthy baseline.

    Production impact: `samples` GET requests to each URL; nothing is changed.
    """
    p = params
    with httpx.Client(timeout=p.timeout.total_seconds(), verify=tls_context()) as client:
        error_rate, latencies = _sample(client, p.url, p.samples, p.expect_status)
        base_rate, base_p50 = p.baseline_error_rate, p.baseline_p50_ms
        if p.baseline_url is not None:
            base_rate, base_lat = _sample(client, p.baseline_url, p.samples, p.expect_status)
            base_p50 = statistics.median(base_lat) if base_lat else None
    p50 = _p(latencies, 0.5)
    ratio = round(p50 / base_p50, 2) if p50 is not None and base_p50 else None
    reasons = []
    if base_rate is not None and error_rate - base_rate > p.max_error_rate_increase:
        reasons.append(f"error rate {error_rate:.0%} vs baseline {base_rate:.0%}")
    if ratio is not None and ratio > p.max_latency_ratio:
        reasons.append(f"p50 latency {ratio}x the baseline")
    return HttpCompareResult(
        url=p.url,
        samples=p.samples,
        error_rate=round(error_rate, 4),
        p50_ms=p50,
        p95_ms=_p(latencies, 0.95),
        baseline_error_rate=None if base_rate is None else round(base_rate, 4),
        baseline_p50_ms=None if base_p50 is None else round(base_p50, 2),
        latency_ratio=ratio,
        degraded=bool(reasons),
        ok=not reasons,
        reason="; ".join(reasons) or "within the baseline",
    )
