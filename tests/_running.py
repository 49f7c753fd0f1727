"""The package's commands in a subprocess, for tests: start one and read what it prints until it
says it is ready."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any


def start_command(
    *args: str, ready: str = "Press Ctrl-C", timeout: float = 30.0, **popen: Any
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m <args>`` (text stdout piped; ``popen`` adds ``Popen`` arguments) and read
    its output until a line starts with ``ready``, it ends, or ``timeout`` seconds pass; returns
    the process and the output read."""
    popen.setdefault("stdout", subprocess.PIPE)
    proc = subprocess.Popen([sys.executable, "-m", *args], text=True, **popen)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(ready):
            break
    return proc, "".join(lines)


def stop_command(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """SIGTERM (as Ctrl-C would stop it), then kill if it has not ended after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
