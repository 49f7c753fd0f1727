"""``cocalc_widgets.nodelay``: TCP_NODELAY on Jupyter Server's kernel websocket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import SimpleNamespace
from unittest import mock

import pytest

nodelay = pytest.importorskip("cocalc_widgets.nodelay")
from jupyter_server.services.kernels.connection.channels import (  # noqa: E402
    ZMQChannelsWebsocketConnection,
)


def _app(current: object) -> SimpleNamespace:
    log = mock.Mock()
    return SimpleNamespace(
        web_app=SimpleNamespace(settings={"kernel_websocket_connection_class": current}), log=log
    )


def test_extension_replaces_the_default_connection_class() -> None:
    for current in (None, ZMQChannelsWebsocketConnection):
        app = _app(current)
        nodelay._load_jupyter_server_extension(app)
        cls = app.web_app.settings["kernel_websocket_connection_class"]
        assert cls is nodelay.NoDelayKernelWebsocketConnection
        assert issubclass(cls, ZMQChannelsWebsocketConnection)


def test_extension_keeps_a_custom_connection_class() -> None:
    class Custom(ZMQChannelsWebsocketConnection):
        pass

    app = _app(Custom)
    nodelay._load_jupyter_server_extension(app)
    assert app.web_app.settings["kernel_websocket_connection_class"] is Custom
    app.log.warning.assert_called_once()
    assert nodelay._jupyter_server_extension_points() == [{"module": "cocalc_widgets.nodelay"}]


def test_connect_sets_nodelay_before_connecting() -> None:
    calls: list[str] = []
    handler = SimpleNamespace(
        ws_connection=object(), set_nodelay=lambda on: calls.append(f"nodelay {on}")
    )
    conn = object.__new__(nodelay.NoDelayKernelWebsocketConnection)
    with (
        mock.patch.object(
            nodelay.NoDelayKernelWebsocketConnection,
            "websocket_handler",
            new=handler,
            create=True,
        ),
        mock.patch.object(
            ZMQChannelsWebsocketConnection, "connect", lambda self: calls.append("connect")
        ),
    ):
        conn.connect()
    assert calls == ["nodelay True", "connect"]


def test_import_cocalc_widgets_does_not_import_jupyter_server() -> None:
    code = "import sys, cocalc_widgets; print('jupyter_server' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_server_loads_it_from_the_command_line(tmp_path) -> None:
    """A real ``jupyter server`` with the documented flag loads the extension."""
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_PLATFORM_DIRS="1")
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            # jupyter_server's own module: ``-m jupyter server`` runs the first jupyter-server
            # on PATH, which may be another Python's.
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
             "--port=0", "--allow-root", "--IdentityProvider.token=t",
             f"--ServerApp.root_dir={tmp_path}",
             "--ServerApp.jpserver_extensions=cocalc_widgets.nodelay=True"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "TCP_NODELAY on kernel websockets" in text or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert "TCP_NODELAY on kernel websockets" in text, text[-2000:]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
