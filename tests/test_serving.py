"""`warroom up`, `warroom run` and `warroom approve` as an on-call engineer uses them: three processes."""

from __future__ import annotations

import json
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.serve import parameter_schema
from tests.conftest import REPO
from tests.flow_helpers import CAPACITY_RUNBOOK, fresh_code, write_runbook
from tests.net import free_port
from tests.patience import HANG
from tests.served import wait_for
from tests.service import running_service
from tests.up_process import person, stop_up, wait_until_served
from tests.up_process import prefect_login as _login
from tests.up_process import up_env as _env
from tests.up_process import warroom as _warroom
from tests.up_process import warroom_done as _warroom_done
from warroom.runbook import load_catalogue, resolve_params

pytestmark = pytest.mark.long(160)


@dataclass
class Up:
    """`warroom up` in a home of its own, and the people enrolled on it (each with their own laptop)."""

    env: dict[str, str]
    api: str
    base: Path
    people: dict[str, tuple[dict[str, str], dict[str, Any]]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One `warroom up` for the module's tests, as one on-call host serves a shift: each test starts its
    own runs and incidents on it; alice and dave are enrolled once, each from a laptop of their own."""
    base = tmp_path_factory.mktemp("served")
    write_runbook(
        base / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "120s").replace(" ESCALATE", "")
    )
    port = free_port()
    env = {**_env(base, port), "WARROOM_DEFAULT_SEVERITY": "P1"}  # P1: paged, and a post-mortem owed
    log = base / "up.log"  # a file, not a pipe nobody drains (a full pipe stalls it)
    proc = _warroom("up", env=env, output=log, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_until_served(proc, env, api, log, "svc-capacity")
        served_env = {**env, "PREFECT_API_URL": api}
        people = {name: person(name, served_env, base / f"{name}-laptop") for name in ("alice", "dave")}
        yield Up(served_env, api, base, people)
    finally:
        stop_up(proc)
    assert not (base / "home" / "prefect-server").exists()  # no terminal is sent to a stopped server
    # Ctrl-C stopped everything it started: nothing answers on the port any more.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api}/health", timeout=2)


def test_up_serves_runbooks_and_a_run_is_approved_from_another_process(served: Up) -> None:
    env, api, laptops = served.env, served.api, served.base
    # The Prefect server `warroom up` starts is guarded by default; its login is in $WARROOM_HOME only.
    assert httpx.post(f"{api}/deployments/filter", json={}).status_code == 401
    login = Path(env["WARROOM_HOME"]) / "prefect-auth"
    assert stat.S_IMODE(login.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(env["WARROOM_HOME"]).stat().st_mode) == 0o700
    assert stat.S_IMODE((Path(env["WARROOM_HOME"]) / "warroom.db").stat().st_mode) == 0o600
    found = httpx.post(f"{api}/deployments/filter", json={}, auth=_login(env)).json()
    [deployment] = [d for d in found if d["name"] == "svc-capacity"]
    props = deployment["parameter_openapi_schema"]["properties"]["params"]["properties"]
    assert props["replicas"] == {"type": "integer", "title": "replicas", "default": 4}
    alice, secrets = served.people["alice"]
    dave, _ = served.people["dave"]
    assert not list(Path(env["WARROOM_HOME"]).rglob("*.pem"))  # no private key on the Warroom host
    # alice answers from her own laptop: her key, the Prefect login her browser holds, and no ledger.
    alice = {
        **alice,
        "WARROOM_HOME": str(laptops / "alice-laptop" / "home"),
        "PREFECT_API_AUTH_STRING": login.read_text().strip(),
    }

    # dave starts it from a second terminal that names no Prefect server or port: `warroom up` (on a port
    # of its own here) said where its server answers in $WARROOM_HOME, and the CLI finds it and its login.
    dave = {k: v for k, v in dave.items() if k not in ("PREFECT_API_URL", "WARROOM_PREFECT_PORT")}
    assert (Path(env["WARROOM_HOME"]) / "prefect-server").read_text() == api
    with running_service() as (url, state):
        run = _warroom("run", "svc-capacity", "--param", f"service_url={url}", env=dave)
        assert run.stdout is not None
        lines: list[str] = []
        incident = None
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline:
            line = run.stdout.readline()
            lines.append(line)
            m = re.search(r"warroom approve (INC-\d+) --proposal scale_up", line)
            if m:
                incident = m.group(1)
                break
        assert incident, "".join(lines)
        assert state.scale_calls == []
        approved = _warroom_done(
            "approve", incident, "--reason", "add capacity", "--set", "replicas=5", env=alice
        )  # signed with alice's own key: no code asked for, no name typed
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert not (laptops / "alice-laptop" / "home" / "warroom.db").exists()  # no ledger was needed
        assert secrets["approve"].now()  # the UI path would take a code from the authenticator
        assert "scale_up: granted: scale_up: approved by alice" in approved.stdout
        rest, _ = run.communicate(timeout=HANG)
    assert run.returncode == 0, "".join(lines) + rest
    assert f"{incident} is resolved" in rest
    assert state.scale_calls == [5]
    # A terminal holding a wrong login gets one line that says so, not a traceback over /api/admin/version.
    wrong = {**dave, "PREFECT_API_AUTH_STRING": "warroom:not-the-password"}
    refused = _warroom_done("run", "svc-capacity", "--param", "service_url=http://127.0.0.1:9", env=wrong)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"the Prefect server at {api} refused this login (401)" in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr


def test_parameter_schema_is_the_runbook_form() -> None:
    rb = load_catalogue([REPO / "runbooks"]).runbooks["k8s-bad-deploy"].runbook
    schema = parameter_schema(rb)
    params = schema["properties"]["params"]
    assert params["properties"]["namespace"]["default"] == "prod"
    assert params["properties"]["namespace"]["pattern"] == "^(?:[a-z0-9-]+)$"
    assert "an alert gives it: alert.labels.deployment" in params["properties"]["deployment"]["description"]
    assert schema["properties"]["runbook"]["enum"] == ["k8s-bad-deploy"]
    json.dumps(schema)


def test_every_runbook_form_accepts_its_own_defaults_and_asks_for_what_it_needs() -> None:
    import jsonschema

    for loaded in load_catalogue([REPO / "runbooks"]).ordered():
        rb = loaded.runbook
        schema = parameter_schema(rb)
        form = schema["properties"]["params"]
        assert set(schema["properties"]) == {"runbook", "params"}, rb.name  # nothing internal on the form
        defaults = {k: p["default"] for k, p in form["properties"].items() if "default" in p}
        needed = {k for k, spec in rb.params.items() if spec.default is None}
        assert set(form["required"]) == needed, rb.name  # `from:` alone is no default for a person
        jsonschema.validate(defaults, {**form, "required": []})  # the form accepts what it pre-fills
        if needed:
            with pytest.raises(jsonschema.ValidationError, match="is a required property"):
                jsonschema.validate(defaults, form)
        else:
            resolve_params(rb, defaults)  # the flow takes what the form sends
        for name, prop in form["properties"].items():
            if rb.params[name].type.value == "duration" and "default" in prop:
                assert rb.params[name].coerce(prop["default"]) == rb.params[name].default, (rb.name, name)


def test_a_duration_default_is_shown_as_the_runbook_writes_it() -> None:
    rb = load_catalogue([REPO / "runbooks"]).runbooks["k8s-bad-deploy"].runbook
    prop = parameter_schema(rb)["properties"]["params"]["properties"]["healthy_for"]
    assert prop["default"] == "2m"
    assert re.fullmatch(prop["pattern"], prop["default"])


def test_run_local_follows_the_incident_and_exits_zero_when_resolved(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.answer import answer_gate
    from tests.flow_helpers import code
    from warroom.ledger import Store
    from warroom.settings import get_settings

    write_runbook(
        tmp_path / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "120s").replace(" ESCALATE", "")
    )
    env = {
        **_env(tmp_path, free_port()),
        "PREFECT_API_URL": prefect_api,
        "WARROOM_APPROVER_GROUPS": '{"sre": ["peggy"]}',
    }
    monkeypatch.setenv("WARROOM_HOME", env["WARROOM_HOME"])
    get_settings.cache_clear()
    store = Store.from_settings()
    dave, _ = person("dave", env, tmp_path / "dave-laptop")  # dave signs his start with his own key
    with running_service() as (url, state):
        run = _warroom("run", "svc-capacity", "--local", "--param", f"service_url={url}", env=dave)
        assert run.stdout is not None
        lines = []
        while not any("waiting for approval" in line for line in lines):
            line = run.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        incident = re.search(r"warroom approve (INC-\d+)", lines[-1]).group(1)  # type: ignore[union-attr]
        answered = answer_gate(store, incident, approver="peggy", code=code("peggy"), reason="ok")
        assert answered.verdict == "granted", answered
        rest, _ = run.communicate(timeout=HANG)
    assert run.returncode == 0, "".join(lines) + rest
    assert state.scale_calls == [4]
    store.close()


def test_run_exits_non_zero_when_not_resolved(prefect_api: str, tmp_path: Path) -> None:
    write_runbook(
        tmp_path / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "120s").replace(" ESCALATE", "")
    )
    env = {**_env(tmp_path, free_port()), "PREFECT_API_URL": prefect_api}
    run = _warroom(
        "run",
        "svc-capacity",
        "--local",
        "--param",
        "service_url=http://127.0.0.1:9",
        "--param",
        "replicas=lots",
        env=env,
    )
    out, _ = run.communicate(timeout=HANG)
    assert run.returncode == 1
    assert "params.replicas: expected integer" in out


def test_alert_posted_to_the_receiver_runs_the_runbook(served: Up, tmp_path: Path) -> None:
    from warroom.ledger import Store

    env, _api = served.env, served.api
    token = (Path(env["WARROOM_HOME"]) / "intake-token").read_text().strip()
    _, secrets = served.people["alice"]
    totp = secrets["approve"]
    receiver = f"http://127.0.0.1:{env['WARROOM_RECEIVER_PORT']}"
    with running_service() as (url, state):
        alert = {
            "title": "ServiceUnhealthy",
            "labels": {"service": "checkout"},
            "annotations": {"service_url": url, "summary": "healthz failing"},
            "fingerprint": "svc-1",
        }
        saved = tmp_path / "alert.json"
        saved.write_text(json.dumps(alert))
        replayed = _warroom_done("alerts", "replay", str(saved), "--format", "generic", env=env)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        incident = json.loads(replayed.stdout)["results"][0]["incident"]
        # The receiver takes the token `warroom up` made (replay used it); a wrong one is refused.
        refused = httpx.post(
            f"{receiver}/alerts/generic", json=alert, headers={"Authorization": "Bearer nope"}
        )
        assert refused.status_code == 401 and token not in refused.text
        deadline = time.monotonic() + HANG
        store = Store(f"sqlite:///{Path(env['WARROOM_HOME']) / 'warroom.db'}")
        # Asked once the gate is open: each early `warroom approve` is a process start, and spends a code.
        wait_for(
            "the gate to open",
            lambda: "approval.requested" in [e.kind for e in store.timeline(incident)],
            timeout=deadline - time.monotonic(),
        )
        approved = None
        while time.monotonic() < deadline:
            approved = _warroom_done(
                "approve", incident, "--as", "alice", "--reason", "scale", "--code", fresh_code(totp), env=env
            )
            if approved.returncode == 0:
                break
            time.sleep(1)
        assert approved is not None and approved.returncode == 0, approved.stdout + approved.stderr
        while time.monotonic() < deadline and store.get(incident).status.value != "resolved":
            time.sleep(0.5)
        while time.monotonic() < deadline and not store.tracked(incident, "local"):
            time.sleep(0.5)
    timeline = store.timeline(incident)
    tracked = store.tracked(incident, "local")
    store.close()
    assert [e.kind for e in timeline][:1] == ["alert.firing"]
    assert "runbook.launched" in [e.kind for e in timeline]
    changes = [e for e in timeline if e.kind == "status.changed"]
    assert changes[-1].data["to"] == "resolved"
    after = [e.kind for e in timeline if e.id > changes[-1].id]
    assert after[:3] == ["action_item.added", "action_item.added", "postmortem.drafted"]
    assert state.scale_calls == [4]
    # The P1's learning: the post-mortem file with its six sections, the artifact on the incident in
    # Prefect, the incident and its follow-ups tracked (here in the ledger, the default tracker).
    document = (Path(env["WARROOM_HOME"]) / "postmortems" / f"{incident}.md").read_text()
    headings = [line for line in document.splitlines() if line.startswith("## ")]
    assert [h.split(". ", 1)[1] for h in headings] == [
        "Incident Summary",
        "Timeline",
        "Root Cause",
        "What Went Well",
        "What Could Improve",
        "Action Items",
    ]
    assert "approved by alice" in document and "Capacity plan: 4 replicas were too few" in document
    items = [e.data["action_item"] for e in timeline if e.kind == "action_item.added"]
    assert len(items) == 2
    assert sorted(tracked) == sorted([*(f"action:{i}" for i in items), "incident", "review"])
    number = incident.split("-")[1]
    found = httpx.post(
        f"{_api}/artifacts/filter",
        json={"artifacts": {"key": {"any_": [f"inc-{number}-postmortem"]}}},
        auth=_login(env),
    ).json()
    assert found and "## 3. Root Cause" in found[0]["data"]
    overdue = _warroom_done("actions", "list", "--overdue", "--json", env=env)
    assert overdue.returncode == 0 and json.loads(overdue.stdout)["action_items"] == []


def test_the_embedded_prefect_server_requires_its_login_and_a_configured_one_is_used(
    served: Up, tmp_path: Path
) -> None:
    from deployments.serve import local_auth
    from warroom.settings import Settings

    api, login = served.api, _login(served.env)
    assert login is not None
    assert httpx.post(f"{api}/deployments/filter", json={}).status_code == 401
    assert httpx.post(f"{api}/deployments/filter", json={}, auth=(login[0], "wrong")).status_code == 401
    assert httpx.post(f"{api}/deployments/filter", json={}, auth=login).status_code == 200
    # A login set in the settings is the one the server is started with (tests/served.py's servers use it).
    configured = Settings(home=tmp_path / "home", prefect_auth="ops:s3cret")
    assert local_auth(configured) == "ops:s3cret"
    assert not (tmp_path / "home" / "prefect-auth").exists()  # nothing generated beside it


def test_no_deployment_starts_a_runbook_from_a_prefect_event() -> None:
    """Only the authenticated receiver starts runbooks for alerts: an event sent to Prefect's API cannot."""
    from deployments.serve import build_deployments

    catalogue = load_catalogue([REPO / "runbooks"])
    deployments = build_deployments(catalogue)
    assert deployments and all(not d.triggers for d in deployments)


def test_at_the_warroom_hosts_cli_a_typed_name_proves_nothing(served: Up) -> None:
    """Finding 3: enrollment kept every private key on the host and `--as` picked one; `warroom run --as`
    vouched for any typed name, so alice started a run "as carol" and approved it alone."""
    from warroom.ledger import RunLedger, Store

    env = served.env
    alice, _ = served.people["alice"]
    assert not list(Path(env["WARROOM_HOME"]).rglob("*.pem"))  # the host holds public halves only
    as_dave = _warroom_done("run", "svc-capacity", "--as", "dave", "--param", "service_url=x", env=alice)
    assert as_dave.returncode == 2 and "is alice's: it signs only as alice, not as dave" in as_dave.stderr
    with running_service() as (url, state):
        # A local user at the host's CLI, with no one's key: the typed starter is a claim, and says so.
        run = _warroom("run", "svc-capacity", "--param", f"service_url={url}", "--as", "carol", env=env)
        assert run.stdout is not None
        lines: list[str] = []
        incident = None
        deadline = time.monotonic() + HANG
        while incident is None and time.monotonic() < deadline:
            line = run.stdout.readline()
            lines.append(line)
            m = re.search(r"warroom approve (INC-\d+) --proposal", line)
            incident = m.group(1) if m else None
        assert incident, "".join(lines)
        text = "".join(lines)
        assert "not signed" in text and "carol (not proven" in text, text
        forged = _warroom_done("approve", incident, "--as", "dave", "--reason", "mine", env=alice)
        assert forged.returncode == 2 and "signs only as alice" in forged.stderr
        nokey = _warroom_done(
            "approve", incident, "--as", "alice", "--reason", "x", "--code", "123456", env=env
        )
        assert nokey.returncode == 3 and "wrong one-time code for alice" in nokey.stdout
        alone = _warroom_done("approve", incident, "--reason", "looks fine", env=alice)
        assert alone.returncode == 0 and "granted" in alone.stdout, alone.stdout + alone.stderr
        store = Store(f"sqlite:///{Path(env['WARROOM_HOME']) / 'warroom.db'}")
        [requested] = [e for e in store.timeline(incident) if e.kind == "approval.requested"]
        deadline = time.monotonic() + HANG
        while (gate := RunLedger(store).gate(requested.data["gate"])).granted != ["alice"]:
            assert time.monotonic() < deadline, gate
            time.sleep(0.1)
        store.close()
        assert requested.data["required"] == 2 and gate.granted == ["alice"] and gate.state.value == "open"
        assert state.scale_calls == []
        run.terminate()
        run.wait(30)
