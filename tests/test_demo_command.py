"""README's demo command (`python3 -m cocalc_widgets demo`): starts the emulator and JupyterLab, prints the URL; SIGTERM stops both."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import requests


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_starts_both_servers_and_stops_both(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "cocalc_widgets", "demo", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        out = "".join(lines)
        lab = re.search(r"(http://127\.0\.0\.1:(\d+))/lab/tree/api-demo\.ipynb\?token=(\w+)", out)
        emu = re.search(r"CoCalc emulator: (http://127\.0\.0\.1:(\d+))", out)
        assert lab and emu, out
        assert "Instructor" in out and "Student 5" in out
        assert requests.get(f"{lab.group(1)}/api/contents/classroom.ipynb", params={"token": lab.group(3)}, timeout=10).ok
        assert requests.post(f"{emu.group(1)}/api/v1/ping", timeout=10).status_code == 400  # needs the key
        assert (tmp_path / "notebooks" / "embedding.ipynb").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        time.sleep(0.5)
        assert not _port_open(int(lab.group(2))) and not _port_open(int(emu.group(2)))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
