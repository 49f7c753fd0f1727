"""CoCalcFrame signing in on a current CoCalc (API v2 and the conat bridges, no API v1, as
cocalc.com), in a real JupyterLab in Debian's Chromium: with ``client=`` and ``account_id=``
(the conat ``system.generateUserAuthToken``) and with ``auth_url=`` (``org.createToken``)."""

from __future__ import annotations

from typing import Any

import pytest
from _jupyterlab import JupyterLab, LabNotebook, write_notebook

pytestmark = pytest.mark.browser

FRAME = "iframe.cocalc-frame-iframe"


def _lines(text: str, tag: str) -> list[str]:
    tag += " "
    return [line[len(tag) :].strip() for line in text.splitlines() if line.startswith(tag)]


def test_frame_signs_in_through_conat_on_a_server_without_v1(
    lab: JupyterLab, kiosk_emulator: Any, page: Any, screenshot: Any
) -> None:
    running = kiosk_emulator(
        api_versions=("v2", "conat"), dev_http_origins=[lab.origin], require_sign_in=True
    )
    emu = running.extra["emulator"]
    projects = emu.seed_demo()
    cells = [
        # 0: sign in as the key's account: user_auth goes through the conat bridge
        "from cocalc_widgets import CoCalcClient, CoCalcFrame\n"
        f"client = CoCalcClient({emu.api_key!r}, host={emu.url!r})\n"
        f"frame = CoCalcFrame({projects['Instructor']!r}, 'handout/README.md', client=client,\n"
        f"                    account_id={emu.account_id!r}, height=300, timeout=20)\n"
        "frame",
        # 1: the bridge answers commands once signed in
        "s = await frame.status()\n"
        "print('STATUS', s['status'], sorted(s['open_files']))\n"
        "r = await frame.open_file('handout/data.csv')\n"
        "print('OPEN', r['status'], r['path'])\n"
        "print('APIS', client.api_versions)",
        # 2: an organization admin signs a student in with create_token's URL
        "token, url = client.create_token('student1@example.com')\n"
        f"student = CoCalcFrame({projects['Student 1']!r}, 'welcome.md', auth_url=url,\n"
        "                      height=240, timeout=20)\n"
        "print('REPR', repr(token), repr(url).count(str(token)))\n"
        "student",
        # 3: the student's frame answers too
        "s = await student.status()\n"
        "print('STUDENT', s['status'], student.host == client.host)",
    ]
    write_notebook(lab.root_dir / "frame_current_server.ipynb", cells)
    nb = LabNotebook(page, lab, "frame_current_server.ipynb").open()

    nb.run_cell(0, timeout=60)
    first = page.frame_locator(FRAME).first
    first.locator("#file-text").wait_for(timeout=20000)
    assert "Homework 1" in first.locator("#file-text").inner_text()
    assert emu.request_count("system.generateUserAuthToken", api="conat") == 1
    assert emu.request_count(api="v1") == 0 or all(
        r["status"] == 404 for r in emu.requests if r["api"] == "v1"
    )

    out = nb.run_cell(1, timeout=60)
    assert _lines(out, "STATUS") == [f"done {[projects['Instructor']]}"], out
    assert _lines(out, "OPEN") == ["done handout/data.csv"], out
    assert _lines(out, "APIS") == ["('conat', 'v2')"], out
    assert "x,y" in first.locator("#file-text").inner_text()

    out = nb.run_cell(2, timeout=60)
    assert _lines(out, "REPR") == ["AuthToken('***') 0"], out
    second = page.frame_locator(FRAME).nth(1)
    second.locator("#file-text").wait_for(timeout=20000)
    assert "Welcome, student 1" in second.locator("#file-text").inner_text()
    assert emu.request_count("org.createToken", api="conat") == 1

    out = nb.run_cell(3, timeout=60)
    assert _lines(out, "STUDENT") == ["done True"], out
    page.locator(".cocalc-frame").nth(1).scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    screenshot(page, "frame-sign-in-current-server")
    outputs = "\n".join(nb.output(i) for i in range(len(cells)))
    assert emu.api_key not in outputs  # (it is in the cells' source, not in any output)
