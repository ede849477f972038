"""The relaxation panel end to end: the real `emolens serve` (sim devices) and the real page in
Chromium, driven by Playwright. Start a simulated session, press the emergency stop (the button,
then the Escape key), see every output off and the alert, acknowledge it, reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
pytest.importorskip("fastapi", reason="the web extra is not installed (pip install -e '.[web]')")

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from test_web_e2e import CHROMIUM, _apt_install_chromium, serving  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium_binary() -> Path:
    if not CHROMIUM.exists():
        _apt_install_chromium()
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is still missing after installing the chromium package")
    return CHROMIUM


@pytest.fixture(scope="module")
def panel_server() -> Iterator[tuple[str, str]]:
    """`emolens serve --port 0 --token T` (sim devices for the panel): (origin, token)."""
    with serving() as running:
        yield running.origin, running.token


@pytest.fixture
def page(chromium_binary: Path, panel_server: tuple[str, str]) -> Iterator[Page]:
    origin, token = panel_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium_binary), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            p = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            p.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            p.set_default_timeout(15_000)
            p.goto(f"{origin}/relax?token={token}")
            yield p
            assert errors == [], errors  # CSP violations and script errors show here
        finally:
            browser.close()


def start_session(page: Page, child: str) -> None:
    expect(page.locator("#source option")).to_have_count(3)  # the options are loaded
    page.fill("#child", child)
    page.select_option("#scenario", "calm-evening")
    page.select_option("#source", "demo:calm")
    page.click("#start")
    expect(page.locator("#mode")).to_have_attribute("data-mode", "running")
    # the stimulus rises: the light's device reports a level above zero
    page.wait_for_function(
        "() => Number(document.querySelector('#outputs tr[data-modality=light]')?.dataset.reported || 0) > 0"
    )
    expect(page.locator("#devices-summary")).to_have_attribute("data-all-off", "false")
    expect(page.locator("#face")).to_have_attribute("data-face", "true")


def expect_all_off_with_alert(page: Page, count: int) -> None:
    expect(page.locator("#devices-summary")).to_have_attribute("data-all-off", "true", timeout=3_000)
    expect(page.locator("#devices-summary")).to_have_attribute("data-estop", "true")
    for m in ("light", "sound", "vibration"):
        expect(page.locator(f"#outputs tr[data-modality={m}]")).to_have_attribute("data-reported", "0")
    expect(page.locator("#mode")).to_have_attribute("data-mode", "estop")
    alerts = page.locator("#alerts li[data-kind=emergency_stop][data-priority=high]")
    expect(alerts).to_have_count(count)
    expect(page.locator("#alarm")).to_be_visible()
    expect(page.locator("#alarm")).to_have_attribute("data-priority", "high")


def test_panel_emergency_stop_button_and_escape(page: Page) -> None:
    start_session(page, "kid-e2e")
    page.click("#estop")
    expect_all_off_with_alert(page, 1)
    expect(page.locator("#start")).to_be_disabled()
    # acknowledge the alert: the alarm banner goes
    page.click("#alerts li[data-acknowledged=false] button.ack")
    expect(page.locator("#alerts li[data-kind=emergency_stop]").first).to_have_attribute("data-acknowledged", "true")
    expect(page.locator("#alarm")).to_be_hidden()
    expect(page.locator("#unack")).to_have_attribute("data-count", "0")
    # reset: nothing restarts by itself
    page.click("#reset")
    expect(page.locator("#connection")).to_have_text("Emergency stop reset. Nothing plays until a new start.")
    expect(page.locator("#mode")).to_have_attribute("data-mode", "idle")
    expect(page.locator("#devices-summary")).to_have_attribute("data-all-off", "true")
    expect(page.locator("#history tr[data-outcome='emergency stop']")).to_have_count(1)
    # a new session, stopped by the Escape key this time (focus in a form field, as on a touch screen)
    start_session(page, "kid-e2e")
    page.focus("#child")
    page.keyboard.press("Escape")
    expect_all_off_with_alert(page, 2)
