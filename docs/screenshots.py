#!/usr/bin/env python3
"""Make the documentation's pictures (``docs/images/*.png``) from the real demo, in Chromium.

    python3 docs/screenshots.py                # every picture, into docs/images/
    python3 docs/screenshots.py --out /tmp/x   # somewhere else

What it runs, all on 127.0.0.1, and stops again (by process id) whatever happens:

- the emulator, seeded like ``python -m cocalc_widgets demo`` (an Instructor project with a
  ``handout/`` folder, student projects), with copies that take 1-8 s;
- JupyterLab (``tests/browser/_jupyterlab.py``: isolated config, a token, no outside requests),
  whose kernel gets the demo's ``COCALC_HOST``, ``COCALC_API_KEY`` and ``COCALC_ACCOUNT_ID``; a
  notebook written here runs cell by cell through Lab's UI;
- Voila on ``notebooks/dashboard.ipynb`` (``tests/browser/_voila.py``), driven by its controls;
- Debian's Chromium (``/usr/bin/chromium``, or ``$COCALC_CHROMIUM``) through Playwright, with
  every request to a host other than loopback refused (Voila's icon font is answered empty).

The pictures (each a real run, nothing drawn by hand):

==========================  =====================================================================
``quickstart-lab.png``      JupyterLab with a ``CoCalcFrame`` showing the demo's homework notebook
``frame.png``               the frame's cell alone
``frame-status.png``        ``await frame.status()``: CoCalc's reply to a command
``copy-progress.png``       ``%cocalc_copy`` to 12 projects, its progress bar half way
``copy-summary.png``        the same hand-out finished: the summary table, failures first (one
                            student has a folder where the handout has a file; one project id is
                            not a project the key may use)
``copy-status.png``         ``%cocalc_copy_status --src Instructor``: CoCalc's record of the copies
``dashboard.png``           ``notebooks/dashboard.ipynb`` in Voila after Open, Status and a Copy
``emulator-landing.png``    the emulator's front page
==========================  =====================================================================

Before saving a picture the script checks that the page's visible text holds no secret (the API
key, the account's password, Jupyter's token); a picture that cannot be made, or a secret, ends
the script with an error (exit status 1) and a full-page picture of the failing page in
``test-artifacts/``. It needs the ``test`` extra (Playwright, JupyterLab, Voila) and Chromium
(``apt-get install chromium``; never ``playwright install``). About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

from _chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from _jupyterlab import LabNotebook, start_jupyterlab, write_notebook  # noqa: E402
from _voila import CDN, start_voila  # noqa: E402

from cocalc_widgets.emulator import Emulator  # noqa: E402

IMAGES = ROOT / "docs" / "images"
ARTIFACTS = ROOT / "test-artifacts"
DASHBOARD = ROOT / "notebooks" / "dashboard.ipynb"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
FRAME = "iframe.cocalc-frame-iframe"
STUDENTS = 12
#: A project id no project has: the key's account is no collaborator of it, so CoCalc refuses
#: the copy (the "not started" row of the summary).
NO_SUCH_PROJECT = "00000000-0000-4000-8000-000000000000"

#: The notebook the Lab pictures come from (each string is a code cell).
CELLS = [
    # 0: the client, on the demo's emulator (COCALC_HOST / COCALC_API_KEY in the environment)
    "import os\n"
    "from cocalc_widgets import CoCalcClient, CoCalcFrame\n\n"
    "client = CoCalcClient()\n"
    'projects = {p["title"]: p["project_id"] for p in client.projects()}',
    # 1: the frame
    'frame = CoCalcFrame(projects["Instructor"], "handout/homework1.ipynb",\n'
    '                    client=client, account_id=os.environ["COCALC_ACCOUNT_ID"], height=380)\n'
    "frame",
    # 2: a command and its reply
    'await frame.open_file("handout/data.csv")\nawait frame.status()',
    # 3: a hand-out to a class, with two targets that fail
    "%load_ext cocalc_widgets\n"
    'students = [title for title in projects if title.startswith("Student")]\n'
    f'targets = [*students, "{NO_SUCH_PROJECT}"]\n'
    "results = %cocalc_copy Instructor:handout $targets",
    # 4: what CoCalc remembers of those copies
    "%cocalc_copy_status --src Instructor",
]


class Failed(RuntimeError):
    """A picture could not be made."""


class SpreadDelays:
    """The emulator's ``copy_delay``: the n-th copy takes 1 + 0.6 * (n mod 12) seconds, so a
    hand-out's copies finish one after another and its progress bar moves steadily."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def __float__(self) -> float:
        with self._lock:
            n, self._n = self._n, self._n + 1
        return 1.0 + 0.6 * (n % STUDENTS)


class Router:
    """Every request of the browser: loopback passes, Voila's CDN stylesheet is answered
    empty, anything else is refused and recorded."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def __call__(self, route: Any, request: Any) -> None:
        url = urlsplit(request.url)
        if f"{url.scheme}://{url.netloc}" == CDN:
            route.fulfill(status=200, body="", content_type="text/css")
        elif url.hostname in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(request.url)
            route.abort("blockedbyclient")


class Shots:
    """Saves pictures into ``out``, after checking the page shows no secret."""

    def __init__(self, out: Path, secrets: list[str]) -> None:
        self.out = out
        self.secrets = [s for s in secrets if s]
        self.saved: list[Path] = []

    def check(self, page: Any, name: str) -> None:
        page.mouse.move(0, 0)  # no hover highlight in the picture
        texts = [page.locator("body").inner_text()]
        for frame in page.frames[1:]:
            with contextlib.suppress(Exception):  # a frame that navigates away meanwhile
                texts.append(frame.locator("body").inner_text(timeout=2000))
        for secret in self.secrets:
            if any(secret in text for text in texts):
                raise Failed(f"{name}: the page shows a secret; no picture taken")

    def element(self, page: Any, locator: Any, name: str) -> None:
        self.check(page, name)
        locator.scroll_into_view_if_needed()
        page.wait_for_timeout(300)  # let IFrames and widgets paint
        self._save(name, lambda path: locator.screenshot(path=str(path), animations="disabled"))

    def page(self, page: Any, name: str, full_page: bool = False) -> None:
        self.check(page, name)
        page.wait_for_timeout(300)
        self._save(
            name,
            lambda path: page.screenshot(
                path=str(path), full_page=full_page, animations="disabled"
            ),
        )

    def _save(self, name: str, take: Callable[[Path], Any]) -> None:
        path = self.out / f"{name}.png"
        tmp = path.with_suffix(".tmp.png")
        take(tmp)
        if not tmp.exists() or tmp.stat().st_size < 2000:
            raise Failed(f"{name}: the screenshot is missing or empty")
        tmp.replace(path)
        self.saved.append(path)
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)


def wait_for(page: Any, check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``check()`` through Playwright (routed requests keep flowing meanwhile)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")
        page.wait_for_timeout(50)


def progress_width(cell: Any) -> float:
    """The width of the progress bar in ``cell``, in percent (-1: no bar yet)."""
    bar = cell.locator(".widget-hprogress .progress-bar")
    if bar.count() == 0:
        return -1.0
    width = bar.first.evaluate("e => e.style.width") or ""
    match = re.fullmatch(r"([\d.]+)%", width.strip())
    return float(match.group(1)) if match else -1.0


def lab_pictures(
    page: Any, emu: Emulator, projects: dict[str, str], base: Path, shots: Shots
) -> None:
    env = {
        "COCALC_HOST": emu.url,
        "COCALC_API_KEY": emu.api_key,
        "COCALC_ACCOUNT_ID": emu.account_id,
    }
    lab = start_jupyterlab(base / "lab", env=env)
    try:
        shots.secrets.append(lab.token)
        emu.state.dev_http_origins.append(lab.origin)  # read per request
        write_notebook(lab.root_dir / "tour.ipynb", CELLS)
        nb = LabNotebook(page, lab, "tour.ipynb").open()
        kiosk = page.frame_locator(FRAME).first

        out = nb.run_cell(0, timeout=60)
        if "Error" in out:
            raise Failed(f"the client cell failed: {out}")
        nb.run_cell(1, timeout=60)
        kiosk.locator(".notebook").wait_for(timeout=30000)
        status = page.locator(".cocalc-frame-status").first
        wait_for(page, lambda: status.inner_text().startswith("CoCalc · ready"), "frame ready")
        page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
        shots.page(page, "quickstart-lab")
        shots.element(page, nb.cells().nth(1), "frame")

        out = nb.run_cell(2, timeout=60)
        if "'connection'" not in out or "handout/data.csv" not in out:
            raise Failed(f"frame.status() did not answer as expected: {out}")
        shots.element(page, nb.cells().nth(2), "frame-status")

        # The hand-out: one student has a folder where the handout has a file (rsync refuses
        # to overwrite it), and one target is no project of ours.
        (emu.project_path(projects["Student 4"]) / "handout" / "data.csv").mkdir(parents=True)
        emu.copy_delay = SpreadDelays()  # type: ignore[assignment]  # read as float(...)
        cell = nb.cells().nth(3)
        cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        wait_for(page, lambda: 30 <= progress_width(cell) <= 75, "the bar half way", 60)
        shots.element(page, cell, "copy-progress")
        wait_for(page, lambda: nb.prompt(3).isdigit(), "the hand-out to finish", 90)
        table = cell.locator(".jp-OutputArea-output", has_text="Copies:")
        wait_for(page, lambda: table.count() == 1, "the summary table")
        text = table.inner_text()
        if f"{STUDENTS - 1} done, 1 failed, 1 not started" not in text:
            raise Failed(f"the summary is not the expected one: {text}")
        shots.element(page, cell, "copy-summary")

        out = nb.run_cell(4, timeout=60)
        if "Student 4" not in out or "cannot overwrite" not in out:
            raise Failed(f"%cocalc_copy_status did not list the hand-out's copies: {out}")
        shots.element(page, nb.cells().nth(4), "copy-status")
    finally:
        lab.stop()


def dashboard_picture(page: Any, emu: Emulator, base: Path, shots: Shots) -> None:
    env = {
        "COCALC_HOST": emu.url,
        "COCALC_API_KEY": emu.api_key,
        "COCALC_ACCOUNT_ID": emu.account_id,
    }
    emu.copy_delay = 1.0
    voila = start_voila(base / "voila", DASHBOARD, env=env)
    try:
        shots.secrets.append(voila.token)
        emu.state.dev_http_origins.append(voila.origin)
        page.set_viewport_size({"width": 1280, "height": 1250})
        page.goto(voila.page_url, timeout=90000)
        kiosk = page.frame_locator(FRAME)
        kiosk.locator("#file-text").wait_for(timeout=60000)

        def row(name: str) -> str:
            found = page.locator(
                "table.dashboard-state tr", has=page.locator(f"th:text-is('{name}')")
            )
            return found.locator("td").inner_text() if found.count() else ""

        wait_for(page, lambda: row("mode") == "bridge, ready", "the dashboard's frame", 60)
        page.get_by_label("File").select_option("handout/data.csv")
        page.get_by_role("button", name="Open").click()
        wait_for(page, lambda: "x,y" in kiosk.locator("#file-text").inner_text(), "data.csv")
        page.get_by_role("button", name="Status").click()
        wait_for(page, lambda: row("status").startswith("connected"), "the status reply")
        page.get_by_label("File").select_option("handout/")
        page.get_by_label("Targets").select_option(["Student 1", "Student 3"])
        page.get_by_role("button", name="Copy").click()
        table = page.locator(".widget-html-content", has_text="Copies:")
        wait_for(page, lambda: table.count() == 1 and "2 done" in table.inner_text(), "copies", 60)
        page.get_by_label("File").select_option("handout/data.csv")
        shots.page(page, "dashboard", full_page=True)
    finally:
        voila.stop()


def landing_picture(page: Any, emu: Emulator, shots: Shots) -> None:
    page.set_viewport_size({"width": 1100, "height": 960})
    page.goto(emu.url, timeout=30000)
    heading = page.locator("h1").first.inner_text(timeout=10000)
    if "emulator" not in heading:
        raise Failed(f"the emulator's front page has the heading {heading!r}")
    shots.page(page, "emulator-landing")


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """A SIGTERM ends the script through ``finally`` blocks, so every server is stopped."""

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit("screenshots.py: stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make docs/images/*.png from the demo.")
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder for the PNGs")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(
            f"screenshots.py: no Chromium at {CHROMIUM} (apt-get install chromium)", file=sys.stderr
        )
        return 1
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    router = Router()
    page = None
    with (
        stop_on_sigterm(),
        tempfile.TemporaryDirectory(prefix="cocalc-docs-shots-") as tmp,
        Emulator(data_dir=Path(tmp) / "projects", require_sign_in=True) as emu,
        sync_playwright() as driver,
    ):
        shots = Shots(args.out, [emu.api_key, emu.password])
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 820})
            context.route("**/*", router)
            page = context.new_page()
            projects = emu.seed_demo(students=STUDENTS)
            landing_picture(page, emu, shots)
            page.set_viewport_size({"width": 1280, "height": 820})
            lab_pictures(page, emu, projects, Path(tmp), shots)
            dashboard_picture(page, emu, Path(tmp), shots)
        except Exception as err:
            if page is not None:
                ARTIFACTS.mkdir(exist_ok=True)
                failure = ARTIFACTS / "docs-screenshots-failure.png"
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(failure), full_page=True)
                    print(f"the failing page: {failure}", file=sys.stderr)
            print(f"screenshots.py: FAILED: {type(err).__name__}: {err}", file=sys.stderr)
            return 1
        finally:
            browser.close()
    if router.blocked:
        print(f"note: refused requests to outside hosts: {router.blocked}", file=sys.stderr)
    print(f"{len(shots.saved)} pictures in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
