"""Running the respond flow in a thread while the test acts as the humans around it."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pyotp

from flows.answer import OpenGate, open_gates
from tests.net import post_retrying
from tests.patience import HANG
from warroom.identity import Purpose, register
from warroom.incident import Incident
from warroom.ledger import Store
from warroom.ledger.approvals import ALERT_STARTER
from warroom.settings import get_settings
from warroom.signing import Signer, load_signer, make_key, start_message
from warroom.starts import LOCAL_VOUCHER, Voucher, params_digest


class FlowThread(threading.Thread):
    """respond() in-process, as `warroom run --local` starts it: the starter proven by their own signature
    over this flow run and its parameters, or for an alert as the receiver vouches (``proven=False``: a run
    whose starter nobody vouches for, as one made through the Prefect API)."""

    def __init__(self, *, proven: bool = True, **kwargs: Any) -> None:
        super().__init__(daemon=True)
        self.kwargs = kwargs
        self.proven = proven
        self.outcome: Any = None
        self.error: BaseException | None = None

    def _voucher(self) -> Voucher | None:
        return voucher_for(self.kwargs)

    def run(self) -> None:
        from flows.respond import respond

        if self.proven:
            LOCAL_VOUCHER.set(self._voucher())
        try:
            self.outcome = respond(**self.kwargs)
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float = 120) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "the respond flow did not finish"
        return self.outcome


def voucher_for(kw: dict[str, Any]) -> Voucher | None:
    """How the starter of an in-process run vouches for it: the person's signature (as `warroom run --local`
    makes it), or for an alert the receiver's word in the ledger."""
    digest = params_digest(
        runbook=kw["runbook"],
        params=kw.get("params"),
        alert=kw.get("alert"),
        dedup_key=kw.get("dedup_key"),
        requested_by=kw.get("requested_by"),
        decided=kw.get("decided"),
    )
    person = kw.get("requested_by")
    if person:
        signer = signer_of(person)

        def signed(flow_run_id: str) -> dict[str, str]:
            message = start_message(
                flow_run_id=flow_run_id, runbook=kw["runbook"], params_digest=digest, starter=person
            )
            return {"starter": person, "signature": signer.sign(message)}

        return signed
    if kw.get("alert"):

        def receiver(flow_run_id: str) -> None:
            store = Store.from_settings()
            store.vouch_start(
                flow_run_id,
                runbook=kw["runbook"],
                params_digest=digest,
                starter=ALERT_STARTER,
                kind="receiver",
            )
            store.close()

        return receiver
    return None


def respond_vouched(**kwargs: Any) -> Any:
    """respond() in this process, vouched for as `warroom run --local` does (for a subprocess to call)."""
    from flows.respond import respond

    LOCAL_VOUCHER.set(voucher_for(kwargs))
    return respond(**kwargs)


def wait_for_incident(store: Store, dedup_key: str, timeout: float = HANG) -> Incident:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = store.latest_for_key(dedup_key)
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no incident for {dedup_key}")


def wait_for_gate(incident: str, timeout: float = HANG, after_pause: int = 0) -> OpenGate:
    store = Store.from_settings()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gates = [g for g in open_gates(store, incident) if g.pause > after_pause]
        if gates:
            return gates[0]
        time.sleep(0.2)
    raise AssertionError(f"no approval gate opened on {incident}")


_SECRETS: dict[str, dict[Purpose, str]] = {}


def _laptop(name: str) -> Path:
    """Where NAME's own machine keeps their key: outside $WARROOM_HOME, as on a real laptop."""
    return get_settings().home.parent / "laptops" / name / "key.pem"


def enrolled(name: str, purpose: Purpose = Purpose.APPROVE) -> pyotp.TOTP:
    """Enroll NAME once per ledger and home as a person would: a key made on their own machine, its
    public line registered on the host; return their authenticator for ``purpose``."""
    settings = get_settings()
    key = f"{settings.ledger_url()}|{settings.home}|{name}"
    if key not in _SECRETS:
        signer = make_key(_laptop(name), name, replace=True)
        store = Store.from_settings(settings)
        done = register(store, settings, name, signer.public_line(), replace=True)
        store.close()
        _SECRETS[key] = {p: pyotp.parse_uri(uri).secret for p, uri in done.uris.items()}
    return pyotp.TOTP(_SECRETS[key][purpose])


def signer_of(name: str) -> Signer:
    """NAME's own key, from their machine (enrolling them first, unless this test did already)."""
    if not _laptop(name).exists():
        enrolled(name)
    return load_signer(_laptop(name))


def uris_of(output: str) -> dict[str, pyotp.TOTP]:
    """The authenticator secrets `warroom approvers register` printed, by purpose."""
    found: dict[str, pyotp.TOTP] = {}
    for line in output.splitlines():
        if line.startswith("otpauth://"):
            totp = pyotp.parse_uri(line)
            assert isinstance(totp, pyotp.TOTP)
            found["acknowledge" if "acknowledge" in (totp.issuer or "") else "approve"] = totp
    return found


_USED: dict[str, set[int]] = {}


def fresh_code(totp: pyotp.TOTP, used: set[int] | None = None) -> str:
    """A code of ``totp`` the gate has not seen, the one that stays good longest first.

    The gate takes the previous, this and the next 30 s step, so the next step's code is good for 60 s
    at least, this step's for 30 s: on a loaded machine a `warroom approve` may take tens of seconds to
    reach the gate's check, and a code made for this step at its end is stale by then. The previous
    step's code only while most of this step is left. Codes count once: ``used`` keeps the steps taken,
    and only a fourth code of one secret within one step waits for the clock."""
    used = _USED.setdefault(totp.secret, set()) if used is None else used
    while True:
        now = time.time()
        counter = int(now // totp.interval)
        left = (counter + 1) * totp.interval - now  # the previous step's code is good until this one ends
        for c in (counter + 1, counter, counter - 1):
            if c not in used and (c != counter - 1 or left > 20):
                used.add(c)
                return totp.generate_otp(c)
        time.sleep(1)


def code(name: str, purpose: Purpose = Purpose.APPROVE) -> str:
    """A code of NAME's (enrolled in this test's home) the gate has not seen yet."""
    return fresh_code(enrolled(name, purpose))


def write_runbook(directory: Path, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "svc-capacity.yaml").write_text(textwrap.dedent(text))


CAPACITY_RUNBOOK = """\
    name: svc-capacity
    description: The service is unhealthy because it runs too few replicas; scale it up.
    title: "capacity: {{ params.service_url }}"
    match: {alertname: ServiceUnhealthy}
    params:
      service_url: {type: string, from: alert.annotations.service_url}
      replicas: {type: integer, default: 4}
      timeout: {type: duration, default: 60s}
    diagnostics:
      - id: health
        use: http.check
        with: {url: "{{ params.service_url }}/healthz", retries: 0}
      - id: replicas_endpoint
        use: http.check
        with: {url: "{{ params.service_url }}/replicas", retries: 0}
    mitigations:
      - id: scale_up
        description: Scale the service up
        when: "not health.ok"
        use: svc.scale
        with: {url: "{{ params.service_url }}", replicas: "{{ params.replicas }}"}
        adjustable: [replicas]
        approval: {approvers: [{group: sre}], four_eyes: true, timeout: APPROVAL_TIMEOUT ESCALATE}
    verify:
      - use: http.check
        with: {url: "{{ params.service_url }}/healthz", retries: 0}
    communicate: {channel: "#inc-capacity-{{ params.replicas }}", update_every: 10m, stakeholders: [sales]}
    postmortem:
      owner: carol
      action_items:
        - {title: "Capacity plan: {{ params.replicas }} replicas were too few", due_in: 7d}
        - {title: Alert before the service is unhealthy, owner: bob}
"""


def resume_as_the_ui(flow_run_id: str, answer: dict[str, Any]) -> str:
    """What the UI's Resume (or anyone who reaches the Prefect API) does: resume the paused run with this
    input. Prefect's own SQLite answers 5xx ("database is locked") under load; retried, as its clients do."""
    from prefect.settings import PREFECT_API_URL

    resp = post_retrying(f"{PREFECT_API_URL.value()}/flow_runs/{flow_run_id}/resume", {"run_input": answer})
    return str(resp.json()["status"])
