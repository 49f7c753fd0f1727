"""An isolated JupyterLab (or Notebook 7) on 127.0.0.1 for real-browser tests, and helpers to
drive notebooks.

- :func:`start_jupyterlab` starts ``jupyter lab`` in its own process group with temporary config,
  runtime, settings, workspace, data and IPython folders, no news and no update checks, and every
  cell kept in the DOM (``windowingMode: none``); over https with ``tls=`` (Jupyter Server's
  ``--ServerApp.certfile/keyfile``), on a given ``port=`` (never another one). :meth:`JupyterLab.stop`
  ends that group by the process's id. :func:`start_notebook7` (``app="notebook"``) starts Jupyter
  Notebook 7 (``jupyter notebook``) the same way; its notebooks open at ``/notebooks/<name>``.
- :func:`write_notebook` writes a notebook of code cells with nbformat.
- :class:`LabNotebook` opens a notebook in a Playwright page (Lab or Notebook 7, after the
  server's ``app``), runs cells through the UI (click the editor, Shift+Enter, wait for ``[n]``)
  and reads their outputs.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]

_SERVER_CONFIG = """\
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
c.ServerApp.open_browser = False
c.ServerApp.log_level = "WARN"
"""

_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # Save widget state into the notebook, as users who share notebooks do.
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class JupyterLab:
    """A running JupyterLab server (or Notebook 7 server, ``app == "notebook"``)."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    root_dir: Path
    log_path: Path
    scheme: str = "http"
    ca_file: Path | None = None  # what clients trust when ``scheme`` is https
    app: str = "lab"  # "lab": JupyterLab; "notebook": Jupyter Notebook 7

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, or ``https://127.0.0.1`` (no port) on https's port 443."""
        default = {"http": 80, "https": 443}[self.scheme]
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://127.0.0.1{port}"

    @property
    def origin(self) -> str:
        """The notebook page's origin (what CoCalc sees as ``event.origin``)."""
        return self.url

    def notebook_url(self, name: str) -> str:
        """The URL that opens ``name`` (relative to the root folder): in a fresh Lab workspace, or
        Notebook 7's notebook page."""
        if self.app == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"

    def log(self) -> str:
        """The server's output so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server and its kernels: the whole process group, by the server's pid."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def start_jupyterlab(
    base: Path,
    *,
    timeout: float = 60.0,
    server_config: str = "",
    env: dict[str, str] | None = None,
    port: int | None = None,
    tls: Any = None,
    app: str = "lab",
) -> JupyterLab:
    """Start an isolated JupyterLab under ``base`` (notebooks go in ``base / "notebooks"``).

    ``server_config`` is appended to its ``jupyter_server_config.py``; ``env`` is added to the
    server's (and so its kernels') environment. ``port``: that port or an error, never another
    (default: a free one). ``tls``: serve https with its ``cert_file``/``key_file`` (an
    emulator ``TlsFiles``); its ``ca_file`` is what the start-up check trusts. ``app``:
    ``"lab"`` (``jupyter lab``) or ``"notebook"`` (``jupyter notebook``, Notebook 7, which reads
    the same Lab settings and server config).
    """
    if app not in ("lab", "notebook"):
        raise ValueError(f"app must be 'lab' or 'notebook', not {app!r}")
    dirs = {
        name: base / name
        for name in ("config", "runtime", "settings", "workspaces", "data", "ipython", "notebooks")
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    (dirs["config"] / "jupyter_server_config.py").write_text(_SERVER_CONFIG + server_config)
    for rel, value in _SETTINGS.items():
        path = dirs["settings"] / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    extra_env = dict(env or {})
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        IPYTHONDIR=str(dirs["ipython"]),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]),
    )
    env.pop("ANYWIDGET_HMR", None)
    env.update(extra_env)
    port = port or free_port()
    scheme = "https" if tls is not None else "http"
    ca_file = Path(tls.ca_file) if tls is not None and tls.ca_file else None
    tls_args = []
    if tls is not None:
        tls_args.append(f"--ServerApp.certfile={tls.cert_file}")
        if tls.key_file:
            tls_args.append(f"--ServerApp.keyfile={tls.key_file}")
    token = secrets.token_hex(16)
    log_path = base / ("jupyterlab.log" if app == "lab" else "notebook.log")
    # ``python -m jupyter lab`` would run the ``jupyter-lab`` found first on PATH (jupyter_core
    # looks there), possibly another Python's with its own packages; the app's own module keeps
    # the server and its kernels on this interpreter, the one running the tests.
    module = {"lab": "jupyterlab", "notebook": "notebook"}[app]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                *tls_args,
                "--allow-root",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={dirs['notebooks']}",
            ],
            cwd=dirs["notebooks"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = JupyterLab(proc, port, token, dirs["notebooks"], log_path, scheme, ca_file, app)
    name = "JupyterLab" if app == "lab" else "Notebook 7"
    verify: str | bool = str(ca_file) if ca_file else True
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}):\n{lab.log()[-3000:]}")
        try:
            r = requests.get(
                f"{lab.url}/api/status", params={"token": token}, timeout=2, verify=verify
            )
            if r.ok:
                return lab
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            lab.stop()
            raise RuntimeError(f"{name} did not start in {timeout} s:\n{lab.log()[-3000:]}")
        time.sleep(0.1)


def start_notebook7(base: Path, **kwargs: Any) -> JupyterLab:
    """Start an isolated Jupyter Notebook 7 server under ``base``: :func:`start_jupyterlab` with
    ``app="notebook"`` (same keywords)."""
    return start_jupyterlab(base, app="notebook", **kwargs)


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a notebook of code cells (Python 3 kernel) with nbformat."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, str(path))
    return path


#: Notebook 7's kernel readiness: the execution indicator in the notebook's toolbar (it has no
#: status bar, and its kernel-status label fades to empty once the kernel is idle).
NOTEBOOK7_IDLE = '.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator[data-status="idle"]'


class LabNotebook:
    """A notebook open in JupyterLab (or Notebook 7) in a Playwright page."""

    def __init__(self, page: Any, lab: JupyterLab, name: str) -> None:
        self.page = page
        self.lab = lab
        self.name = name

    def open(self, timeout: float = 60.0) -> LabNotebook:
        """Load the notebook and wait for all its cells and an idle kernel."""
        self.page.goto(self.lab.notebook_url(self.name), timeout=timeout * 1000)
        # The cells appear after the first one, not with it: on a loaded machine Notebook 7
        # showed 1 cell of 14 with its kernel already idle. Wait for the file's last cell.
        count = len(json.loads((self.lab.root_dir / self.name).read_text())["cells"])
        self.page.locator(".jp-Notebook .jp-Cell").nth(max(count - 1, 0)).wait_for(
            timeout=timeout * 1000
        )
        self.page.locator(".jp-Notebook .jp-CodeCell .cm-content").first.wait_for(
            timeout=timeout * 1000
        )
        self._wait_for_kernel(timeout)
        if self.lab.app == "notebook":
            self.page.locator(NOTEBOOK7_IDLE).wait_for(timeout=timeout * 1000)
        else:
            self.page.get_by_text("| Idle").first.wait_for(timeout=timeout * 1000)
        return self

    def _wait_for_kernel(self, timeout: float) -> None:
        """Wait until the server runs a kernel for this notebook.

        On a loaded machine the page may start the notebook's session before it has the kernel
        specs, find no kernel to start, and ask ("Select Kernel", JupyterLab 4.6's
        SessionContext.startKernel; seen twice in Notebook 7). The idle indicator then shows
        with no kernel at all. Answer as a user would: the notebook's Python 3.
        """
        verify: str | bool = str(self.lab.ca_file) if self.lab.ca_file else True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = requests.get(
                f"{self.lab.url}/api/sessions",
                params={"token": self.lab.token},
                timeout=10,
                verify=verify,
            )
            if r.ok and any(s.get("path") == self.name and s.get("kernel") for s in r.json()):
                return
            dialog = self.page.locator(".jp-Dialog", has_text="Select Kernel")
            if dialog.count():
                dialog.locator("select").first.select_option(label="Python 3 (ipykernel)")
                dialog.locator("button.jp-mod-accept").click()
            self.page.wait_for_timeout(100)
        raise AssertionError(
            f"no kernel for {self.name} in {timeout} s; open dialogs: {self._dialogs()!r}"
        )

    def cells(self) -> Any:
        return self.page.locator(".jp-Notebook .jp-Cell")

    def prompt(self, i: int) -> str:
        """The input prompt of cell ``i`` without brackets: ``""``, ``"*"`` or a number."""
        text = self.cells().nth(i).locator(".jp-InputPrompt").inner_text()
        return text.strip().strip(":").strip("[]").strip()

    def run_cell(self, i: int, timeout: float = 60.0) -> str:
        """Run cell ``i`` through the UI and wait until it finished; returns its output text."""
        cell = self.cells().nth(i)
        before = self.prompt(i)
        for attempt in range(3):
            try:
                cell.locator(".cm-content").click()
            except Exception as err:  # say what stood in the way (a dialog, once, unexplained)
                raise AssertionError(
                    f"cell {i} could not be clicked; open dialogs: {self._dialogs()!r}"
                ) from err
            self.page.keyboard.press("Shift+Enter")
            start = time.monotonic()
            while time.monotonic() - start < 10:
                now = self.prompt(i)
                if now == "*" or (now != before and now.isdigit()):
                    break
                self._pause()
            else:
                if attempt < 2:
                    continue  # the first keypress is sometimes swallowed while the page settles
                raise AssertionError(f"cell {i} did not start")
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.prompt(i)
            if now.isdigit() and now != before:
                return self.output(i)
            self._pause()
        raise AssertionError(f"cell {i} did not finish in {timeout} s; output: {self.output(i)}")

    def _dialogs(self) -> list[str]:
        """The text of every dialog open on the page."""
        dialogs = self.page.locator("dialog, .jp-Dialog")
        texts = []
        for k in range(dialogs.count()):
            try:
                texts.append(dialogs.nth(k).inner_text(timeout=5000))
            except Exception as err:  # closed meanwhile
                texts.append(f"({err.__class__.__name__})")
        return texts

    def _pause(self) -> None:
        # Not time.sleep: Playwright's sync API runs route handlers (the context's request
        # router) only while the test calls into it, so a sleeping poll would hold every
        # routed request of the page (the kiosk page's file fetches) until the next poll.
        self.page.wait_for_timeout(20)

    def save(self, timeout: float = 20.0) -> dict[str, Any]:
        """Save the notebook from the UI (File > Save Notebook); returns the saved file's JSON.

        Playwright's request interception stalls Lab's ``PUT`` of the notebook (measured with
        Chromium 156), so this first removes the context's ``**/*`` route: call it last.
        JupyterLab's menu labels: not tried in Notebook 7.
        """
        self.page.context.unroute("**/*")
        path = self.lab.root_dir / self.name
        before = path.stat().st_mtime_ns
        self.page.locator(".lm-MenuBar-itemLabel", has_text="File").first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text="Save Notebook").first.click()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.stat().st_mtime_ns != before:
                try:
                    return json.loads(path.read_text())
                except ValueError:
                    pass  # being written
            time.sleep(0.1)
        raise AssertionError(f"{self.name} was not saved in {timeout} s")

    def output(self, i: int) -> str:
        """The text of cell ``i``'s outputs."""
        outs = self.cells().nth(i).locator(".jp-OutputArea-output")
        return "\n".join(outs.nth(k).inner_text() for k in range(outs.count()))


#: Cell code: issue every command of ``CMDS`` (``[kind, fields]`` pairs) on ``frame`` at once,
#: keeping the handles in ``handles``.
ISSUE_COMMANDS = """\
handles = []
for kind, p in CMDS:
    if kind == "status":
        handles.append(frame.status())
    elif kind in ("open", "missing"):
        handles.append(frame.open_file(p["path"]))
    elif kind == "closeall":
        handles.append(frame.closeall())
    else:
        handles.append(frame.command(p["action"]))
"""
