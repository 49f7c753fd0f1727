"""The API side of the emulator: v1 and v2 dispatch, authentication, JSON handling, faults.

Order of checks for v1 follows CoCalc (``hub/servers/app/api.ts`` then
``hub/api/handler.coffee``): body parsing (413, malformed JSON), Authorization header, endpoint,
parameters, API key, handler. Dispatcher errors are HTTP 400 ``{"error"}``; operation errors
are HTTP 200 ``{"event":"error","id","error"}``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable

from werkzeug.wrappers import Request, Response

from . import _api_v1 as v1
from . import _api_v2 as v2
from ._copy import CopyManager
from ._faults import GATEWAY_TIMEOUT_HTML, SERVER_ERROR_HTML, DropConnection, Fault, Faults
from ._http import (
    WRONG_KEY,
    HttpError,
    express_404,
    get_api_key,
    html_response,
    json_response,
    nextjs_404,
    read_body,
)
from ._state import EmulatorState

log = logging.getLogger("cocalc_widgets.emulator")
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}


class ApiContext:
    """Everything the API handlers share: state, copies, switches, request log, bans."""

    def __init__(
        self,
        state: EmulatorState,
        copies: CopyManager,
        *,
        faults: Faults,
        allow_exec: bool = False,
        api_versions: Iterable[str] = ("v1", "v2"),
        max_body: int = 16 * 1024 * 1024,
        ban_seconds: float = 60.0,
    ) -> None:
        self.state = state
        self.copies = copies
        self.faults = faults
        self.allow_exec = allow_exec
        self.api_versions = tuple(api_versions)
        self.max_body = max_body
        self.ban_seconds = ban_seconds
        self.bans: dict[str, float] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    # -- entry point ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response | None:
        """Answer ``/api/v1/*``, ``/api/v2/*`` and ``/_emulator/*``; ``None`` for other paths."""
        path = request.path
        if path.startswith("/_emulator/"):
            return self._debug(request)
        for api in ("v1", "v2"):
            prefix = f"/api/{api}/"
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                return self._api(api, path[len(prefix) :].strip("/"), request)
        return None

    def _api(self, api: str, endpoint: str, request: Request) -> Response:
        record = {
            "time": time.time(),
            "method": request.method,
            "path": request.path,
            "api": api,
            "endpoint": endpoint,
            "fault": None,
        }
        self.requests.append(record)
        self.faults.delay()
        fault = self.faults.decide(endpoint)
        if fault is not None:
            record["fault"] = fault.kind + (" (after)" if fault.after else "")
            if not fault.after:
                return self._fault_response(fault)
        try:
            response = self._v1(endpoint, request) if api == "v1" else self._v2(endpoint, request)
        except HttpError as err:
            response = err.to_response()
        record["status"] = response.status_code
        if fault is not None:
            return self._fault_response(fault)
        return response

    def _fault_response(self, fault: Fault) -> Response:
        if fault.kind == "drop":
            raise DropConnection("emulator fault injection: connection dropped")
        if fault.kind == "gateway_timeout":
            return html_response(GATEWAY_TIMEOUT_HTML, 504)
        if fault.kind == "rate_limit":
            return json_response(
                {"error": "Too many requests, please try again later."},
                429,
                headers={"Retry-After": self.faults.retry_after_header()},
            )
        status = int(self.faults.error_status or 503)
        html = SERVER_ERROR_HTML.format(code=status, reason=_REASONS.get(status, "Server Error"))
        return html_response(html, status)

    # -- v1 ------------------------------------------------------------------------------------
    def _v1(self, endpoint: str, request: Request) -> Response:
        if "v1" not in self.api_versions:
            return nextjs_404(request)
        if request.method != "POST":
            return express_404(request)
        body = read_body(request, self.max_body)
        key = get_api_key(request)
        event = endpoint.rsplit("/", 1)[-1]
        known = event in v1.FIELDS or event in v1.NOT_EMULATED
        if not known and event not in v1.NOT_API:
            raise HttpError(400, f"unknown endpoint '{event}'")
        if event in v1.NOT_API:
            raise HttpError(400, f"endpoint '{event}' is not part of the HTTP API")
        mesg: dict = dict(body) if isinstance(body, dict) else {}
        if event in v1.FIELDS:
            try:
                mesg = v1.validate(event, body)
            except ValueError as err:
                raise HttpError(400, f"invalid parameters '{err}'") from None
            if event == "query" and mesg.get("multi_response") not in (None, False):
                raise HttpError(400, "multi_response queries aren't supported")
        if mesg.get("id") is None:
            mesg["id"] = str(uuid.uuid4())
        if not self.state.check_api_key(key):
            raise HttpError(400, WRONG_KEY)
        if event in v1.NOT_EMULATED:
            raise HttpError(400, f"unknown message event type '{event}'")
        try:
            return json_response(v1.HANDLERS[event](self, mesg))
        except v1.OpError as err:
            return json_response({"event": "error", "id": mesg["id"], "error": str(err)})
        except Exception as err:  # never a traceback page
            log.exception("v1 %s failed", event)
            return json_response(
                {"event": "error", "id": mesg["id"], "error": f"emulator internal error: {err!r}"}
            )

    # -- v2 ------------------------------------------------------------------------------------
    def _v2(self, endpoint: str, request: Request) -> Response:
        if "v2" not in self.api_versions:
            return express_404(request)
        handler = v2.HANDLERS.get(endpoint)
        if handler is None:
            return nextjs_404(request)
        if request.method != "POST":
            return json_response({"message": "must use a POST request"}, 404)
        body = read_body(request, self.max_body)
        if not isinstance(body, dict):
            body = {}
        try:
            signed_in = self.state.check_api_key(get_api_key(request))
        except HttpError:
            signed_in = False
        try:
            return json_response(handler(self, body, signed_in))
        except v2.V2Error as err:
            return json_response({"error": str(err)})
        except Exception as err:  # never a traceback page
            log.exception("v2 %s failed", endpoint)
            return json_response({"error": f"emulator internal error: {err!r}"})

    # -- debug ---------------------------------------------------------------------------------
    def _debug(self, request: Request) -> Response:
        if request.path.rstrip("/") != "/_emulator/ledger":
            return nextjs_404(request)
        if request.method not in ("GET", "POST"):
            return express_404(request)
        if not self.state.check_api_key(get_api_key(request)):
            raise HttpError(400, WRONG_KEY)
        return json_response(list(self.copies.ledger))
