"""Real Jupyter kernels for CoCalc's stateless Jupyter API (hub ``jupyter.kernels`` /
``jupyter.execute``, project ``system.jupyterExecute`` / ``listJupyterKernels`` /
``stopJupyterKernel``), with ``jupyter_client`` (and ``ipykernel`` for ``python3``).

One kernel per project and kernel name, started in the project's folder on first use, with
``HOME`` the project's folder. As in CoCalc each call starts from a fresh kernel: the history is
run (its output dropped), then the input, whose outputs are answered; a kernel that ran a call is
restarted before the next one. Kernels end when their project stops, when stopped by pid, and
when the emulator stops. Governed by ``--allow-exec``, as commands are.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from typing import Any

from ._ops import ExecDisabled, OpFailed, require_collaborator
from ._state import EmulatorState
from ._values import js_number, js_str

log = logging.getLogger("cocalc_widgets.emulator")

DEFAULT_TIMEOUT_S = 45.0  # CoCalc's PROJECT_LIMITS.timeout_ms
START_TIMEOUT_S = 60.0


class _Kernel:
    """One running kernel: its manager, client, and whether a call has used it."""

    def __init__(self, name: str, manager: Any, client: Any) -> None:
        self.name, self.manager, self.client = name, manager, client
        self.used = False
        self.lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.manager, "provisioner", None)
        process = getattr(provisioner, "process", None)
        pid = getattr(process, "pid", None)
        return pid if isinstance(pid, int) else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.stop_channels()
        try:
            self.manager.shutdown_kernel(now=True)
        except Exception:  # pragma: no cover - best effort
            log.debug("kernel shutdown failed", exc_info=True)


class Kernels:
    """The emulator's Jupyter kernels (see the module's docstring)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._kernels: dict[tuple[str, str], _Kernel] = {}
        self._starting: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- kernel specs ------------------------------------------------------------------------
    @staticmethod
    def specs() -> list[dict]:
        """The installed kernel specs, as CoCalc's ``jupyter_kernels`` lists them."""
        try:
            from jupyter_client.kernelspec import KernelSpecManager
        except ImportError:
            return []
        out = []
        for name, info in sorted(KernelSpecManager().get_all_specs().items()):
            spec = info.get("spec", {})
            out.append(
                {
                    "name": name,
                    "display_name": spec.get("display_name", name),
                    "language": spec.get("language", ""),
                    "interrupt_mode": spec.get("interrupt_mode", "signal"),
                    "argv": spec.get("argv", []),
                    "env": spec.get("env", {}),
                    "metadata": spec.get("metadata", {}),
                    "resource_dir": info.get("resource_dir", ""),
                }
            )
        return out

    # -- running code ------------------------------------------------------------------------
    def execute(
        self,
        project_id: str,
        kernel: str,
        code: str,
        history: list[str] | None = None,
        path: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> list[dict]:
        """The outputs of ``code`` in a fresh ``kernel`` of the project (after ``history``)."""
        k = self._get(project_id, kernel)
        with k.lock:
            if k.used:
                self._restart(k)
            k.used = True
            outputs: list[dict] = []
            if path is not None:
                folder = self.state.resolve(project_id, path, allow_root=True)
                if not folder.is_dir():
                    folder = folder.parent
                chdir = f"import os as __os; __os.chdir({json.dumps(str(folder))}); del __os"
                self._run(k, chdir, timeout)
            if history:
                self._run(k, "\n".join(history), timeout)
            outputs.extend(self._run(k, code, timeout))
            return outputs

    def _get(self, project_id: str, name: str) -> _Kernel:
        """The project's kernel of that name, started if need be (one start at a time per
        kernel; other projects' kernels are not held up)."""
        key = (project_id, name)
        with self._lock:
            if self._closed:
                raise OpFailed("the emulator is stopping")
            found = self._kernels.get(key)
            if found is not None:
                return found
            starting = self._starting.setdefault(key, threading.Lock())
        with starting:
            with self._lock:
                found = self._kernels.get(key)
            if found is not None:
                return found
            kernel = self._start(project_id, name)
            with self._lock:
                if not self._closed:
                    self._kernels[key] = kernel
                    return kernel
            kernel.close()
            raise OpFailed("the emulator is stopping")

    def _start(self, project_id: str, name: str) -> _Kernel:
        try:
            from jupyter_client.kernelspec import NoSuchKernel
            from jupyter_client.manager import KernelManager
        except ImportError:
            raise OpFailed(
                "the cocalc-widgets emulator runs Jupyter kernels with jupyter_client and "
                'ipykernel: pip install "cocalc-widgets[emulator]"'
            ) from None
        names = [s["name"] for s in self.specs()]
        if name not in names:
            raise OpFailed(
                f'No spec available for kernel "{name}".  Available specs: '
                f"{json.dumps(names, separators=(',', ':'))}"
            )
        home = str(self.state.project_dir(project_id))
        manager = KernelManager(kernel_name=name)
        env = {**os.environ, "HOME": home, "COCALC_PROJECT_ID": project_id}
        try:
            manager.start_kernel(cwd=home, env=env)
            client = manager.client()
            client.start_channels()
            client.wait_for_ready(timeout=START_TIMEOUT_S)
        except NoSuchKernel:
            raise OpFailed(f"no such kernel '{name}'") from None
        except Exception as err:
            with contextlib.suppress(Exception):
                manager.shutdown_kernel(now=True)
            raise OpFailed(f"failed to start kernel '{name}' -- {err}") from None
        return _Kernel(name, manager, client)

    def _restart(self, k: _Kernel) -> None:
        k.client.stop_channels()
        k.manager.restart_kernel(now=True)
        k.client = k.manager.client()
        k.client.start_channels()
        k.client.wait_for_ready(timeout=START_TIMEOUT_S)

    @staticmethod
    def _run(k: _Kernel, code: str, timeout: float) -> list[dict]:
        outputs: list[dict] = []

        def hook(msg: dict) -> None:
            kind, content = msg.get("msg_type"), msg.get("content", {})
            if kind == "stream":
                if outputs and outputs[-1].get("name") == content.get("name"):
                    outputs[-1]["text"] += content.get("text", "")
                else:
                    outputs.append({"name": content.get("name"), "text": content.get("text", "")})
            elif kind in ("execute_result", "display_data"):
                item: dict = {"data": content.get("data", {})}
                if content.get("metadata"):
                    item["metadata"] = content["metadata"]
                outputs.append(item)
            elif kind == "error":
                outputs.append(
                    {
                        "ename": content.get("ename"),
                        "evalue": content.get("evalue"),
                        "traceback": content.get("traceback", []),
                    }
                )
            elif kind == "clear_output":
                outputs.clear()

        try:
            k.client.execute_interactive(
                code, timeout=timeout, output_hook=hook, store_history=False, allow_stdin=False
            )
        except TimeoutError:
            with contextlib.suppress(Exception):
                k.manager.interrupt_kernel()
            raise OpFailed(f"timeout -- code ran longer than {timeout:g}s") from None
        return outputs

    # -- listing and stopping ----------------------------------------------------------------
    def running(self, project_id: str) -> list[dict]:
        """``[{pid, connectionFile, kernel_name}]`` of the project's kernels."""
        with self._lock:
            kernels = [k for (pid, _), k in self._kernels.items() if pid == project_id]
        return [
            {"pid": k.pid, "connectionFile": k.manager.connection_file, "kernel_name": k.name}
            for k in kernels
            if k.pid is not None
        ]

    def stop_pid(self, project_id: str, pid: object) -> bool:
        """Stop the project's kernel with this process id; ``False`` if it has none."""
        with self._lock:
            for key, k in list(self._kernels.items()):
                if key[0] == project_id and k.pid == pid:
                    del self._kernels[key]
                    break
            else:
                return False
        k.close()
        return True

    def stop_project(self, project_id: str) -> None:
        """Stop every kernel of the project."""
        with self._lock:
            doomed = [key for key in self._kernels if key[0] == project_id]
            kernels = [self._kernels.pop(key) for key in doomed]
        for k in kernels:
            k.close()

    def shutdown(self) -> None:
        """Stop every kernel (the emulator is stopping); later calls are refused."""
        with self._lock:
            self._closed = True
            kernels = list(self._kernels.values())
            self._kernels.clear()
        for k in kernels:
            k.close()


# -- the operations ------------------------------------------------------------------------------
def _check_exec(allow_exec: bool, name: str) -> None:
    if not allow_exec:
        raise ExecDisabled(name)


def _options(opts: dict) -> tuple[str, str, list[str] | None, str | None]:
    code, kernel = opts.get("input"), opts.get("kernel")
    if code is None and opts.get("hash") is None:
        raise OpFailed("input or hash must not be null")
    if code is None:
        raise OpFailed("the cocalc-widgets emulator keeps no saved outputs: give input")
    if kernel is None:
        raise OpFailed("kernel must be specified in hash is not specified")
    history = opts.get("history")
    if history is not None and (
        not isinstance(history, list) or not all(isinstance(h, str) for h in history)
    ):
        raise OpFailed("history must be an array of strings")
    path = opts.get("path")
    return js_str(code), js_str(kernel), history, None if path is None else js_str(path)


def _timeout(opts: dict, default: float) -> float:
    limits = opts.get("limits")
    ms = js_number(limits.get("timeout_ms")) if isinstance(limits, dict) else None
    return default if ms is None or ms <= 0 else ms / 1000.0


def hub_kernels(
    kernels: Kernels, state: EmulatorState, account_id: str, opts: dict, *, allow_exec: bool
) -> list[dict]:
    """Hub ``jupyter.kernels``: the kernel specs of a project."""
    project_id = opts.get("project_id")
    if project_id is None:
        raise OpFailed("Jupyter API is not enabled on this server.")
    if not state.is_collaborator(account_id, project_id):
        raise OpFailed("permission denied -- user must be collaborator on project")
    return kernels.specs()


def hub_execute(
    kernels: Kernels, state: EmulatorState, account_id: str, opts: dict, *, allow_exec: bool
) -> dict:
    """Hub ``jupyter.execute``: ``{output, created}``."""
    from ._copy import iso

    code, kernel, history, path = _options(opts)
    project_id = opts.get("project_id")
    if project_id is None:
        raise OpFailed("Jupyter API is not enabled on this server.")
    if not state.is_collaborator(account_id, project_id):
        raise OpFailed("permission denied -- user must be collaborator on project")
    _check_exec(allow_exec, "jupyter.execute")
    import time

    created = time.time()
    output = kernels.execute(project_id, kernel, code, history, path, DEFAULT_TIMEOUT_S)
    return {"output": output, "created": iso(created)}


def project_execute(
    kernels: Kernels,
    state: EmulatorState,
    account_id: str,
    project_id: str,
    opts: dict,
    *,
    allow_exec: bool,
) -> list[dict]:
    """Project ``system.jupyterExecute``: the list of outputs."""
    require_collaborator(state, account_id, project_id, "write")
    _check_exec(allow_exec, "system.jupyterExecute")
    code, kernel, history, path = _options(opts)
    return kernels.execute(project_id, kernel, code, history, path, _timeout(opts, 300.0))
