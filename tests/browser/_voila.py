"""An isolated Voila on 127.0.0.1 for real-browser tests.

:func:`start_voila` serves one notebook with ``voila`` in its own process group, with temporary
Jupyter config, runtime, data and IPython folders and its kernels' connection files under
``base``, a token, and tracebacks shown (a failing cell must say why). :meth:`Voila.stop` ends
that group by the process's id (SIGTERM first: Voila then shuts its kernels down).

Voila's page template links Font Awesome from cdn.jsdelivr.net (for button icons), an outside
request the tests' router refuses: :func:`fake_voila_cdn` answers it with an empty stylesheet.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from _jupyterlab import ROOT, free_port

CDN = "https://cdn.jsdelivr.net"


@dataclass
class Voila:
    """A running Voila serving one notebook."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    notebook: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        """The dashboard page's origin (what CoCalc sees as ``event.origin``)."""
        return self.url

    @property
    def page_url(self) -> str:
        """The notebook as a web app (each load starts a kernel and runs the notebook)."""
        return f"{self.url}/?token={self.token}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop Voila and its kernels: SIGTERM to the process group, then SIGKILL."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def start_voila(
    base: Path, notebook: Path, *, env: dict[str, str] | None = None, timeout: float = 60.0
) -> Voila:
    """Serve ``notebook`` (copied into ``base / "notebooks"``) with Voila on a free port."""
    dirs = {name: base / name for name in ("config", "runtime", "data", "ipython", "notebooks")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    target = dirs["notebooks"] / notebook.name
    target.write_bytes(notebook.read_bytes())
    full_env = dict(os.environ)
    full_env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        IPYTHONDIR=str(dirs["ipython"]),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    full_env.pop("ANYWIDGET_HMR", None)
    full_env.update(env or {})
    port = free_port()
    token = secrets.token_hex(16)
    log_path = base / "voila.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                str(target),
                "--no-browser",
                "--Voila.ip=127.0.0.1",
                f"--port={port}",
                "--Voila.port_retries=0",
                f"--token={token}",
                f"--Voila.connection_dir_root={base}",
                "--show_tracebacks=True",
            ],
            cwd=dirs["notebooks"],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    voila = Voila(proc, port, token, target, log_path)
    deadline = time.monotonic() + timeout
    while True:  # a static file answers once it serves; the page itself would start a kernel
        if proc.poll() is not None:
            raise RuntimeError(f"Voila exited ({proc.returncode}):\n{voila.log()[-3000:]}")
        try:
            if requests.get(f"{voila.url}/voila/static/voila.js", timeout=2).ok:
                return voila
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            voila.stop()
            raise RuntimeError(f"Voila did not start in {timeout} s:\n{voila.log()[-3000:]}")
        time.sleep(0.1)


def fake_voila_cdn(sites: Any) -> None:
    """Answer Voila's Font Awesome stylesheets (cdn.jsdelivr.net) with an empty one."""

    def handler(route: Any, _request: Any) -> None:
        route.fulfill(status=200, body="", content_type="text/css")

    sites.handlers[CDN] = handler
