"""``cocalc-widgets demo``: the emulator with demo projects plus JupyterLab on the demo
notebooks, already pointed at the emulator; ``--voila`` serves the dashboard
(``notebooks/dashboard.ipynb``) with Voila instead. Ctrl-C (or SIGTERM) stops both.

It prints the emulator's URL and API key (for a client in another terminal). The notebooks'
copies and the project folders live in a temporary folder that is removed when the demo stops,
unless ``--workdir DIR`` names a folder to keep.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

#: The notebook ``--voila`` serves.
DASHBOARD = "dashboard.ipynb"


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``cocalc-widgets demo``."""
    parser.add_argument(
        "--port", type=int, default=0, help="JupyterLab's (or Voila's) port (default: free)"
    )
    parser.add_argument(
        "--voila",
        action="store_true",
        help="open the dashboard (dashboard.ipynb) in Voila instead of JupyterLab",
    )
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=0,
        metavar="PORT",
        help="the emulator's port (default: free)",
    )
    parser.add_argument(
        "--notebooks",
        metavar="DIR",
        default=None,
        help="folder of notebooks to open (default: the package's notebooks/)",
    )
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        default=None,
        help="where the notebooks are copied and the project folders live, kept when the demo "
        "stops (default: a temporary folder, removed when the demo stops)",
    )
    parser.add_argument(
        "--copy-delay",
        type=float,
        default=0.3,
        metavar="S",
        help="every copy takes at least S seconds (default 0.3)",
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find_notebooks(explicit: str | None) -> Path:
    candidates = (
        [Path(explicit)]
        if explicit
        else [
            Path(__file__).resolve().parent.parent / "notebooks",
            Path.cwd() / "notebooks",
        ]
    )
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return folder
    raise SystemExit("cannot find the demo notebooks: pass --notebooks DIR")


def _wait_for_server(
    name: str, url: str, proc: subprocess.Popen, limit: float = 90.0, **params: str
) -> None:
    """Until ``url`` answers (``params``: its query), or raise ``SystemExit``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited early (code {proc.returncode}); see its log")
        try:
            if requests.get(url, params=params, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{name} did not start within {limit:g} s")


def _lab_command(work: Path, port: int, token: str) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",  # this interpreter's JupyterLab (`-m jupyter lab` runs PATH's jupyter-lab)
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={work / 'notebooks'}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.jpserver_extensions=cocalc_widgets.nodelay=True",  # no 40 ms Nagle stalls
        "--ServerApp.port_retries=0",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def _voila_command(work: Path, port: int, token: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "voila",
        str(work / "notebooks" / DASHBOARD),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--token={token}",
        # Its kernels' connection files go in the work folder, not /tmp.
        f"--Voila.connection_dir_root={work}",
        "--show_tracebacks=True",  # a demo: say what went wrong (errors never hold the key)
        "--Voila.kernel_websocket_connection_class="
        "cocalc_widgets.nodelay.NoDelayKernelWebsocketConnection",  # no 40 ms Nagle stalls
    ]


def run_demo(args: argparse.Namespace) -> int:
    """Start the emulator and JupyterLab (``--voila``: Voila on the dashboard), print the URLs
    and the API key, serve until stopped; then remove the temporary work folder (one given with
    ``--workdir`` stays)."""
    voila = getattr(args, "voila", False)
    if voila and importlib.util.find_spec("voila") is None:
        print("Voila is missing: python3 -m pip install voila", file=sys.stderr)
        return 2
    if not voila and importlib.util.find_spec("jupyterlab") is None:
        print(
            'JupyterLab is missing: python3 -m pip install "cocalc-widgets[demo]"', file=sys.stderr
        )
        return 2
    notebooks = _find_notebooks(args.notebooks)
    if voila and not (notebooks / DASHBOARD).is_file():
        raise SystemExit(f"no {DASHBOARD} in {notebooks}")
    temporary = not args.workdir
    work = Path(args.workdir or tempfile.mkdtemp(prefix="cocalc-widgets-demo-")).resolve()
    try:
        return _run(args, notebooks, work, temporary)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
            print(f"Removed the demo's temporary folder {work}", flush=True)
        else:
            print(f"The demo's folder stays: {work}", flush=True)


def _run(args: argparse.Namespace, notebooks: Path, work: Path, temporary: bool) -> int:
    """The demo in ``work``: both servers until Lab (or Voila) exits, Ctrl-C or SIGTERM."""
    from .emulator import Emulator

    voila = getattr(args, "voila", False)
    name = "Voila" if voila else "JupyterLab"

    shutil.copytree(
        notebooks,
        work / "notebooks",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints"),
    )
    lab_port = args.port or _free_port()
    origins = [f"http://127.0.0.1:{lab_port}", f"http://localhost:{lab_port}"]
    emu = Emulator(
        data_dir=work / "projects",
        port=args.emulator_port,
        dev_http_origins=origins,
        copy_delay=args.copy_delay,
    )
    projects = emu.seed_demo()
    emu.start()
    token = secrets.token_hex(16)
    env = {**os.environ, **emu.client_env()}  # what the notebooks read
    make_command = _voila_command if voila else _lab_command
    log_path = work / ("voila.log" if voila else "jupyterlab.log")
    cmd = make_command(work, lab_port, token)
    log = open(log_path, "ab")  # noqa: SIM115 - open while the server runs
    lab = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=log, stderr=log)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            try:
                lab.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
                lab.wait()  # gone (its port closed) before the demo says it stopped
        log.close()
        emu.stop()

    def on_sigterm(*_: object) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        lab_url = f"http://127.0.0.1:{lab_port}"
        if voila:  # a static file: the page itself would start a kernel
            _wait_for_server(name, f"{lab_url}/voila/static/voila.js", lab)
        else:
            _wait_for_server(name, f"{lab_url}/api/status", lab, token=token)
        print(f"CoCalc emulator: {emu.url}  (projects in {work / 'projects'})")
        print(f"  API key:    {emu.api_key}")
        print(f"  account id: {emu.account_id}")
        print(f"  password:   {emu.password}  (the account's, for the emulator's sign-in page)")
        for title, pid in projects.items():
            print(f"  {title:<12} {pid}")
        if voila:
            print(f"Dashboard:       {work / 'notebooks' / DASHBOARD}  (log: {log_path})")
        else:
            print(f"Notebooks:       {work / 'notebooks'}  (log: {log_path})")
        if temporary:
            print(f"Work folder:     {work}  (temporary: removed when the demo stops;")
            print("                 --workdir DIR keeps the notebooks and projects)")
        else:
            print(f"Work folder:     {work}  (kept when the demo stops)")
        print("\nA client or a notebook server in another terminal (README's examples and the")
        print("notebooks read these):")
        print(f"  {emu.export_line()}")
        if voila:
            print(f"\nOpen the dashboard (Voila): {lab_url}/?token={token}\n")
        else:
            print(f"\nOpen JupyterLab: {lab_url}/lab/tree/api-demo.ipynb?token={token}\n")
        print("Press Ctrl-C to stop both servers.")
        while lab.poll() is None:
            time.sleep(0.5)
        return lab.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        stop()
