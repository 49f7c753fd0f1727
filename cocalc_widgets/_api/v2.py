"""API v2 (``POST /api/v2/<path>``), CoCalc's REST routes on current servers (cocalc.com
included). Plain JSON bodies; an error is HTTP 200 ``{"error": text}``. Copies get an id
(``copy_id``) and a status route; there is no search, no scheduled copy, no ping, no file read
and no auth token here."""

from __future__ import annotations

from typing import Any

from .._http import refusal
from ..copyjob import CopyRequest, CopyStatus
from ..errors import (
    CoCalcError,
    OutcomeUnknown,
)
from ..results import ExecResult
from .base import (
    COPY_OPTIONS,
    CopyById,
    CopyDone,
    Generation,
    as_copy_failure,
    exec_result,
    finished_now,
    unexpected,
)

_COPY = "projects/copy-path"
_STATUS = "projects/copy-path-status"
_PROBE = "customize"


class V2(Generation):
    """API v2: asynchronous copies with an id, files, exec, projects, user queries."""

    name = "v2"
    prefers = {
        "copy": 0,
        "copy_many": 1,  # a status request per copy
        "copy_status": 0,
        "write_file": 0,
        "exec": 0,
        "create_project": 0,
        "query": 0,
        "call": 0,
    }
    copy_extras = frozenset({"bwlimit"})
    probe_route = f"/api/v2/{_PROBE}"

    def _post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        safe: bool = False,
        read_timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one call and return its reply; ``{"error": text}`` raises a typed error."""
        body = {k: v for k, v in body.items() if v is not None}
        reply = self.transport.post(
            f"{self.host}/api/v2/{path}",
            body,
            endpoint=path,
            safe=safe,
            read_timeout=read_timeout,
        )
        if not isinstance(reply, dict):
            raise unexpected("a JSON object", reply, path)
        text = reply.get("error")
        if text is not None:
            text = text if isinstance(text, str) else str(text)
            raise refusal(text, endpoint=path, status=200, server_message=text, response=reply)
        return reply

    def probe(self) -> bool:
        # ``customize`` (the site's settings; read-only, no key needed) is on every server with
        # API v2 since 2021; copy-path-status only since 2026-05.
        return self._speaks(lambda: self._post(_PROBE, {"fields": ["site_name"]}, safe=True))

    # -- copies ---------------------------------------------------------------------------------
    def copy(self, request: CopyRequest) -> CopyById | CopyDone:
        wait = request.wait_until_done
        body = {
            "path": request.src_path,
            **request.fields("src_project_id", "target_project_id", "target_path"),
            **request.fields(*COPY_OPTIONS, "bwlimit", "wait_until_done"),
        }
        # A server outside KuCalc (single-user, a self-hosted docker) copies before it answers
        # even when asked not to wait, so a copy's reply may take as long as the copy: the
        # blocking-copy allowance (copy_wait), not the 30 s of a quick call. A copy that took
        # longer than the read timeout used to end "unknown" though it ran.
        read_timeout = max(self.settings.copy_wait, 300.0 + (request.timeout or 0))
        try:
            reply = self._post(_COPY, body, read_timeout=read_timeout)
        except OutcomeUnknown as lost:
            lost.message += (
                "; API v2 cannot search copies, so look at the target to see whether it ran"
            )
            raise
        except CoCalcError as err:
            if wait:
                raise as_copy_failure(err) from None
            raise
        copy_id = reply.get("copy_id")
        if copy_id is not None and not isinstance(copy_id, str):
            raise unexpected("a copy_id", reply, _COPY)
        if copy_id:
            return CopyById(copy_id)
        # No id (or ""): the server copied before it answered (outside KuCalc, single-user).
        return CopyDone(finished_now(request, reply))

    def copy_status(self, copy_path_id: str, request: CopyRequest | None) -> CopyStatus:
        reply = self._post(_STATUS, {"copy_id": copy_path_id}, safe=True)
        return CopyStatus.from_v2(copy_path_id, reply, request)

    # -- files, exec, projects ------------------------------------------------------------------
    def write_file(self, project_id: str, path: str, content: str) -> None:
        body = {"project_id": project_id, "path": path, "content": content}
        self._post("projects/write-text-file", body)

    def exec(self, project_id: str, fields: dict[str, Any]) -> ExecResult:
        reply = self._post(
            "exec", {"project_id": project_id, **fields}, read_timeout=fields["timeout"] + 30.0
        )
        return exec_result(reply)

    def create_project(self, fields: dict[str, Any]) -> str:
        # CoCalc's projects/create ignores ``start``: projects/start does it.
        body = {k: v for k, v in fields.items() if k != "start"}
        reply = self._post("projects/create", body)
        pid = reply.get("project_id")
        if not isinstance(pid, str):
            raise unexpected("a project_id", reply, "projects/create")
        if fields.get("start"):
            try:
                self._post("projects/start", {"project_id": pid})
            except CoCalcError as err:
                err.message += f" (project {pid} was created; starting it failed)"
                raise
        return pid

    def query(self, query: dict[str, Any], options: list[Any] | None, read: bool) -> Any:
        # CoCalc's user-query route reads only ``query`` (the client sends options elsewhere).
        reply = self._post("user-query", {"query": query}, safe=read)
        return reply.get("query")

    def call(self, endpoint: str, fields: dict[str, Any]) -> Any:
        return self._post(endpoint, fields)
