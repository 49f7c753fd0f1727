"""The API side of the emulator: which generation answers which path, faults, the request log.

``/api/v1/*`` goes to ``_api_v1``, ``/api/v2/*`` to ``_api_v2``, ``/api/conat/hub`` and
``/api/conat/project`` to ``_api_conat``; each maps its own envelope onto the shared
operations. A generation that is not served answers as a server without it does.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial

from werkzeug.wrappers import Request, Response

from . import _api_conat as conat
from . import _api_v1 as v1
from . import _api_v2 as v2
from ._copy import CopyManager
from ._faults import GATEWAY_TIMEOUT_HTML, SERVER_ERROR_HTML, DropConnection, Fault, Faults
from ._http import (
    RATE_LIMITED,
    WRONG_KEY,
    HttpError,
    express_404,
    get_api_key,
    html_response,
    json_response,
    nextjs_404,
)
from ._jupyter import Kernels
from ._ratelimit import RateLimiter
from ._state import EmulatorState
from ._tokens import Bans
from ._versions import API_VERSIONS, parse_api_versions

_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}
# What a server without a generation answers on its paths.
_NOT_SERVED: dict[str, Callable[[Request], Response]] = {
    "v1": nextjs_404,  # current cocalc.com: Next.js has no /api/v1
    "v2": express_404,  # an old hub: Express has no /api/v2
    "conat": nextjs_404,  # an old server: Next.js has no /api/conat
}


class ApiContext:
    """Everything the API handlers share: state, copies, switches, request log, bans, the
    rate limit.

    ``v1_bans`` (60 s) and ``conat_bans`` (30 s) hold the wrong-password bans of v1
    ``user_auth`` and conat ``system.generateUserAuthToken``; their ``seconds`` are settable.
    ``rate_limiter`` refuses API requests above its limit (see ``_ratelimit``).
    """

    def __init__(
        self,
        state: EmulatorState,
        copies: CopyManager,
        *,
        faults: Faults,
        allow_exec: bool = False,
        api_versions: Iterable[str] = API_VERSIONS,
        max_body: int = 16 * 1024 * 1024,
        ban_seconds: float = 60.0,
        conat_ban_seconds: float = 30.0,
        rate_limit: int | None = None,
        single_user: bool = False,
    ) -> None:
        self.state = state
        #: Copies as single-user CoCalc makes them (API v2 answers after the copy, no id).
        self.single_user = single_user
        self.copies = copies
        self.faults = faults
        self.allow_exec = allow_exec
        self._api_versions = parse_api_versions(api_versions)
        self.max_body = max_body
        self.v1_bans = Bans(ban_seconds)
        self.conat_bans = Bans(conat_ban_seconds)
        self.rate_limiter = RateLimiter(rate_limit)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.jupyter = Kernels(state)
        self.caller: str | None = None

    @property
    def account_id(self) -> str:
        """The account a request speaks for (see :meth:`for_caller`); the key's owner by
        default."""
        return self.caller or self.state.account_id

    def for_caller(self, account_id: str) -> ApiContext:
        """This context for one request by ``account_id`` (its key's account): a shallow copy
        sharing everything else."""
        ctx = copy.copy(self)
        ctx.caller = account_id
        return ctx

    @property
    def api_versions(self) -> tuple[str, ...]:
        """The generations served (any of ``v1``, ``v2``, ``conat``)."""
        return self._api_versions

    @api_versions.setter
    def api_versions(self, value: Iterable[str]) -> None:
        self._api_versions = parse_api_versions(value)

    # -- entry point ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response | None:
        """Answer the API paths and ``/_emulator/*``; ``None`` for other paths."""
        path = request.path
        if path.startswith("/_emulator/"):
            return self._debug(request)
        for api, module in (("v1", v1), ("v2", v2)):
            prefix = f"/api/{api}/"
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                endpoint = path[len(prefix) :].strip("/")
                answer = partial(module.handle, self, endpoint, request)
                return self._serve(api, endpoint, request, answer)
        if path in (conat.HUB_PATH, conat.PROJECT_PATH):
            try:  # read first: the request log names the method called
                params = conat.read_params(request, self.max_body)
            except HttpError as err:
                return self._serve("conat", "", request, err.to_response)
            name = params.get("name")
            answer = partial(conat.handle, self, request, params)
            return self._serve("conat", name if isinstance(name, str) else "", request, answer)
        return None

    def _serve(
        self, api: str, endpoint: str, request: Request, answer: Callable[[], Response]
    ) -> Response:
        """Log the request, apply the latency, the rate limit and faults, and answer (or 404 if
        ``api`` is not served). A request over the rate limit gets 429 and does nothing."""
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
        wait = self.rate_limiter.admit()
        if wait is not None:
            record["fault"], record["status"] = "rate_limit", 429
            return _too_many_requests(RateLimiter.retry_after(wait))
        fault = self.faults.decide(endpoint)
        if fault is not None:
            record["fault"] = fault.kind + (" (after)" if fault.after else "")
            if not fault.after:
                return self._fault_response(fault)
        try:
            response = answer() if api in self.api_versions else _NOT_SERVED[api](request)
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
            return _too_many_requests(self.faults.retry_after_header())
        status = int(self.faults.error_status or 503)
        html = SERVER_ERROR_HTML.format(code=status, reason=_REASONS.get(status, "Server Error"))
        return html_response(html, status)

    # -- debug ---------------------------------------------------------------------------------
    def _debug(self, request: Request) -> Response:
        if request.path.rstrip("/") != "/_emulator/ledger":
            return nextjs_404(request)
        if request.method not in ("GET", "POST"):
            return express_404(request)
        if not self.state.check_api_key(get_api_key(request)):
            raise HttpError(400, WRONG_KEY)
        return json_response(list(self.copies.ledger))


def _too_many_requests(retry_after: str) -> Response:
    """HTTP 429 with a JSON error and ``Retry-After`` (whole seconds)."""
    return json_response({"error": RATE_LIMITED}, 429, headers={"Retry-After": retry_after})
