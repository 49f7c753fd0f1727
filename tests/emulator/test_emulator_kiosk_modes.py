"""The emulator's ``kiosk`` setting (ok | broken | no-bridge) and its plain file pages, over real
HTTP: what each page serves, which markers it carries, and that plain pages sign in as kiosk
pages do. (The browser half, that broken and no-bridge pages never answer: tests/browser/
test_kiosk_modes.py.)"""

from __future__ import annotations

import html
import json
import re
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests
from _running import start_command, stop_command

from cocalc_widgets.cli import build_parser
from cocalc_widgets.emulator import KIOSK_SETTINGS, Emulator
from cocalc_widgets.emulator._kiosk import _PAGE_CSP

FULLSCREEN_PLAIN = [  # query -> the body's data-fullscreen (None: no attribute)
    ("", None),
    ("?session=", None),
    ("?fullscreen=project&session=", "project"),
    ("?fullscreen&session=", ""),
    ("?fullscreen=&session=", ""),
    ("?fullscreen=default", "default"),
]


class _Page(HTMLParser):
    """What a test reads from a page: the body's attributes, the text of each element with an
    id, the targets of links with an id, the scripts and the kiosk config."""

    _VOID = frozenset({"meta", "link", "img", "br", "hr", "input"})

    def __init__(self, text: str) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.ids: dict[str, str] = {}
        self.links: dict[str, str | None] = {}
        self.scripts: list[dict[str, str | None]] = []
        self._stack: list[str | None] = []  # the id (or None) of each open element
        self.feed(text)
        config = self.ids.get("kiosk-config")
        self.config: dict[str, Any] | None = json.loads(config) if config else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        id_ = a.get("id")
        if tag == "body":
            self.body = a
        elif tag == "script":
            self.scripts.append(a)
        elif tag == "a" and id_:
            self.links[id_] = a.get("href")
        if id_:
            self.ids.setdefault(id_, "")
        if tag not in self._VOID:
            self._stack.append(id_)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        for id_ in self._stack:
            if id_:
                self.ids[id_] += data


def page_of(response: requests.Response, status: int = 200) -> _Page:
    """The page, checked to be HTML with the pages' CSP and answered with ``status``."""
    assert response.status_code == status, response.text[:200]
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Content-Security-Policy"] == _PAGE_CSP
    return _Page(response.text)


def kiosk_body(setting: str) -> dict[str, str]:
    """The ``<body>`` attributes of a kiosk page under ``setting``."""
    return {
        "class": "kiosk",
        "data-page": "kiosk",
        "data-fullscreen": "kiosk",
        "data-emulator-kiosk": setting,
    }


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    """An emulator with no project yet (the ``pid`` fixture makes one)."""
    with Emulator(data_dir=tmp_path / "data", iframe_comm_hosts="parent.test") as emulator:
        yield emulator


@pytest.fixture
def pid(emu: Emulator) -> str:
    pid = emu.create_project("Demo <b>project</b>")
    root = emu.project_path(pid)
    (root / "a.txt").write_text("hello from a")
    (root / "sub").mkdir()
    (root / "sub" / "b.txt").write_text("hello from b")
    return pid


@pytest.fixture
def signed_in(emu: Emulator) -> requests.Session:
    """A session with the sign-in cookie, got as a browser gets it: ``/auth/impersonate``."""
    s = requests.Session()
    r = s.get(f"{emu.url}/auth/impersonate", params={"auth_token": emu.state.issue_token()})
    assert r.status_code == 200 and "remember_me" in s.cookies
    return s


def _kiosk_url(emu: Emulator, pid: str, path: str = "a.txt") -> str:
    return f"{emu.url}/projects/{pid}/files/{path}?fullscreen=kiosk&session="


# -- the setting ---------------------------------------------------------------------------------
def test_default_setting_is_ok_and_it_changes_at_runtime(emu, pid, signed_in):
    assert emu.kiosk == "ok" and emu.state.kiosk == "ok"
    assert list(KIOSK_SETTINGS) == ["ok", "broken", "no-bridge", "stuck"]
    url = _kiosk_url(emu, pid)
    seen = []
    for setting in ("broken", "no-bridge", "ok", "broken"):
        emu.kiosk = setting
        page = page_of(signed_in.get(url, timeout=10))
        seen.append((page.body["data-emulator-kiosk"], page.config is not None))
    assert seen == [("broken", False), ("no-bridge", True), ("ok", True), ("broken", False)]


@pytest.mark.parametrize("bad", ["OK", "off", "", None, 1])
def test_unknown_settings_are_refused(emu, tmp_path, bad):
    emu.kiosk = "no-bridge"
    with pytest.raises(ValueError, match=r"unknown kiosk setting .*: choose one of ok, broken, no-bridge"):
        emu.kiosk = bad
    assert emu.kiosk == "no-bridge"  # unchanged
    with pytest.raises(ValueError, match="unknown kiosk setting"):
        Emulator(data_dir=tmp_path / "other", kiosk=bad)
    assert not (tmp_path / "other").exists()  # refused before anything is made


# -- kiosk pages under each setting --------------------------------------------------------------
def test_ok_kiosk_page_shows_the_file_and_listens(emu, pid, signed_in):
    page = page_of(signed_in.get(_kiosk_url(emu, pid), timeout=10))
    assert page.body == kiosk_body("ok")
    assert page.config is not None
    assert page.config["kiosk"] is True and page.config["bridge"] is True
    assert page.config["doc"]["text"] == "hello from a"
    assert {s.get("src") for s in page.scripts} == {None, "/_kiosk/static/kiosk.js"}
    assert "project-title" not in page.ids and "page-nav" not in page.ids  # no plain header


def test_no_bridge_kiosk_page_shows_the_file_but_never_listens(emu, pid, signed_in):
    emu.kiosk = "no-bridge"
    for path, kind in (("a.txt", "text"), ("sub/", "directory")):
        page = page_of(signed_in.get(_kiosk_url(emu, pid, path), timeout=10))
        assert page.body == kiosk_body("no-bridge")
        assert page.config is not None and page.config["doc"]["kind"] == kind
        assert page.config["kiosk"] is True and page.config["bridge"] is False
    app = page_of(signed_in.get(f"{emu.url}/app?fullscreen=kiosk&session=", timeout=10))
    assert app.config is not None and app.config["bridge"] is False


@pytest.mark.parametrize(
    "path",
    ["/projects/{pid}/files/a.txt", "/projects/{pid}/files/", "/projects/{pid}/files/nope.txt",
     "/app"],
)
def test_broken_kiosk_page_shows_only_cocalc(emu, pid, signed_in, path):
    """As on cocalc.com (upstream issue #8527): "CoCalc:", no file, no script at all."""
    emu.kiosk = "broken"
    r = signed_in.get(emu.url + path.format(pid=pid) + "?fullscreen=kiosk&session=", timeout=10)
    page = page_of(r)
    assert page.body == kiosk_body("broken")
    assert page.ids == {"content": "CoCalc:"}
    assert page.scripts == [] and "<script" not in r.text and page.config is None
    assert "hello from" not in r.text and "a.txt" not in r.text


def test_broken_kiosk_page_still_signs_in(emu, pid):
    """Sign-in comes first, whatever the setting: no sign-in, the sign-in page; a token in the
    URL sets the cookie, which then signs the plain page in."""
    emu.kiosk = "broken"
    s = requests.Session()
    r = s.get(_kiosk_url(emu, pid), timeout=10)
    assert page_of(r, 401).body["data-page"] == "sign-in"
    r = s.get(_kiosk_url(emu, pid) + f"&auth_token={emu.state.issue_token()}", timeout=10)
    assert page_of(r).ids == {"content": "CoCalc:"}
    plain = page_of(s.get(f"{emu.url}/projects/{pid}/files/a.txt?fullscreen=project", timeout=10))
    assert plain.config is not None and plain.config["doc"]["text"] == "hello from a"


# -- plain pages ---------------------------------------------------------------------------------
@pytest.mark.parametrize("setting", list(KIOSK_SETTINGS))
@pytest.mark.parametrize(("query", "fullscreen"), FULLSCREEN_PLAIN)
def test_plain_file_pages_show_the_file_under_every_setting(
    emu, pid, signed_in, setting, query, fullscreen
):
    emu.kiosk = setting
    r = signed_in.get(f"{emu.url}/projects/{pid}/files/sub/b.txt{query}", timeout=10)
    page = page_of(r)
    assert page.body.get("data-page") == "plain" and page.body.get("class") == "plain"
    assert page.body.get("data-fullscreen") == fullscreen  # absent without the parameter
    assert page.body.get("data-emulator-kiosk") == setting
    assert page.config is not None
    assert page.config["kiosk"] is False and page.config["bridge"] is False
    assert page.config["fullscreen"] == fullscreen
    assert page.config["doc"]["path"] == "sub/b.txt"
    assert page.config["doc"]["text"] == "hello from b"
    # a title bar: the project's title (escaped), links to its files and (not in the
    # single-project UI) to every project; the links keep the fullscreen parameter
    assert page.ids["project-title"] == "Demo <b>project</b>" and "<b>project" not in r.text
    keep = "" if fullscreen is None else "?fullscreen=" + fullscreen
    assert page.links["page-files"] == f"/projects/{pid}/files/{keep}"
    if fullscreen == "project":
        assert "page-projects" not in page.links
    else:
        assert page.links["page-projects"] == f"/app{keep}"
    assert page.ids["kiosk-title"] == ""  # the path: filled in by kiosk.js


@pytest.mark.parametrize("url", ["/projects/{pid}/files/", "/projects/{pid}/files"])
@pytest.mark.parametrize("query", ["", "?fullscreen=project&session=", "?fullscreen"])
def test_the_project_listing(emu, pid, signed_in, url, query):
    emu.kiosk = "broken"  # plain pages do not care
    r = signed_in.get(emu.url + url.format(pid=pid) + query, timeout=10)
    page = page_of(r)
    assert page.body["data-page"] == "plain" and page.config is not None
    doc = page.config["doc"]
    assert (doc["kind"], doc["path"], doc["project_id"]) == ("directory", "", pid)
    assert doc["entries"] == [
        {"name": "a.txt", "is_dir": False, "size": 12},
        {"name": "sub", "is_dir": True, "size": 0},
    ]


def test_plain_app_and_missing_files(emu, pid, signed_in):
    page = page_of(signed_in.get(f"{emu.url}/app?fullscreen=project&session=", timeout=10))
    assert page.body["data-page"] == "plain" and page.body["data-fullscreen"] == "project"
    assert page.config is not None and page.config["bridge"] is False
    assert page.config["projects"] == [{"project_id": pid, "title": "Demo <b>project</b>"}]
    assert "page-nav" not in page.ids  # no project: no project links
    r = signed_in.get(f"{emu.url}/projects/{pid}/files/nope.txt?fullscreen=project", timeout=10)
    missing = page_of(r, 404)
    assert missing.body["data-page"] == "plain" and missing.config is not None
    assert missing.config["doc"]["kind"] == "missing"
    assert missing.config["doc"]["error"] == "no such file or directory: 'nope.txt'"


@pytest.mark.parametrize("query", ["", "?fullscreen=project&session=", "?fullscreen&session="])
def test_plain_pages_need_a_sign_in_as_kiosk_pages_do(emu, pid, query):
    url = f"{emu.url}/projects/{pid}/files/a.txt{query}"
    r = requests.get(url, timeout=10)
    assert page_of(r, 401).body == {"class": "sign-in", "data-page": "sign-in"}
    assert "Sign in required" in r.text and "hello from a" not in r.text
    # the old way: &auth_token= (the page sets the cookie and never shows the token)
    token = emu.state.issue_token()
    s = requests.Session()
    sep = "&" if "?" in url else "?"
    r = s.get(f"{url}{sep}auth_token={token}", timeout=10)
    assert page_of(r).config["doc"]["text"] == "hello from a"
    assert token not in r.text and "remember_me" in s.cookies
    # the current way: /auth/impersonate, then the plain URL with the cookie alone
    s = requests.Session()
    s.get(f"{emu.url}/auth/impersonate", params={"auth_token": emu.state.issue_token()})
    assert page_of(s.get(url, timeout=10)).config["doc"]["text"] == "hello from a"


# -- where the setting shows -----------------------------------------------------------------------
def test_front_page_shows_the_setting(emu, pid):
    for setting in KIOSK_SETTINGS:
        emu.kiosk = setting
        body = requests.get(f"{emu.url}/", timeout=10).text
        found = re.search(r'<p id="kiosk-setting" data-kiosk="([^"]+)">(.*?)</p>', body)
        assert found and found.group(1) == setting
        text = html.unescape(re.sub(r"<[^>]+>", "", found.group(2)))
        assert f"(--kiosk): {setting}, {KIOSK_SETTINGS[setting]}." in text
    assert "without <code>fullscreen=kiosk</code>" in body  # the plain pages are explained


def test_cli_flag(capsys):
    assert build_parser().parse_args(["emulator"]).kiosk == "ok"
    for setting in KIOSK_SETTINGS:
        assert build_parser().parse_args(["emulator", "--kiosk", setting]).kiosk == setting
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["emulator", "--kiosk", "off"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'off'" in capsys.readouterr().err


def test_cli_prints_and_serves_the_setting(tmp_path):
    proc, text = start_command(
        "cocalc_widgets.emulator", "--port", "0", "--data", str(tmp_path), "--kiosk", "broken",
        "--no-sign-in", "--demo", timeout=20, stderr=subprocess.PIPE,
    )
    try:
        url = re.search(r"running at (http://127\.0\.0\.1:\d+)", text).group(1)
        assert f"  kiosk:      broken: {KIOSK_SETTINGS['broken']}\n" in text
        pid = re.search(r"project 'Instructor': ([0-9a-f-]{36})", text).group(1)
        kiosk = requests.get(f"{url}/projects/{pid}/files/handout/?fullscreen=kiosk", timeout=10)
        assert page_of(kiosk).ids == {"content": "CoCalc:"}
        plain = page_of(requests.get(f"{url}/projects/{pid}/files/handout/", timeout=10))
        assert plain.config is not None and plain.config["doc"]["kind"] == "directory"
        assert 'data-kiosk="broken"' in requests.get(f"{url}/", timeout=10).text
    finally:
        stop_command(proc)
