"""HTTP helpers shared by the API handlers: JSON/HTML responses, API keys, request bodies."""

from __future__ import annotations

import base64
import binascii
import json
import re

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

NO_AUTH = "You must provide authentication via an API key."
WRONG_KEY = "No account found. Is your API key wrong?"
RATE_LIMITED = "Too many requests, please try again later."


class HttpError(Exception):
    """Answer with ``status`` and a JSON ``{"error": message}`` body (or a given response)."""

    def __init__(self, status: int, message: str = "", response: Response | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.response = response

    def to_response(self) -> Response:
        return self.response or json_response({"error": self.message}, self.status)


def json_response(data: object, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status=status, mimetype="application/json", headers=headers)


def html_response(html: str, status: int, headers: dict | None = None) -> Response:
    return Response(html, status=status, mimetype="text/html", headers=headers)


def express_404(request: Request) -> Response:
    """What Express answers for a route it does not have."""
    path = request.path
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
        f"</head>\n<body>\n<pre>Cannot {request.method} {path}</pre>\n</body>\n</html>\n"
    )
    return html_response(html, 404)


def nextjs_404(_request: Request) -> Response:
    """What CoCalc's Next.js server answers for a page it does not have (its own 404 page,
    titled as the real server's)."""
    html = (
        '<!DOCTYPE html><html><head><meta charSet="utf-8"/><title>404 Page Not Found</title>'
        '</head><body><div id="__next"><div><h1 class="next-error-h1">404</h1>'
        "<div><h2>This page could not be found.</h2></div></div></div></body></html>"
    )
    return html_response(html, 404)


def get_api_key(request: Request) -> str:
    """CoCalc's ``getApiKey``: Basic (key as user name) or Bearer; raises :class:`HttpError`."""
    header = request.headers.get("Authorization")
    if header is None:
        raise HttpError(400, NO_AUTH)
    parts = header.split()
    kind = parts[0] if parts else ""
    value = parts[1] if len(parts) > 1 else ""
    if kind == "Bearer":
        return value
    if kind == "Basic":
        try:
            decoded = base64.b64decode(value + "=" * (-len(value) % 4)).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return ""
        return decoded.split(":")[0]
    raise HttpError(400, f"Unknown authorization type '{kind}'")


_INDEXED = re.compile(r"^(.*)\[(\d*)\]$")


def form_to_dict(form: object) -> dict:
    """A form body as Express' ``qs`` (extended) sees it: strings, ``a[]``/repeats as arrays."""
    out: dict[str, object] = {}
    for key in form:  # type: ignore[attr-defined]
        values = form.getlist(key)  # type: ignore[attr-defined]
        match = _INDEXED.match(key)
        if match:
            name = match.group(1)
            current = out.get(name)
            items = current if isinstance(current, list) else ([] if current is None else [current])
            out[name] = items + list(values)
        elif len(values) > 1:
            out[key] = list(values)
        else:
            out[key] = values[0]
    return out


def read_body(request: Request, max_body: int) -> dict | list | object:
    """The request body: parsed JSON, a form as a dict, or ``{}``; raises :class:`HttpError`.

    Bodies over ``max_body`` bytes give HTTP 413; malformed JSON gives HTTP 400 JSON.
    """
    length = request.content_length
    if length is not None and length > max_body:
        _drain(request, length)
        raise HttpError(
            413,
            response=html_response(
                "<html><head><title>413 Request Entity Too Large</title></head><body>"
                "<center><h1>413 Request Entity Too Large</h1></center><hr>"
                "<center>nginx</center></body></html>",
                413,
            ),
        )
    request.max_content_length = max_body
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise HttpError(413, "request entity too large") from None
    if len(raw) > max_body:
        raise HttpError(413, "request entity too large")
    mimetype = request.mimetype
    if mimetype == "application/json" or mimetype.endswith("+json"):
        if not raw.strip():
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise HttpError(400, f"invalid JSON in request body: {err}") from None
    if mimetype == "application/x-www-form-urlencoded":
        return form_to_dict(request.form)
    return {}


def _drain(request: Request, length: int, limit: int = 256 * 1024 * 1024) -> None:
    """Read and discard an oversized body so the client sees the 413 instead of a reset."""
    if length > limit:
        return
    stream = request.environ.get("wsgi.input")
    left = length
    while stream is not None and left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        left -= len(chunk)
