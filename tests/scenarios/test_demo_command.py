"""README's demo command (`python3 -m cocalc_widgets demo`): starts the emulator and JupyterLab,
prints their URLs and the emulator's API key; SIGTERM stops both; its temporary folder goes with
it, a ``--workdir`` stays."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from _running import start_command

from cocalc_widgets import CoCalcClient


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start_demo(*flags: str) -> tuple[subprocess.Popen, str]:
    return start_command(
        "cocalc_widgets", "demo", *flags, timeout=120, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop_demo(proc: subprocess.Popen) -> str:
    """SIGTERM, wait for exit code 0; the rest of the demo's output."""
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    return rest


def _kill(proc: subprocess.Popen) -> None:
    # The demo runs JupyterLab or Voila in a session of their own: ask it to stop them (as
    # Ctrl-C does) before killing what is left, so that a failing test leaks no server.
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_demo_starts_both_servers_prints_the_key_and_stops_both(tmp_path):
    proc, out = _start_demo("--workdir", str(tmp_path))
    try:
        lab = re.search(r"(http://127\.0\.0\.1:(\d+))/lab/tree/api-demo\.ipynb\?token=(\w+)", out)
        emu = re.search(r"CoCalc emulator: (http://127\.0\.0\.1:(\d+))", out)
        key = re.search(r"API key:\s+(sk-\S+)", out)
        assert lab and emu and key, out
        assert "Instructor" in out and "Student 5" in out
        account = re.search(r"account id:\s+([0-9a-f-]{36})", out)
        assert account and re.search(r"password:\s+\S+", out), out  # the sign-in page's
        # Every variable the notebooks read (embedding.ipynb: COCALC_ACCOUNT_ID), for a shell.
        assert (
            f"export COCALC_HOST={emu.group(1)} COCALC_API_KEY={key.group(1)} "
            f"COCALC_ACCOUNT_ID={account.group(1)}"
        ) in out
        assert f"Work folder:     {tmp_path.resolve()}  (kept when the demo stops)" in out
        assert requests.get(f"{lab.group(1)}/api/contents/classroom.ipynb", params={"token": lab.group(3)}, timeout=10).ok
        assert requests.post(f"{emu.group(1)}/api/v1/ping", timeout=10).status_code == 400  # needs the key
        # README's client example, pointed at the demo's emulator with the printed key
        client = CoCalcClient(key.group(1), host=emu.group(1))
        client.ping()
        titles = {p["title"] for p in client.projects()}
        assert {"Instructor", "Student 1", "Student 5"} <= titles
        assert (tmp_path / "notebooks" / "embedding.ipynb").exists()
        rest = _stop_demo(proc)
        # Both servers are down once the demo has exited: polled for up to 5 s instead of read
        # once after a 0.5 s sleep (the Lab port was still open then once, under load).
        ports = [int(lab.group(2)), int(emu.group(2))]
        deadline = time.monotonic() + 5
        while any(map(_port_open, ports)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_port_open, ports)), ports
        assert f"The demo's folder stays: {tmp_path.resolve()}" in rest
        assert (tmp_path / "notebooks" / "embedding.ipynb").exists()  # a --workdir is kept
        assert list(tmp_path.glob("projects/*/handout/homework1.ipynb"))
    finally:
        _kill(proc)


def test_demo_removes_its_temporary_folder(tmp_path):
    proc, out = _start_demo()
    try:
        found = re.search(r"Work folder:\s+(\S+)\s+\(temporary: removed when the demo stops", out)
        assert found, out
        work = Path(found.group(1))
        assert (work / "notebooks" / "api-demo.ipynb").exists() and (work / "projects").is_dir()
        assert re.search(rf"Notebooks:\s+{re.escape(str(work / 'notebooks'))}", out)
        rest = _stop_demo(proc)
        assert f"Removed the demo's temporary folder {work}" in rest
        assert not work.exists()
    finally:
        _kill(proc)


def test_demo_voila_serves_the_dashboard_and_stops_both(tmp_path):
    proc, out = _start_demo("--voila", "--workdir", str(tmp_path))
    try:
        found = re.search(r"Open the dashboard \(Voila\): (http://127\.0\.0\.1:(\d+))/\?token=(\w+)", out)
        emu = re.search(r"CoCalc emulator: (http://127\.0\.0\.1:(\d+))", out)
        key = re.search(r"API key:\s+(sk-\S+)", out)
        assert found and emu and key, out
        url, port, token = found.groups()
        assert "Instructor" in out and "Student 5" in out
        assert f"export COCALC_HOST={emu.group(1)} COCALC_API_KEY={key.group(1)} COCALC_ACCOUNT_ID=" in out
        dashboard = tmp_path / "notebooks" / "dashboard.ipynb"
        assert re.search(rf"Dashboard:\s+{re.escape(str(dashboard))}\s+\(log: {re.escape(str(tmp_path / 'voila.log'))}\)", out)
        # Without the token Voila sends the browser to its login page; with it, the dashboard
        # runs against the demo's emulator (a kernel started for this page).
        assert requests.get(f"{url}/", allow_redirects=False, timeout=10).status_code in (302, 403)
        page = requests.get(f"{url}/", params={"token": token}, timeout=90)
        assert page.status_code == 200, page.text[-2000:]
        assert "A CoCalc project dashboard" in page.text
        assert "application/vnd.jupyter.widget-view+json" in page.text  # the widgets' outputs
        assert "Traceback" not in page.text and key.group(1) not in page.text
        # the emulator answers the Voila page's kiosk frames (its front page lists who may)
        front = requests.get(emu.group(1), timeout=10).text
        assert f"<code>http://127.0.0.1:{port}</code>" in front
        rest = _stop_demo(proc)
        time.sleep(0.5)
        assert not _port_open(int(port)) and not _port_open(int(emu.group(2)))
        assert f"The demo's folder stays: {tmp_path.resolve()}" in rest
        assert dashboard.exists() and (tmp_path / "voila.log").exists()
        assert "Kernel shutdown" in (tmp_path / "voila.log").read_text()  # the page's kernel too
        assert not list(tmp_path.glob("voila_*"))  # Voila's connection files are gone
    finally:
        _kill(proc)


def test_demo_voila_removes_its_temporary_folder():
    proc, out = _start_demo("--voila")
    try:
        found = re.search(r"Work folder:\s+(\S+)\s+\(temporary: removed when the demo stops", out)
        assert found and "Open the dashboard (Voila): http://127.0.0.1:" in out, out
        work = Path(found.group(1))
        assert (work / "notebooks" / "dashboard.ipynb").exists()
        rest = _stop_demo(proc)
        assert f"Removed the demo's temporary folder {work}" in rest
        assert not work.exists()
    finally:
        _kill(proc)
