"""``notebooks/dashboard.ipynb`` as a Voila web app, in Debian's Chromium, against the emulator.

Voila (``_voila.py``) serves the dashboard on 127.0.0.1 with the demo's environment (COCALC_HOST,
COCALC_API_KEY, COCALC_ACCOUNT_ID); the emulator, seeded with the demo projects, needs a sign-in
and allows the Voila page's origin. The test drives the page as a user would, by clicking its
controls: the frame, the state table, the project log, the copy panel's progress bar and table
must change, and the copies must arrive in the target projects' folders.

A second test runs the package's magics under Voila (``%cocalc_copy``, ``%cocalc_embed``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _jupyterlab import write_notebook
from _voila import Voila, fake_voila_cdn, start_voila

from cocalc_widgets.emulator import Emulator

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dashboard.ipynb"
FRAME = "iframe.cocalc-frame-iframe"
STATE = "table.dashboard-state"
LOG = "ol.dashboard-log"


def _wait_for(check: Any, page: Any, what: str, timeout: float = 20.0) -> None:
    """Poll ``check()`` (through Playwright, so routed requests keep flowing) until true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


def _row(page: Any, name: str) -> str:
    """The value of one row of the dashboard's state table."""
    return page.locator(f"{STATE} tr", has=page.locator(f"th:text-is('{name}')")).locator(
        "td"
    ).inner_text()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Emulator, dict[str, str], Any]]:
    """The emulator with the demo projects (copies take 1.5 s), and a Voila starter."""
    emu = Emulator(data_dir=tmp_path / "projects", require_sign_in=True, copy_delay=1.5).start()
    servers: list[Voila] = []
    try:
        projects = emu.seed_demo()
        env = {
            "COCALC_HOST": emu.url,
            "COCALC_API_KEY": emu.api_key,
            "COCALC_ACCOUNT_ID": emu.account_id,
        }

        def serve(notebook: Path) -> Voila:
            voila = start_voila(tmp_path / f"voila-{len(servers)}", notebook, env=env)
            servers.append(voila)
            emu.state.dev_http_origins.append(voila.origin)  # read per request
            return voila

        yield emu, projects, serve
    finally:
        for voila in servers:
            voila.stop()
        emu.stop()


def test_dashboard_in_voila_driven_by_its_controls(
    demo: Any, page: Any, fake_https_sites: Any, screenshot: Any
) -> None:
    emu, projects, serve = demo
    fake_voila_cdn(fake_https_sites)
    started = time.monotonic()
    voila = serve(NOTEBOOK)
    # Voila's page scrolls inside its own container: a tall viewport shows (and screenshots)
    # the whole dashboard.
    page.set_viewport_size({"width": 1280, "height": 1300})
    page.goto(voila.page_url, timeout=90000)
    frame = page.frame_locator(FRAME)
    # The frame shows the project's first file, signed in through /auth/impersonate.
    frame.locator("#file-text").wait_for(timeout=60000)
    assert "Homework 1" in frame.locator("#file-text").inner_text()
    _wait_for(lambda: _row(page, "mode") == "bridge, ready", page, "the frame to be ready")
    assert page.locator(".cocalc-frame-status").inner_text().startswith("CoCalc · ready")
    assert _row(page, "status") == "not asked yet"
    log = page.locator(LOG)  # the first file's open may be listed already, or not yet
    log_before = log.inner_text() if log.count() else ""
    screenshot(page, "dashboard-voila-start")

    # Pick a file and click Open: the frame shows it, the log and the state say so.
    picker = page.get_by_label("File")
    picker.select_option("handout/data.csv")
    page.get_by_role("button", name="Open").click()
    _wait_for(lambda: "x,y" in frame.locator("#file-text").inner_text(), page, "data.csv shown")
    assert frame.locator("#kiosk-title").inner_text() == "handout/data.csv"
    _wait_for(
        lambda: log.count() == 1 and log.locator("li").first.inner_text().startswith(
            "handout/data.csv"
        ),
        page,
        "the project log to list data.csv first",
    )
    assert log.inner_text() != log_before
    _wait_for(
        lambda: _row(page, "last command").startswith("open handout/data.csv: done"),
        page,
        "the open command's reply",
    )
    _wait_for(
        lambda: "handout/data.csv" in _row(page, "open files"), page, "open files to update"
    )

    # Status: the displayed state changes from "not asked yet" to CoCalc's answer.
    page.get_by_role("button", name="Status").click()
    _wait_for(lambda: _row(page, "status") != "not asked yet", page, "the status reply")
    assert re.fullmatch(r"connected, at \d\d:\d\d:\d\d", _row(page, "status"))
    assert _row(page, "last command").startswith("status: done")

    # A folder cannot be opened: Open is disabled; it can be copied.
    picker.select_option("handout/")
    _wait_for(lambda: page.get_by_role("button", name="Open").is_disabled(), page, "Open off")

    # Copy the folder to two students: the bar and the table change in place, then finish.
    page.get_by_label("Targets").select_option(["Student 1", "Student 3"])
    bar = page.locator(".widget-hprogress .progress-bar")
    table = page.locator(".widget-html-content", has_text="Copies:")
    assert bar.evaluate("e => e.style.width") == "0%"
    page.get_by_role("button", name="Copy").click()
    _wait_for(lambda: page.get_by_role("button", name="Copy").is_disabled(), page, "copying")
    _wait_for(lambda: table.count() == 1, page, "the copy table")
    assert re.search(r"\b(pending|running)\b", table.inner_text()), table.inner_text()
    screenshot(page, "dashboard-voila-copying")
    _wait_for(lambda: "Copies: 2 done" in table.inner_text(), page, "the copies", timeout=30)
    _wait_for(lambda: bar.evaluate("e => e.style.width") == "100%", page, "a full bar")
    assert "progress-bar-success" in (bar.get_attribute("class") or "")
    assert page.get_by_role("button", name="Copy").is_enabled()
    rows = table.locator("tr").all_inner_texts()
    assert any(r.startswith("Student 1") and "done" in r for r in rows), rows
    assert any(r.startswith("Student 3") and "done" in r for r in rows), rows
    for student in ("Student 1", "Student 3"):
        copied = emu.project_path(projects[student]) / "handout"
        assert (copied / "README.md").read_text().startswith("# Homework 1")
        assert (copied / "data.csv").exists() and (copied / "homework1.ipynb").exists()
    assert not (emu.project_path(projects["Student 2"]) / "handout").exists()

    # Close all: the frame shows CoCalc's banner, and the state no open file.
    page.get_by_role("button", name="Close all").click()
    frame.locator("#kiosk-banner").wait_for(timeout=10000)
    _wait_for(lambda: _row(page, "open files") == "none", page, "no open files")
    assert _row(page, "last error") == "none"
    assert emu.api_key not in page.content()
    screenshot(page, "dashboard-voila-end")
    print(f"dashboard in Voila: {time.monotonic() - started:.1f} s")


MAGICS = [
    "%load_ext cocalc_widgets",
    '%cocalc_copy Instructor:handout/README.md "Student 4"',
    "small = %cocalc_embed Instructor:handout/data.csv --height 200\nsmall",
]


def test_magics_in_voila(
    demo: Any, page: Any, fake_https_sites: Any, tmp_path: Path, screenshot: Any
) -> None:
    emu, projects, serve = demo
    fake_voila_cdn(fake_https_sites)
    notebook = write_notebook(tmp_path / "magics.ipynb", MAGICS)
    voila = serve(notebook)
    page.goto(voila.page_url, timeout=90000)
    frame = page.frame_locator(FRAME)
    frame.locator("#file-text").wait_for(timeout=60000)
    assert "x,y" in frame.locator("#file-text").inner_text()
    _wait_for(
        lambda: page.locator(".cocalc-frame-status").inner_text().startswith("CoCalc · ready"),
        page,
        "the embedded frame to be ready",
    )
    copied = emu.project_path(projects["Student 4"]) / "handout" / "README.md"
    assert copied.exists()  # %cocalc_copy waited for the copy while Voila ran the notebook
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "Error" not in body, body
    # The magic's result and its progress bar, drawn once the page connected (Voila runs the
    # notebook before the page connects: the bar shows how the wait ended, not its progress).
    # One target goes the way many do (a journaled hand-out): one bar, with the counts.
    assert "CopyJob done" in body and "handout/README.md to 1 project: 1 done" in body, body
    bar = page.locator(".widget-hprogress .progress-bar")
    assert bar.first.evaluate("e => e.style.width") == "100%"
    screenshot(page, "voila-magics")
    assert emu.api_key not in page.content()
