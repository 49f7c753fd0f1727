"""JupyterLab and Chromium for ``CoCalcFrame`` against the real CoCalc of ``tools/real-cocalc``
(tests/real/test_real_frame.py and bench/frame_first_file.py).

- :func:`real_tls`: the TLS files ``tools/real-cocalc start`` made (its run folder): the
  certificate its https proxy serves for 127.0.0.1, its key and the throwaway authority. The
  https JupyterLab on port 443 serves the same certificate, so one authority is all Chromium
  and the kernels trust.
- :func:`start_lab`: an isolated JupyterLab (tests/browser/_jupyterlab.py), over https on port
  443 (origin ``https://127.0.0.1``, what CoCalc's ``iframe_comm_hosts=127.0.0.1`` allows) or
  over http on a free port; stop it with ``.stop()`` (by its process group's id).
- :func:`launch_chromium` / :func:`new_context`: Debian's Chromium trusting that authority, and a
  context that lets loopback through and aborts anything else (CoCalc's ``/auth/impersonate``
  sends the page to ``https://app/`` when its ``dns`` setting is empty: that request is aborted
  and recorded, the frame goes on to its page itself).
- :func:`wait_text`: wait until the frame's IFrame shows a text (CoCalc's real editor).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))

from _chromium import CHROMIUM, CHROMIUM_ARGS
from _https import chromium_trusting, port_problem
from _jupyterlab import JupyterLab, LabNotebook, start_jupyterlab, write_notebook

__all__ = [
    "CHROMIUM",
    "FRAME",
    "JupyterLab",
    "LabNotebook",
    "RealTls",
    "launch_chromium",
    "new_context",
    "real_tls",
    "start_lab",
    "wait_text",
    "write_notebook",
]

FRAME = "iframe.cocalc-frame-iframe"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: How long :func:`start_lab` waits for port 443 while another server holds it.
PORT_443_WAIT = 300.0


@dataclass
class RealTls:
    cert_file: str
    key_file: str
    ca_file: str


def real_tls(env: dict[str, str]) -> RealTls | None:
    """The real CoCalc's TLS files, or None when its env file names no https host."""
    ca = env.get("COCALC_CA_FILE")
    if not env.get("COCALC_HTTPS_HOST") or not ca:
        return None
    run = Path(ca).parent
    cert, key = run / "cert.pem", run / "key.pem"
    if not (Path(ca).is_file() and cert.is_file() and key.is_file()):
        return None
    return RealTls(str(cert), str(key), ca)


def start_lab(base: Path, tls: RealTls | None = None) -> JupyterLab:
    """JupyterLab over https on 443 (with ``tls``) or over http on a free port. Raises
    ``RuntimeError`` saying why when port 443 stays taken or cannot be bound."""
    if tls is None:
        return start_jupyterlab(base)
    deadline = time.monotonic() + PORT_443_WAIT
    while True:
        problem = port_problem(443)
        if problem is None:
            try:
                return start_jupyterlab(
                    base, port=443, tls=tls, env={"REQUESTS_CA_BUNDLE": tls.ca_file}
                )
            except RuntimeError:
                problem = port_problem(443)
                if problem is None:
                    raise
        if "taken" not in problem or time.monotonic() > deadline:
            raise RuntimeError(f"no https JupyterLab on port 443: {problem}")
        time.sleep(1)


def launch_chromium(driver: Any, tls: RealTls | None, home: Path) -> Any:
    """Chromium (headless, the flags of BROWSER-TESTING.md) that trusts ``tls``'s authority."""
    env, args = None, []
    if tls is not None:
        env, args, _how = chromium_trusting(tls, home)
    return driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *args], env=env
    )


def new_context(browser: Any, aborted: list[str]) -> Any:
    """A fresh context (empty storage): loopback passes, anything else is aborted into
    ``aborted``."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})

    def route(route: Any, request: Any) -> None:
        if urlsplit(request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            aborted.append(request.url)
            route.abort("blockedbyclient")

    ctx.route("**/*", route)
    return ctx


def frame_text(page: Any, nth: int = 0) -> str:
    """The text the frame's IFrame shows now ("" between pages)."""
    try:
        return str(page.frame_locator(FRAME).nth(nth).locator("body").inner_text(timeout=2000))
    except Exception:
        return ""


def wait_text(page: Any, want: str, nth: int = 0, timeout: float = 120.0) -> float:
    """Seconds until the frame's IFrame shows ``want``; AssertionError after ``timeout``."""
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < timeout:
        last = frame_text(page, nth)
        if want in last:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"the frame never showed {want!r} in {timeout} s; last: {last[-500:]!r}")
