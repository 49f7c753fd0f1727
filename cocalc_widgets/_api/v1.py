"""API v1 (``POST /api/v1/<endpoint>``), the one CoCalc's docs teach; older self-hosted servers
(cocalc-docker before mid-2025) speak it. Replies are ``{"event": ..., "id": ...}`` objects;
an operation's error is HTTP 200 ``{"event": "error", "error": text}``."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from .._http import refusal
from ..copyjob import CopyRequest, CopyStatus, parse_time
from ..errors import (
    CoCalcError,
    NotFound,
    OutcomeUnknown,
)
from ..results import ExecResult
from .base import (
    CopyById,
    CopyDone,
    Generation,
    as_copy_failure,
    exec_result,
    finished_now,
    unexpected,
)

# Calls that change nothing: safe to re-send after a lost reply.
_READ_ONLY = {"copy_path_status", "read_text_file_from_project", "ping"}


class V1(Generation):
    """API v1: copies with ids and a status search, scheduled copies, ``user_auth``."""

    name = "v1"
    prefers = {
        "copy": 1,
        "copy_many": 0,  # one request a copy, and one search (pages of 1,000) watches them all
        "copy_status": 1,
        "copy_search": 0,
        "copy_delete": 0,
        "user_auth": 0,
        "ping": 1,
        "read_file": 1,
        "write_file": 2,
        "exec": 2,
        "create_project": 2,
        "query": 2,
        "query_options": 1,
        "call": 1,
    }
    copy_extras = frozenset({"exclude", "scheduled"})
    probe_route = "/api/v1/ping"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claimed: set[str] = set()  # copy ids already given to a copy

    def _post(
        self,
        endpoint: str,
        body: dict[str, Any],
        *,
        safe: bool | None = None,
        read_timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one call and return its reply; ``{"event": "error"}`` raises a typed error."""
        body = {k: v for k, v in body.items() if v is not None}
        reply = self.transport.post(
            f"{self.host}/api/v1/{endpoint}",
            body,
            endpoint=endpoint,
            safe=endpoint in _READ_ONLY if safe is None else safe,
            read_timeout=read_timeout,
        )
        if not isinstance(reply, dict):
            raise unexpected("a JSON object", reply, endpoint)
        text = reply.get("error")
        if text is not None and reply.get("event") in ("error", None):
            text = text if isinstance(text, str) else str(text)
            raise refusal(text, endpoint=endpoint, status=200, server_message=text, response=reply)
        return reply

    def probe(self) -> bool:
        return self._speaks(lambda: self._post("ping", {}))

    # -- copies ---------------------------------------------------------------------------------
    def copy(self, request: CopyRequest) -> CopyById | CopyDone:
        sent_at = time.time()
        wait = request.wait_until_done
        read_timeout = 300.0 + (request.timeout or 0) if wait else None
        body = {k: v for k, v in request.all_fields().items() if k != "bwlimit"}
        try:
            reply = self._post("copy_path_between_projects", body, read_timeout=read_timeout)
        except OutcomeUnknown as lost:
            return self._reconcile(request, sent_at, lost)
        except CoCalcError as err:
            if wait:
                raise as_copy_failure(err) from None
            raise
        copy_id = reply.get("copy_path_id")
        if copy_id:
            self._claimed.add(copy_id)
            pending = None
            if request.scheduled:
                pending = CopyStatus(
                    copy_path_id=copy_id,
                    source_project_id=request.src_project_id,
                    source_path=request.src_path,
                    target_project_id=request.target_project_id,
                    target_path=request.target,
                    scheduled=parse_time(request.scheduled),
                )
            return CopyById(copy_id, pending)
        if reply.get("event") != "success":
            raise unexpected("a copy_path_id or success", reply, "copy_path_between_projects")
        return CopyDone(finished_now(request, reply))

    def _reconcile(self, request: CopyRequest, sent_at: float, lost: OutcomeUnknown) -> CopyById:
        """After a lost reply, find the copy CoCalc started for this request."""
        # CoCalc's search returns unfinished copies (pending=True) or finished ones
        # (pending=False), never both: ask for both, unfinished first, so that a copy finishing
        # between the two searches is still seen by the second.
        found: list[CopyStatus] = []
        try:
            for pending in (True, False):
                found += self.copy_search(
                    {
                        "src_project_id": request.src_project_id,
                        "target_project_id": request.target_project_id,
                        "src_path": request.src_path,
                        "pending": pending,
                        "limit": 100,
                    }
                )
        except CoCalcError as err:
            lost.message += f"; looking it up failed too ({type(err).__name__})"
            raise lost from None
        skew = self.transport.clock_skew
        since = datetime.fromtimestamp(sent_at + skew - 2.0, tz=timezone.utc)
        target = request.target
        unique = {s.copy_path_id: s for s in reversed(found)}  # the finished record wins
        matches = [
            s
            for s in unique.values()
            if s.copy_path_id not in self._claimed
            and (s.target_path or s.source_path) == target
            and (s.time is None or s.time >= since)
        ]
        if len(matches) == 1:
            copy_id = matches[0].copy_path_id
            assert copy_id is not None
            self._claimed.add(copy_id)
            return CopyById(copy_id, matches[0])
        if not matches:
            # No record: CoCalc did not start it. Nothing was done, so the caller may retry.
            lost.message += "; CoCalc has no record of this copy, so it most likely did not run"
        else:
            lost.message += f"; {len(matches)} matching copies were found, so it is ambiguous"
        raise lost

    def copy_status(self, copy_path_id: str, request: CopyRequest | None) -> CopyStatus:
        reply = self._post("copy_path_status", {"copy_path_id": copy_path_id})
        data = reply.get("data")
        if isinstance(data, list):
            data = data[0] if data else None
        if not isinstance(data, dict):
            raise NotFound(
                f"No copy with id {copy_path_id}", endpoint="copy_path_status", response=reply
            )
        return CopyStatus.from_v1(data)

    def copy_search(self, filters: dict[str, Any]) -> list[CopyStatus]:
        reply = self._post("copy_path_status", filters)
        data = reply.get("data")
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        return [CopyStatus.from_v1(d) for d in items if isinstance(d, dict)]

    def copy_delete(self, copy_path_id: str) -> str:
        reply = self._post("copy_path_delete", {"copy_path_id": copy_path_id})
        return str(reply.get("data", ""))

    # -- files, exec, projects, tokens ----------------------------------------------------------
    def write_file(self, project_id: str, path: str, content: str) -> None:
        body = {"project_id": project_id, "path": path, "content": content}
        self._post("write_text_file_to_project", body)

    def read_file(self, project_id: str, path: str) -> str:
        reply = self._post("read_text_file_from_project", {"project_id": project_id, "path": path})
        content = reply.get("content")
        if not isinstance(content, str):
            raise unexpected("the file's text", content, "read_text_file_from_project")
        return content

    def exec(self, project_id: str, fields: dict[str, Any]) -> ExecResult:
        reply = self._post(
            "project_exec",
            {"project_id": project_id, **fields},
            read_timeout=fields["timeout"] + 30.0,
        )
        return exec_result(reply)

    def create_project(self, fields: dict[str, Any]) -> str:
        reply = self._post("create_project", fields)
        pid = reply.get("project_id")
        if not isinstance(pid, str):
            raise unexpected("a project_id", reply, "create_project")
        return pid

    def user_auth(self, account_id: str, password: str) -> str:
        reply = self._post("user_auth", {"account_id": account_id, "password": password})
        token = reply.get("auth_token")
        if not isinstance(token, str) or not token:
            raise unexpected("an auth token", reply, "user_auth")
        return token

    def ping(self) -> Any:
        return self._post("ping", {}).get("now")

    def query(self, query: dict[str, Any], options: list[Any] | None, read: bool) -> Any:
        reply = self._post("query", {"query": query, "options": options}, safe=read)
        return reply.get("query")

    def call(self, endpoint: str, fields: dict[str, Any]) -> Any:
        return self._post(endpoint, fields)
