"""Shared real-browser fixtures: Debian's Chromium driven by Playwright, on loopback only.

Fixtures (reusable by every module under tests/browser/):

- ``browser`` (session): Chromium from ``/usr/bin/chromium`` (``COCALC_CHROMIUM`` overrides) with
  the flags of BROWSER-TESTING.md. Never ``playwright install``.
- ``context`` (function): a fresh browser context whose every request goes through one router:
  loopback hosts pass, hosts registered on ``fake_https_sites`` are faked, anything else is
  aborted and recorded; at teardown the test fails if something was blocked.
- ``fake_https_sites`` (function): fake ``https://`` sites without certificates, e.g.
  ``fake_https_sites.html("https://parent.test", "<html>...")`` (a static page) or
  ``fake_https_sites.proxy("https://cocalc.test", emulator_url)`` (every request forwarded to a
  loopback server, cookies included).
- ``page`` (function): a new page in ``context``.
- ``loopback_tls`` (session): a throwaway authority and a certificate it issued for 127.0.0.1,
  localhost and ::1 (the emulator's ``TlsFiles``: ``cert_file``, ``key_file``, ``ca_file``).
- ``https_browser`` (session), ``https_context``, ``https_page`` (function): as ``browser``,
  ``context`` and ``page``, with a Chromium that trusts ``loopback_tls`` (``_https.py``).
- ``https_lab`` (module): JupyterLab over https on port 443 (origin ``https://127.0.0.1``) whose
  kernels trust ``loopback_tls``; skips, saying why, when port 443 cannot be bound here (while
  another server holds it, after waiting up to ``PORT_443_WAIT`` for it to go).
- ``serve_http`` (function): ``serve_http(app_or_pages) -> "http://127.0.0.1:PORT"``, a werkzeug
  server in a thread (a WSGI app, or a dict ``{"/path": "<html>"}``), stopped at teardown.
- ``kiosk_emulator`` (function): ``kiosk_emulator(**settings) -> RunningEmulator`` with ``url``,
  ``state`` (the EmulatorState) and ``origin``; stopped at teardown.
- ``screenshot`` (function): ``screenshot(page, "name")`` saves ``test-artifacts/<name>.png``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from _chromium import CHROMIUM, CHROMIUM_ARGS

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-encoding",
    "content-length",
    "host",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip browser tests, with a reason, where there is no Chromium (CI installs it)."""
    if Path(CHROMIUM).exists():
        return
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    """The Playwright driver (sync API), one per session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def _launch(driver: Any, args: list[str] | None = None, env: Any = None) -> Iterator[Any]:
    browser = driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *(args or [])], env=env
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def browser(playwright_driver: Any) -> Iterator[Any]:
    """Debian's Chromium, headless (Playwright gives it a fresh, empty temporary profile)."""
    yield from _launch(playwright_driver)


class FakeSites:
    """Routes requests of one browser context: loopback passes, fakes answer, the rest aborts."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Any, Any], None]] = {}
        self.blocked: list[str] = []
        self.errors: list[str] = []

    def route(self, route: Any, request: Any) -> None:
        url = urlsplit(request.url)
        origin = f"{url.scheme}://{url.netloc}".lower()
        handler = self.handlers.get(origin)
        if handler is not None:
            try:
                handler(route, request)
            except Exception as err:  # a broken fake must fail the test, not hang it
                self.errors.append(f"{request.url}: {err!r}")
                route.abort()
            return
        if url.hostname in LOOPBACK:
            route.continue_()
            return
        self.blocked.append(request.url)
        route.abort("blockedbyclient")

    def pages(self, origin: str, pages: dict[str, str | bytes]) -> None:
        """A fake static site: ``{"/path": body}`` (HTML); other paths get 404."""

        def handler(route: Any, request: Any) -> None:
            body = pages.get(urlsplit(request.url).path)
            if body is None:
                route.fulfill(status=404, body="not found", content_type="text/plain")
            else:
                route.fulfill(status=200, body=body, content_type="text/html; charset=utf-8")

        self.handlers[origin.lower().rstrip("/")] = handler

    def html(self, origin: str, body: str, path: str = "/") -> None:
        """A fake site serving one HTML page at ``path``."""
        self.pages(origin, {path: body})

    def proxy(self, origin: str, target: str) -> None:
        """Forward every request for ``origin`` to the loopback server ``target`` (same path)."""
        target = target.rstrip("/")

        def handler(route: Any, request: Any) -> None:
            url = urlsplit(request.url)
            headers = {
                k: v for k, v in request.all_headers().items() if k.lower() not in _HOP_BY_HOP
            }
            resp = requests.request(
                request.method,
                target + url.path + (f"?{url.query}" if url.query else ""),
                headers=headers,
                data=request.post_data_buffer,
                allow_redirects=False,
                timeout=30,
            )
            out = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_BY_HOP}
            route.fulfill(status=resp.status_code, headers=out, body=resp.content)

        self.handlers[origin.lower().rstrip("/")] = handler


@pytest.fixture
def fake_https_sites() -> FakeSites:
    """Fake sites for ``context``; register them before loading pages."""
    return FakeSites()


def _routed_context(browser: Any, sites: FakeSites) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 800})
    ctx.route("**/*", sites.route)
    try:
        yield ctx
    finally:
        ctx.close()
    assert not sites.errors, f"fake site errors: {sites.errors}"
    assert not sites.blocked, f"requests to outside hosts: {sites.blocked}"


@pytest.fixture
def context(browser: Any, fake_https_sites: FakeSites) -> Iterator[Any]:
    """A fresh browser context behind the loopback-only router; fails if anything was blocked."""
    yield from _routed_context(browser, fake_https_sites)


@pytest.fixture
def page(context: Any) -> Any:
    """A new page in ``context``."""
    return context.new_page()


@pytest.fixture(scope="session")
def loopback_tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A throwaway authority and a loopback certificate it issued (``TlsFiles``)."""
    from cocalc_widgets.emulator._tls import throwaway_certificate

    return throwaway_certificate(tmp_path_factory.mktemp("loopback-tls"))


@pytest.fixture(scope="session")
def chromium_trust(loopback_tls: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``(env, args, how)``: how ``https_browser`` is launched to trust ``loopback_tls``."""
    from _https import chromium_trusting

    return chromium_trusting(loopback_tls, tmp_path_factory.mktemp("chromium-home"))


@pytest.fixture(scope="session")
def https_browser(playwright_driver: Any, chromium_trust: Any) -> Iterator[Any]:
    """Chromium as ``browser`` that also trusts ``loopback_tls`` (see ``_https.py``)."""
    env, args, _how = chromium_trust
    yield from _launch(playwright_driver, args, env)


@pytest.fixture
def https_context(https_browser: Any, fake_https_sites: FakeSites) -> Iterator[Any]:
    """``context`` in the Chromium that trusts ``loopback_tls``."""
    yield from _routed_context(https_browser, fake_https_sites)


@pytest.fixture
def https_page(https_context: Any) -> Any:
    """A new page in ``https_context``."""
    return https_context.new_page()


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page, name)``: a full-page PNG in ``test-artifacts/``."""

    def take(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@dataclass
class _Server:
    server: Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_wsgi(app: Any) -> _Server:
    """Serve a WSGI app on a free loopback port in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return _Server(server, thread)


def _static_app(pages: dict[str, str]) -> Any:
    from werkzeug.wrappers import Request, Response

    @Request.application
    def app(request: Request) -> Response:
        body = pages.get(request.path)
        if body is None:
            return Response("not found", status=404)
        return Response(body, mimetype="text/html")

    return app


@pytest.fixture
def serve_http() -> Iterator[Callable[[Any], str]]:
    """``serve_http(wsgi_app_or_pages) -> base URL`` on 127.0.0.1; stopped at teardown."""
    servers: list[_Server] = []

    def serve(app: Any) -> str:
        if isinstance(app, dict):
            app = _static_app(app)
        servers.append(start_wsgi(app))
        return servers[-1].url

    yield serve
    for s in servers:
        s.stop()


@dataclass
class RunningEmulator:
    """An emulator serving on loopback for one test."""

    url: str
    state: Any
    stop: Callable[[], None]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")


def _kiosk_only_app(state: Any) -> Any:
    """The kiosk half of the emulator alone (used when the full Emulator is unavailable)."""
    from werkzeug.wrappers import Request, Response

    from cocalc_widgets.emulator._kiosk import handle_kiosk

    @Request.application
    def app(request: Request) -> Response:
        return handle_kiosk(state, request) or Response("Not Found", status=404)

    return app


def start_kiosk_emulator(data_dir: Path, **settings: Any) -> RunningEmulator:
    """Start an emulator on a free loopback port: ``cocalc_widgets.emulator.Emulator`` if it can
    be built with these settings, else the kiosk pages alone over an ``EmulatorState``."""
    from cocalc_widgets.emulator._state import EmulatorState

    state_keys = {"samesite_remember_me", "kiosk_startup_delay"}
    late = {k: settings.pop(k) for k in list(settings) if k in state_keys}
    try:
        from cocalc_widgets.emulator import Emulator  # type: ignore[attr-defined]
    except ImportError:
        Emulator = None
    if Emulator is not None:
        emu = Emulator(data_dir=data_dir, host="127.0.0.1", port=0, **settings)
        emu.start()
        state = emu.state
        for k, v in late.items():
            setattr(state, k, v)
        return RunningEmulator(emu.url.rstrip("/"), state, emu.stop, {"emulator": emu})
    state = EmulatorState(data_dir, **settings, **late)
    server = start_wsgi(_kiosk_only_app(state))
    return RunningEmulator(server.url, state, server.stop)


@pytest.fixture
def kiosk_emulator(tmp_path: Path) -> Iterator[Callable[..., RunningEmulator]]:
    """``kiosk_emulator(iframe_comm_hosts=..., require_sign_in=..., ...)``; stopped at teardown."""
    running: list[RunningEmulator] = []

    def start(**settings: Any) -> RunningEmulator:
        data = tmp_path / f"emulator-data-{len(running)}"
        running.append(start_kiosk_emulator(data, **settings))
        return running[-1]

    yield start
    for emu in running:
        emu.stop()


#: How long ``https_lab`` waits for port 443 when another server holds it (seconds).
PORT_443_WAIT = 300.0


@pytest.fixture(scope="module")
def https_lab(tmp_path_factory: pytest.TempPathFactory, loopback_tls: Any) -> Iterator[Any]:
    """JupyterLab over https on 127.0.0.1:443 whose kernels trust ``loopback_tls``; skips with
    the reason when port 443 is taken or not allowed (``COCALC_REQUIRE_HTTPS_TEST=1`` turns
    that skip into a failure, see tests/conftest.py)."""
    from _https import port_problem
    from _jupyterlab import start_jupyterlab

    # Another test run on this machine (a shared machine runs several suites) holds port 443 for
    # its own https module, a minute or two: wait for it, then skip as before.
    deadline = time.monotonic() + PORT_443_WAIT
    while True:
        problem = port_problem(443)
        if problem is None:
            try:
                server = start_jupyterlab(
                    tmp_path_factory.mktemp("https-lab"),
                    port=443,
                    tls=loopback_tls,
                    env={"REQUESTS_CA_BUNDLE": str(loopback_tls.ca_file)},
                )
                break
            except RuntimeError:
                problem = port_problem(443)
                if problem is None:  # not a race for the port: a real failure
                    raise
        if "taken" not in problem or time.monotonic() > deadline:
            pytest.skip(f"no https JupyterLab on port 443: {problem}")
        time.sleep(1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An isolated JupyterLab on 127.0.0.1 (``_jupyterlab.start_jupyterlab``), one per module."""
    from _jupyterlab import start_jupyterlab

    server = start_jupyterlab(tmp_path_factory.mktemp("lab"))
    try:
        yield server
    finally:
        server.stop()
