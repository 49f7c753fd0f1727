"""TCP_NODELAY on Jupyter Server's kernel websocket (faster widget round trips).

Stock Jupyter Server leaves Nagle's algorithm on for the websocket between the kernel and the
browser, so a small kernel->browser message sent while an earlier one is still unacknowledged
waits for the browser's delayed ACK (about 40 ms on Linux). Turn it off, either way:

- on the command line, as a server extension:
  ``jupyter lab --ServerApp.jpserver_extensions="cocalc_widgets.nodelay=True"``;
- in ``jupyter_server_config.py``:
  ``c.ServerApp.jpserver_extensions = {"cocalc_widgets.nodelay": True}``, or
  ``c.ServerApp.kernel_websocket_connection_class = NODELAY`` with
  ``NODELAY = "cocalc_widgets.nodelay.NoDelayKernelWebsocketConnection"``.

This module imports ``jupyter_server``; ``import cocalc_widgets`` does not import it.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

__all__ = ["NoDelayKernelWebsocketConnection"]


class NoDelayKernelWebsocketConnection(ZMQChannelsWebsocketConnection):
    """Jupyter Server's kernel websocket connection, with TCP_NODELAY set on its socket."""

    def connect(self) -> Any:
        handler = self.websocket_handler
        if handler is not None and getattr(handler, "ws_connection", None) is not None:
            handler.set_nodelay(True)
        return super().connect()


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "cocalc_widgets.nodelay"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Use :class:`NoDelayKernelWebsocketConnection` unless another class was configured."""
    settings = serverapp.web_app.settings
    current = settings.get("kernel_websocket_connection_class")
    if current is None or current is ZMQChannelsWebsocketConnection:
        settings["kernel_websocket_connection_class"] = NoDelayKernelWebsocketConnection
        serverapp.log.info("cocalc_widgets.nodelay: TCP_NODELAY on kernel websockets")
    elif not issubclass(current, NoDelayKernelWebsocketConnection):
        serverapp.log.warning(
            "cocalc_widgets.nodelay: kernel_websocket_connection_class is %s; not replaced",
            current,
        )
