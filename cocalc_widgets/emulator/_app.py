"""The WSGI application and the threaded werkzeug server that runs it."""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from ._api import ApiContext
from ._faults import DropConnection
from ._http import HttpError, json_response, nextjs_404
from ._kiosk import handle_kiosk
from ._landing import landing_page

log = logging.getLogger("cocalc_widgets.emulator")


class EmulatorApp:
    """WSGI app: the API first, then the front page and the kiosk pages, else a 404 page."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.ctx.handle(request)
            if response is None and request.path == "/" and request.method in ("GET", "HEAD"):
                response = landing_page(self.ctx, request)
            if response is None:
                response = handle_kiosk(self.ctx.state, request)
            if response is None:
                response = nextjs_404(request)
        except HttpError as err:
            response = err.to_response()
        except DropConnection:
            raise
        except Exception:  # never a traceback page
            log.exception("request %s %s failed", request.method, request.path)
            response = json_response({"error": "emulator internal error"}, 500)
        assert isinstance(response, Response)
        return response(environ, start_response)


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, plus: a :class:`DropConnection` closes the socket with no reply."""

    quiet = True

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        if isinstance(error, DropConnection):
            self.close_connection = True
            try:
                linger = struct.pack("ii", 1, 0)  # reset, do not linger
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not self.quiet:
            super().log_request(code, size)

    def log_error(self, format: str, *args: Any) -> None:
        # A failed TLS handshake (a plain-http client on the https port, a client that does not
        # trust the certificate) is the client's problem: logged only when not quiet.
        if not self.quiet:
            super().log_error(format, *args)


class _LoudRequestHandler(_RequestHandler):
    quiet = False


class ServerThread:
    """A threaded werkzeug server running ``app`` in a daemon thread (https with
    ``ssl_context``)."""

    def __init__(
        self,
        app: EmulatorApp,
        host: str,
        port: int,
        *,
        quiet: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        handler = _RequestHandler if quiet else _LoudRequestHandler
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=handler, ssl_context=ssl_context
        )
        self.server.daemon_threads = True  # type: ignore[attr-defined]
        self.port = self.server.server_port
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name=f"cocalc-emulator-{self.port}",
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
