"""The Prefect UI as a person uses it: Debian's Chromium driven by Playwright against `warroom up`'s guarded
Prefect server, and the Prefect API calls its buttons make (custom run, resume) followed to their end."""

from __future__ import annotations

import base64
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

VIEWPORT = {"width": 1440, "height": 1000}
ENDED = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def served_deployments(api: str, login: tuple[str, str], names: set[str], timeout: float = 180) -> dict:  # type: ignore[type-arg]
    """The deployments `warroom up` serves, by name, once all of ``names`` are there."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = httpx.post(f"{api}/deployments/filter", json={}, timeout=5, auth=login).json()
            by_name = {d["name"]: d for d in found}
            if names <= set(by_name):
                return by_name
        except (httpx.HTTPError, ValueError, TypeError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"warroom up did not serve {sorted(names)} within {timeout:.0f} s")
        time.sleep(0.5)


def wait_paused(
    http: httpx.Client, run_id: str, after: str | None = None, timeout: float = 300, why: object = None
) -> str:
    """The pause key of the run's next form (a pause other than ``after``), once the form is there to show:
    Prefect's server clears a pause's inputs as it pauses, so the form is saved a moment after; the UI
    shows it only once it reads it, and a resume before then is refused. ``why`` is said on failure."""
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            state = http.get(f"/flow_runs/{run_id}").json()["state"]
            details = state.get("state_details") or {}
            key = details.get("pause_key")
            schema = (details.get("run_input_keyset") or {}).get("schema")
            if state["type"] == "PAUSED" and key and key != after:
                if schema and http.get(f"/flow_runs/{run_id}/input/{schema}").status_code == 200:
                    return str(key)
        except httpx.TransportError:
            # Prefect's server under load resets a kept-alive connection now and then (ECONNRESET): the
            # poll asks again, as the browser does, within the same deadline.
            time.sleep(0.2)
            continue
        if state["type"] in ENDED:
            ended = f"{state['type']} ({state.get('message')})"
            raise AssertionError(f"the run ended {ended} before the next form")
        time.sleep(0.2)
    now = f"{state['type']} {state.get('name')}"
    raise AssertionError(f"no new form within {timeout:.0f} s; the run is {now}; {why or ''}")


def wait_ended(http: httpx.Client, run_id: str, timeout: float = 300) -> dict[str, Any]:
    """The run's final state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, Any] = http.get(f"/flow_runs/{run_id}").json()["state"]
        if state["type"] in ENDED:
            return state
        time.sleep(0.5)
    raise AssertionError(f"the run did not end within {timeout:.0f} s")


@dataclass
class Ui:
    """One person's browser tab on the Prefect UI, logged in as the UI's own login page leaves it."""

    page: Any  # playwright.sync_api.Page
    base: str
    shots: Path

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def _field(self, scope: Any, label: str) -> Any:
        text = re.compile(rf"^{re.escape(label)}")
        named = self.page.locator(".schema-form-property__label", has_text=text)
        # The innermost property with this label: an object's property contains its fields' properties.
        return scope.locator(".schema-form-property").filter(has=named).last

    def fill(self, scope: Any, label: str, value: str) -> None:
        self._field(scope, label).locator("textarea, input").first.fill(value)

    def choose(self, scope: Any, label: str, option: str) -> None:
        """Pick ``option`` in a select field, from the keyboard (the select opens on the arrow key)."""
        self._field(scope, label).locator("button.p-select-button__control").focus()
        self.page.keyboard.press("ArrowDown")
        self.page.locator(".p-select-option", has_text=re.compile(rf"^{re.escape(option)}$")).click()

    def help_of(self, scope: Any, label: str) -> Any:
        return self._field(scope, label).locator(".schema-form-property__description").first

    def help_showing(self, scope: Any, label: str, *said: str, timeout: float = 30) -> str:
        """The field's help once it shows each of ``said``: the UI renders it after the form opens, and on a
        loaded machine a read straight away can find it still empty. Fails if it never shows them."""
        from playwright.sync_api import expect

        help_text = self.help_of(scope, label)
        for words in said:
            expect(help_text).to_contain_text(words, timeout=timeout * 1000)
        return str(help_text.inner_text())

    def start_from_form(self, deployment_id: str, values: dict[str, str], shot: str) -> dict[str, Any]:
        """The deployment's custom-run form: ``values`` typed into their fields, the rest as pre-filled,
        Submit pressed. Returns the flow run the UI's request created (its status checked by the caller)."""
        self.page.goto(f"{self.base}/deployments/deployment/{deployment_id}/run")
        self.page.get_by_role("button", name="Submit").wait_for()
        for label, value in values.items():
            self.fill(self.page, label, value)
        self.shot(shot)
        with self.page.expect_response(lambda r: r.url.endswith("/create_flow_run")) as made:
            self.page.get_by_role("button", name="Submit").click()
        response = made.value
        return {"status": response.status, **(response.json() if response.ok else {"body": response.text()})}

    def open_resume_form(self, flow_run_id: str) -> Any:
        """The paused run's page, its Resume button pressed: the form the gate asks with, as a dialog."""
        self.page.goto(f"{self.base}/runs/flow-run/{flow_run_id}")
        self.page.get_by_role("button", name="Resume").first.click()
        dialog = self.page.get_by_role("dialog")
        dialog.get_by_role("button", name="Submit").wait_for()
        return dialog

    def submit(self, dialog: Any) -> tuple[int, str]:
        """Submit pressed once, as a person presses it: the resume call's status and body, never retried."""
        with self.page.expect_response(lambda r: r.url.endswith("/resume")) as done:
            dialog.get_by_role("button", name="Submit").click()
        return done.value.status, done.value.text()


def in_view(box: dict[str, float] | None) -> bool:
    """Whole inside the 1440x1000 viewport, with no scrolling."""
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= VIEWPORT["width"]
        and box["y"] + box["height"] <= VIEWPORT["height"]
    )


@contextmanager
def prefect_ui(base: str, login: tuple[str, str], shots: Path) -> Iterator[Ui]:
    """Chromium (Debian's, no browser download) on ``base`` with the UI's login in place: the UI keeps the
    basic-auth string its login page takes in local storage, base64 of ``user:password``."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the UI tests need Debian's chromium (scripts/install.sh --dev installs it)"
    shots.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(":".join(login).encode()).decode()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(f"window.localStorage.setItem('prefect-password', '{token}')")
        context.set_default_timeout(60_000)
        try:
            yield Ui(context.new_page(), base, shots)
        finally:
            browser.close()
