"""Copy operations: real copies between project folders, run in background threads.

Each operation is a row like CoCalc's ``copy_paths`` table (``started``, ``finished``,
``error`` set as they happen, times as ISO strings). A scheduled operation waits for its time
and can be deleted before it runs. Every copy that actually ran is appended to the ledger.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ._ops import OpFailed
from ._rsync import CopyError, RsyncOptions, check_copy, rsync_copy
from ._state import EmulatorState, PathError, UnknownProject
from ._values import js_number, js_str

WAIT_LIMIT_S = 240.0  # KuCalc waits at most 4 minutes for wait_until_done


def iso(t: float | None) -> str | None:
    """``2020-11-03T16:20:54.222Z`` (what CoCalc's JSON dates look like), or ``None``."""
    if t is None:
        return None
    stamp = datetime.fromtimestamp(t, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def rsync_timeout_error(seconds: float) -> str:
    return (
        f"[sender] io timeout after {seconds:g} seconds -- exiting\n"
        "rsync error: timeout in data send/receive (code 30)"
    )


def exclude_option(value: object) -> list[str] | None:
    """A copy's ``exclude`` (rsync patterns) as sent; raises :class:`OpFailed`."""
    if value is not None and not (
        isinstance(value, list) and all(isinstance(p, str) for p in value)
    ):
        raise OpFailed("exclude must be an array of strings (rsync patterns)")
    return value


def timeout_option(value: object) -> float | None:
    """A copy's ``timeout`` (rsync's inactivity limit, seconds) as sent; raises
    :class:`OpFailed`."""
    if value is None:
        return None
    seconds = js_number(value)
    if seconds is None or seconds < 0:
        raise OpFailed(f"timeout='{js_str(value)}' must be a number of seconds")
    return seconds


@dataclass
class CopyOp:
    """One copy operation (a ``copy_paths`` row)."""

    copy_path_id: str
    source_project_id: str
    source_path: str
    target_project_id: str
    target_path: str
    overwrite_newer: bool = False
    delete_missing: bool = False
    backup: bool = False
    exclude: list[str] | None = None
    timeout: float | None = None
    scheduled_at: float | None = None
    api: str = "v1"
    created: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    seq: int = 0
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def to_v1(self) -> dict:
        """The ``CopyOp`` object of ``copy_path_status``."""
        return {
            "copy_path_id": self.copy_path_id,
            "time": iso(self.created),
            "source_project_id": self.source_project_id,
            "source_path": self.source_path,
            "target_project_id": self.target_project_id,
            "target_path": self.target_path,
            "overwrite_newer": self.overwrite_newer,
            "delete_missing": self.delete_missing,
            "backup": self.backup,
            "started": iso(self.started_at),
            "finished": iso(self.finished_at),
            "scheduled": iso(self.scheduled_at),
            "error": self.error,
            "exclude": self.exclude,
        }

    def to_v2(self) -> dict:
        """The answer of v2 ``projects/copy-path-status``."""
        return {
            "started": iso(self.started_at),
            "finished": iso(self.finished_at),
            "copy_error": self.error,
        }


class CopyManager:
    """Runs copies (each in its own thread), keeps their rows and the ledger."""

    def __init__(self, state: EmulatorState, copy_delay: float = 0.0) -> None:
        self.state = state
        self.copy_delay = copy_delay
        self.ops: dict[str, CopyOp] = {}
        self.ledger: list[dict] = []
        self._lock = threading.Lock()
        self._disk = threading.Lock()
        self._stop = threading.Event()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []

    # -- paths ---------------------------------------------------------------------------------
    def _paths(self, op: CopyOp) -> tuple[Path, Path, Path, Path]:
        src = self.state.resolve(op.source_project_id, op.source_path, allow_root=True)
        dst = self.state.resolve(op.target_project_id, op.target_path, allow_root=True)
        src_root = self.state.project_dir(op.source_project_id).resolve()
        dst_root = self.state.project_dir(op.target_project_id).resolve()
        return src, dst, src_root, dst_root

    def _options(self, op: CopyOp) -> RsyncOptions:
        return RsyncOptions(
            update=not op.overwrite_newer,
            delete=op.delete_missing,
            backup=op.backup,
            exclude=list(op.exclude or []),
        )

    # -- operations ----------------------------------------------------------------------------
    def submit(self, **fields: object) -> CopyOp:
        """Validate paths (raises :class:`PathError`/:class:`UnknownProject`), then start.

        ``fields`` are :class:`CopyOp` fields except the id and the times.
        """
        op = CopyOp(copy_path_id=str(uuid.uuid4()), **fields)  # type: ignore[arg-type]
        src, dst, src_root, dst_root = self._paths(op)
        if src.exists():
            check_copy(src, dst, src_root, dst_root, self._options(op))
        with self._lock:
            op.seq = next(self._seq)
            self.ops[op.copy_path_id] = op
        thread = threading.Thread(
            target=self._run, args=(op,), daemon=True, name=f"copy-{op.copy_path_id[:8]}"
        )
        self._threads.append(thread)
        thread.start()
        return op

    def _run(self, op: CopyOp) -> None:
        if op.scheduled_at is not None:
            while not op.cancelled.is_set() and not self._stop.is_set():
                left = op.scheduled_at - time.time()
                if left <= 0:
                    break
                op.cancelled.wait(min(left, 0.25))
            if op.cancelled.is_set() or self._stop.is_set():
                return
        op.started_at = time.time()
        error: str | None = None
        written = 0
        delay = float(self.copy_delay or 0.0)
        if op.timeout and delay > float(op.timeout):
            self._stop.wait(float(op.timeout))
            error = rsync_timeout_error(float(op.timeout))
        else:
            self._stop.wait(delay)
            try:
                if self._stop.is_set():
                    raise CopyError("copy interrupted: the emulator was stopped")
                with self._disk:
                    src, dst, src_root, dst_root = self._paths(op)
                    written = rsync_copy(src, dst, src_root, dst_root, self._options(op))
            except (CopyError, PathError, UnknownProject, OSError) as err:
                error = str(err)
        finished = time.time()
        # Into the ledger before the row says finished: a client that saw the copy finished
        # must find it there.
        self.ledger.append(
            {
                "copy_path_id": op.copy_path_id,
                "api": op.api,
                "source_project_id": op.source_project_id,
                "source_path": op.source_path,
                "target_project_id": op.target_project_id,
                "target_path": op.target_path,
                "started": iso(op.started_at),
                "finished": iso(finished),
                "error": error,
                "files": written,
            }
        )
        op.error = error
        op.finished_at = finished
        op.done.set()

    def wait(self, op: CopyOp, timeout: float | None = WAIT_LIMIT_S) -> bool:
        """Wait until ``op`` finished (``timeout=None``: however long); ``False`` on timeout."""
        return op.done.wait(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every copy that is not scheduled for later has finished."""
        deadline = time.time() + timeout
        with self._lock:
            ops = [op for op in self.ops.values() if op.scheduled_at is None]
        return all(op.done.wait(max(0.0, deadline - time.time())) for op in ops)

    def get(self, copy_path_id: str) -> CopyOp | None:
        with self._lock:
            return self.ops.get(copy_path_id)

    def search(
        self,
        *,
        src_project_id: str | None = None,
        target_project_id: str | None = None,
        src_path: str | None = None,
        pending: bool = True,
        failed: bool = False,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[CopyOp]:
        """``copy_path_status`` search: newest first (CoCalc: ``ORDER BY time DESC``)."""
        with self._lock:
            rows = list(self.ops.values())
        out = []
        for op in rows:
            if src_project_id is not None and op.source_project_id != src_project_id:
                continue
            if target_project_id is not None and op.target_project_id != target_project_id:
                continue
            if src_path is not None and op.source_path != src_path:
                continue
            if failed and op.error is None:
                continue
            if pending == op.finished:
                continue
            out.append(op)
        out.sort(key=lambda o: (o.created, o.seq), reverse=True)
        return out[offset : offset + limit]

    def delete_scheduled(self, copy_path_id: str) -> bool:
        """Delete a scheduled, unfinished operation; ``False`` if there is none."""
        with self._lock:
            op = self.ops.get(copy_path_id)
            if op is None or op.scheduled_at is None or op.finished:
                return False
            del self.ops[copy_path_id]
        op.cancelled.set()
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop waiting for scheduled copies and let running ones end."""
        self._stop.set()
        for op in list(self.ops.values()):
            op.cancelled.set()
        deadline = time.time() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.time()))
