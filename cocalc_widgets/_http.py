"""The HTTP layer of the client: one ``requests.Session``, timeouts, safe retries, and turning
whatever the server (or a gateway) sends back into a dict or a typed error.

Retry policy (urllib3's ``Retry`` computes the backoff with jitter and reads ``Retry-After``):

- every call: retried when the connection was never made, and on HTTP 429/503 (the server did
  not take the request), honouring ``Retry-After`` up to a cap;
- read-only calls (``safe=True``) also on read timeouts, dropped connections, 500/502/504 and
  HTML gateway pages;
- a call that changes something is never re-sent once the server may have received it: a lost
  reply becomes :class:`OutcomeUnknown`.

All of it is bounded by a deadline per call.
"""

from __future__ import annotations

import email.utils
import html
import json
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from ._pacing import Pacer
from ._validate import is_loopback
from ._version import __version__
from .errors import (
    AuthenticationError,
    BadInput,
    CoCalcConnectionError,
    CoCalcError,
    CoCalcTimeout,
    CopyFailed,
    CopyKeyRefused,
    CopyNotFound,
    CopyRefused,
    NotADirectory,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
    _ServerFailedMidway,
)

log = logging.getLogger("cocalc_widgets")

USER_AGENT = f"cocalc-widgets/{__version__} (+https://pypi.org/project/cocalc-widgets/)"
_RETRY_STATUS_ALWAYS = frozenset({429, 503})
_RETRY_STATUS_SAFE = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetrySettings:
    """How hard to retry: attempts after the first, backoff, the ``Retry-After`` cap, a deadline."""

    retries: int = 4
    backoff: float = 0.25
    backoff_max: float = 8.0
    jitter: float = 0.25
    retry_after_max: float = 30.0
    deadline: float = 120.0

    def policy(self, safe: bool) -> Retry:
        statuses = _RETRY_STATUS_SAFE if safe else _RETRY_STATUS_ALWAYS
        return Retry(
            total=self.retries,
            connect=self.retries,
            read=self.retries if safe else 0,
            status=self.retries,
            other=0,
            allowed_methods=None,
            status_forcelist=statuses,
            backoff_factor=self.backoff,
            backoff_max=self.backoff_max,
            backoff_jitter=self.jitter,
            respect_retry_after_header=True,
            raise_on_status=False,
        )


class _Attempt(Exception):
    """One failed attempt: the urllib3-style error for the retry policy and our final error."""

    def __init__(self, policy_error: Exception | None, final: CoCalcError, response: Any = None):
        super().__init__(str(final))
        self.policy_error = policy_error
        self.final = final
        self.response = response


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while True:
        first = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        nxt = getattr(seen, "reason", None) or first or seen.__cause__ or seen.__context__
        if not isinstance(nxt, BaseException) or nxt is seen:
            return seen
        if isinstance(nxt, (ConnectTimeoutError, ProtocolError, ReadTimeoutError)):
            return nxt
        seen = nxt


def _server_text(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, str):
            return err
        if err is not None:
            return json.dumps(err)
    return None


def _html_title(page: str) -> str | None:
    """The ``<title>`` of an HTML page (what a gateway error page says), if any."""
    match = re.search(r"<title[^>]*>(.*?)</title>", page[:5000], re.IGNORECASE | re.DOTALL)
    return " ".join(html.unescape(match.group(1)).split())[:200] if match else None


def _classify_text(text: str) -> type[CoCalcError]:
    low = text.lower()
    if any(
        w in low
        for w in ("access blocked", "permission", "collaborator", "write access", "read access")
    ):
        return PermissionDenied
    if "enotdir" in low or "not a directory" in low:
        return NotADirectory
    if any(
        w in low
        for w in (
            "authentication",
            "api key",
            "auth token",
            "password",
            "signed in",
            "must sign in",
            "must be authenticated",
            "anonymous",  # a query CoCalc ran without an account: the key was not taken
        )
    ):
        return AuthenticationError
    if "banned" in low:
        return RateLimited
    if any(
        w in low
        for w in ("unknown endpoint", "does not exist", "not found", "enoent", "no such file")
    ):
        return NotFound
    if any(
        w in low
        for w in (
            "unexpected argument",
            "invalid parameters",
            "must be defined",
            "illegal value",
            # API v2's own parameter checks, as the real server words them
            "must be specified",
            "must be a valid uuid",
        )
    ):
        return BadInput
    return CoCalcError


def refusal(text: str, **kw: Any) -> CoCalcError:
    """The typed error for CoCalc's refusal ``text`` (an HTTP 200 ``{"error": text}``): a
    refused key says so, whatever words CoCalc used (``user must be signed in``)."""
    cls = _classify_text(text)
    key = cls is AuthenticationError and "password" not in text.lower()
    return cls("CoCalc refused the API key" if key else "CoCalc refused the call", **kw)


def copy_failure(text: str, **kw: Any) -> CopyFailed:
    """The error of a copy that ended with CoCalc's error ``text``: :class:`CopyFailed`, and
    also what the text says (:class:`CopyRefused` is a ``PermissionDenied``,
    :class:`CopyNotFound` a ``NotFound``, :class:`CopyKeyRefused` an ``AuthenticationError``),
    whichever generation carried the copy."""
    cls = _classify_text(text)
    if cls is PermissionDenied:
        return CopyRefused("CoCalc refused the copy", server_message=text, **kw)
    if cls is AuthenticationError and "password" not in text.lower():
        return CopyKeyRefused("CoCalc refused the API key", server_message=text, **kw)
    if issubclass(cls, NotFound) and "endpoint" not in text.lower():
        return CopyNotFound("The copy's source does not exist", server_message=text, **kw)
    return CopyFailed("The copy failed", server_message=text, **kw)


def _handshake_works(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if ``host:port`` completes a TLS handshake (certificate not checked: only asked to
    tell an https server from a broken http one)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def _wants_https(url: str, endpoint: str) -> CoCalcError:
    netloc = urlsplit(url).netloc
    return CoCalcConnectionError(
        f"{netloc} speaks https, and this client asked it in plain http (the server closed the "
        f"connection; nothing was carried out): use https://{netloc}",
        endpoint=endpoint,
    )


class Transport:
    """POSTs JSON to CoCalc and returns the decoded body, or raises a :class:`CoCalcError`."""

    def __init__(
        self,
        api_key: str,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        retry: RetrySettings | None = None,
        pool_size: int = 10,
        verify: bool | str | None = None,
        host_note: str = "",
    ) -> None:
        self.timeout = timeout
        #: Added to a failed connection's message: where the host came from, when the user
        #: may not know (the default host).
        self.host_note = host_note
        #: requests' ``verify`` for every request (``None``: its default, which honours
        #: ``REQUESTS_CA_BUNDLE``); a CA file's path trusts that authority.
        self.verify = verify
        self.retry = retry or RetrySettings()
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=4, pool_maxsize=pool_size, max_retries=0
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.auth = (api_key, "")
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        self.session.hooks["response"].append(self._note_clock)
        #: Number of HTTP requests sent (tests and benchmarks read it).
        self.requests_sent = 0
        #: The server's clock minus ours, in seconds (from the ``Date`` header of its replies).
        self.clock_skew = 0.0
        self._tls_ports: dict[tuple[str, int], bool] = {}
        #: Paces requests to what the server accepts (unlimited until it answers 429/503).
        self.pacer = Pacer()

    def _note_clock(self, resp: Any, *args: Any, **kwargs: Any) -> None:
        date = resp.headers.get("Date")
        if date:
            try:
                server = email.utils.parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                return
            self.clock_skew = server - time.time()

    def close(self) -> None:
        self.session.close()

    def post(
        self,
        url: str,
        body: dict[str, Any],
        *,
        endpoint: str,
        safe: bool,
        read_timeout: float | None = None,
    ) -> Any:
        """POST ``body`` as JSON to ``url`` and return the decoded JSON body.

        ``safe`` says the call changes nothing, so it may be re-sent after a lost reply.
        """
        policy = self.retry.policy(safe)
        timeout = (self.timeout[0], read_timeout or self.timeout[1])
        deadline = time.monotonic() + self.retry.deadline
        while True:
            try:
                return self._once(url, body, endpoint, safe, timeout)
            except _Attempt as attempt:
                error = attempt.final
                if attempt.response is not None:
                    has_after = "Retry-After" in attempt.response.headers
                    if not policy.is_retry("POST", attempt.response.status, has_after):
                        raise error from None
                elif attempt.policy_error is None:
                    raise error from None
                try:
                    policy = policy.increment(
                        method="POST",
                        url=url,
                        response=attempt.response,
                        error=attempt.policy_error,
                    )
                except Exception:  # urllib3 says: no more retries (or not retryable)
                    raise error from None
                wait = policy.get_backoff_time()
                if attempt.response is not None:
                    after = policy.get_retry_after(attempt.response)
                    if after is not None:
                        if after > self.retry.retry_after_max:
                            raise error from None
                        wait = after
                if time.monotonic() + wait > deadline:
                    raise error from None
                log.debug("retrying %s in %.2fs after: %s", endpoint, wait, error)
                time.sleep(wait)

    def _once(
        self, url: str, body: dict[str, Any], endpoint: str, safe: bool, timeout: tuple
    ) -> Any:
        self.pacer.acquire()
        self.requests_sent += 1
        sent = time.monotonic()
        try:
            if self.verify is None:
                resp = self.session.post(url, json=body, timeout=timeout)
            else:
                resp = self.session.post(url, json=body, timeout=timeout, verify=self.verify)
        except requests.exceptions.ConnectTimeout as exc:
            raise _Attempt(
                ConnectTimeoutError(str(exc)),
                CoCalcTimeout(
                    f"Timed out connecting to the CoCalc server at {self._server(url)}; "
                    f"nothing was sent{self.host_note}",
                    endpoint=endpoint,
                ),
            ) from None
        except requests.exceptions.SSLError as exc:
            # Not transient, and nothing reached the server: say what is wrong at once.
            raise _Attempt(None, self._tls_failed(url, endpoint, exc)) from None
        except requests.exceptions.ReadTimeout as exc:
            raise _Attempt(
                ReadTimeoutError(None, url, str(exc)),  # type: ignore[arg-type]  # no pool here
                self._lost(endpoint, safe, "timed out"),
            ) from None
        except requests.exceptions.ConnectionError as exc:
            cause = _root_cause(exc)
            if isinstance(cause, ConnectTimeoutError):  # includes NewConnectionError
                raise _Attempt(
                    cause,
                    CoCalcConnectionError(
                        f"Could not connect to the CoCalc server at {self._server(url)} "
                        f"({type(cause).__name__}); nothing was sent{self.host_note}",
                        endpoint=endpoint,
                    ),
                ) from None
            if urlsplit(url).scheme == "http" and self._speaks_tls(url):
                raise _Attempt(None, _wants_https(url, endpoint)) from None
            raise _Attempt(
                ProtocolError(str(cause)),
                self._lost(endpoint, safe, "the connection was dropped"),
            ) from None
        except requests.exceptions.RequestException as exc:
            raise CoCalcConnectionError(
                f"HTTP request failed: {type(exc).__name__}", endpoint=endpoint
            ) from None
        log.debug("POST %s -> %s", endpoint, resp.status_code)
        after = resp.headers.get("Retry-After", "")
        pause = float(after) if after.isdigit() else None
        if pause is not None and pause > self.retry.retry_after_max:
            pause = None  # the call gives up at once (RateLimited); others need not wait
        self.pacer.record(resp.status_code, time.monotonic() - sent, pause)
        return self._decode(resp, endpoint, safe)

    def _server(self, url: str) -> str:
        """The server a URL names (``scheme://host:port``)."""
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    @staticmethod
    def _tls_failed(url: str, endpoint: str, exc: Exception) -> CoCalcError:
        parts = urlsplit(url)
        text = " ".join(str(_root_cause(exc)).split())[:160]
        low = text.lower()
        if "certificate" in low:
            hint = (
                " The server's certificate is not trusted here: give the client the authority "
                "that signed it (CoCalcClient(..., verify='ca.pem'); the emulator prints its "
                "own), or fix the server's certificate."
            )
        else:
            hint = " Is it a plain http server?" if "version" in low or "record" in low else ""
            if is_loopback(parts.hostname or ""):
                hint += f" For a server on this machine without TLS, use http://{parts.netloc}."
        return CoCalcConnectionError(
            f"The TLS handshake with {parts.netloc} failed ({text}); nothing was sent.{hint}",
            endpoint=endpoint,
        )

    def _speaks_tls(self, url: str) -> bool:
        """Does the server behind an ``http://`` URL answer a TLS handshake instead? (Asked
        once per host, only after a connection was dropped.)"""
        parts = urlsplit(url)
        key = (parts.hostname or "", parts.port or 80)
        if key not in self._tls_ports:
            self._tls_ports[key] = _handshake_works(*key)
        return self._tls_ports[key]

    @staticmethod
    def _lost(endpoint: str, safe: bool, what: str) -> CoCalcError:
        if safe:
            cls = CoCalcTimeout if what == "timed out" else CoCalcConnectionError
            return cls(f"The request {what} before CoCalc answered", endpoint=endpoint)
        return OutcomeUnknown(
            f"The request was sent but {what} before CoCalc answered: it may or may not have "
            "been carried out (it was not re-sent)",
            endpoint=endpoint,
        )

    def _decode(self, resp: requests.Response, endpoint: str, safe: bool) -> Any:
        status = resp.status_code
        is_json = True
        try:
            body: Any = resp.json()  # JSON ``null`` is a result too (conat methods answer it)
        except ValueError:
            body, is_json = None, False
        text = _server_text(body)
        if status == 200 and is_json:
            return body
        if not is_json:
            text = _html_title(resp.text) or " ".join(resp.text.split())[:200] or None
        kw = {"endpoint": endpoint, "status": status, "server_message": text, "response": body}
        if status == 429:
            after = resp.headers.get("Retry-After")
            err: CoCalcError = RateLimited(
                "CoCalc is rate limiting requests",
                retry_after=float(after) if after and after.isdigit() else None,
                **kw,
            )
            raise _Attempt(None, err, resp.raw)
        if status in (401, 403) or (
            status == 400 and text and _classify_text(text) is AuthenticationError
        ):
            raise AuthenticationError("CoCalc refused the API key", **kw)
        if status == 404:
            raise NotFound("No such endpoint on this CoCalc server", **kw)
        if status == 413:
            raise BadInput("The request is too large for the server", **kw)
        if 400 <= status < 500:
            cls = _classify_text(text or "")
            raise (cls if cls is not CoCalcError else BadInput)("CoCalc rejected the request", **kw)
        if status >= 500 or not is_json:
            what = "a gateway error page" if not is_json and status >= 500 else "an error"
            if status == 200:
                what = "a reply that is not JSON"
            if safe or status == 503:
                err = ServerError(f"CoCalc's server sent {what}", **kw)
            else:
                err = _ServerFailedMidway(
                    f"CoCalc's server sent {what}: the request may or may not have been "
                    "carried out (it was not re-sent)",
                    **kw,
                )
            raise _Attempt(None, err, resp.raw if status >= 500 else None)
        raise ServerError(f"Unexpected HTTP {status} from CoCalc", **kw)
