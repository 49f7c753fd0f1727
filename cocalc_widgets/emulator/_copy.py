"""Copy operations: real copies between project folders, run concurrently in the background.

Each operation is a row like CoCalc's ``copy_paths`` table (``started``, ``finished``,
``error`` set as they happen, times as ISO strings). A scheduled operation waits for its time
and can be deleted before it runs. Every copy that actually ran is appended to the ledger.
Thousands of copies at once cost a heap entry each, not a thread (see :class:`CopyManager`).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import logging
import queue
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from ._ops import OpFailed
from ._rsync import CopyError, RsyncOptions, check_copy, rsync_copy
from ._state import EmulatorState, PathError, UnknownProject
from ._values import js_number, js_str

WAIT_LIMIT_S = 240.0  # KuCalc waits at most 4 minutes for wait_until_done
COPY_WORKERS = 2  # threads doing the disk work of copies (their delays cost no thread)
_INTERRUPTED = "copy interrupted: the emulator was stopped"
log = logging.getLogger("cocalc_widgets.emulator")


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


def missing_source(state: EmulatorState, project_id: str, path: str) -> None:
    """Single-user CoCalc looks at a copy's source before it copies: a missing one is
    ``OpFailed("ENOENT: no such file or directory, stat '<its absolute path>'")`` (Node's
    text), where a KuCalc copy would fail in rsync. Nothing else is checked here."""
    try:
        source = state.resolve(project_id, path, allow_root=True)
    except (PathError, UnknownProject):
        return  # the copy itself refuses these, in its own words
    if not source.exists() and not source.is_symlink():
        raise OpFailed(f"ENOENT: no such file or directory, stat '{source}'")


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
    cancelled: bool = False
    # Made only when someone waits for the copy (two Events per row were most of a row's size).
    waiter: threading.Event | None = field(default=None, init=False, repr=False)
    v1_row: dict | None = field(default=None, init=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def to_v1(self) -> dict:
        """The ``CopyOp`` object of ``copy_path_status`` (kept once the copy has finished,
        when it no longer changes: a status sweep reads the same rows again and again)."""
        if self.v1_row is not None:
            return dict(self.v1_row)
        finished = self.finished_at  # read first: the error is set before it
        row = {
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
            "finished": iso(finished),
            "scheduled": iso(self.scheduled_at),
            "error": self.error,
            "exclude": self.exclude,
        }
        if finished is not None:
            self.v1_row = dict(row)
        return row

    def to_v2(self) -> dict:
        """The answer of v2 ``projects/copy-path-status``."""
        return {
            "started": iso(self.started_at),
            "finished": iso(self.finished_at),
            "copy_error": self.error,
        }


class _ProjectLocks:
    """Who may touch which project folder: a copy reads its source and writes its target, so
    copies from one source run at once, while copies into one project take turns and nothing
    reads a project that a copy is writing. Both are taken at once (no deadlock)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers: Counter[str] = Counter()
        self._writers: set[str] = set()

    def _free(self, read: str, write: str) -> bool:
        if write in self._writers or self._readers[write]:
            return False
        return read == write or read not in self._writers

    @contextmanager
    def hold(self, read: str, write: str) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._free(read, write))
            self._writers.add(write)
            if read != write:
                self._readers[read] += 1
        try:
            yield
        finally:
            with self._cond:
                self._writers.discard(write)
                if read != write:
                    self._readers[read] -= 1
                    if not self._readers[read]:
                        del self._readers[read]
                self._cond.notify_all()


class _Workers:
    """A fixed number of daemon threads (started when first needed) running queued calls."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = size, name
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, call: Callable[[], None]) -> None:
        with self._lock:
            if len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._run, daemon=True, name=f"{self.name}-{len(self._threads)}"
                )
                self._threads.append(thread)
                thread.start()
        self._queue.put(call)

    def _run(self) -> None:
        while (call := self._queue.get()) is not None:
            try:
                call()
            except Exception:  # never lose a worker
                log.exception("emulator copy worker: unexpected error")

    def shutdown(self, deadline: float) -> None:
        """Let queued calls run, then end the threads (waiting until ``deadline``)."""
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(max(0.0, deadline - time.time()))


class _CopyIndex:
    """The copy rows arranged so that a ``copy_path_status`` search reads only candidates,
    newest first: every row, the rows of each source and of each target project (all in
    ``seq`` order), the unfinished rows and the failed ones. Guarded by the manager's lock."""

    def __init__(self) -> None:
        self.rows: list[CopyOp] = []
        self.by_source: dict[str, list[CopyOp]] = defaultdict(list)
        self.by_target: dict[str, list[CopyOp]] = defaultdict(list)
        self.unfinished: dict[int, CopyOp] = {}  # by seq, in seq order
        self.failed: dict[int, CopyOp] = {}

    def add(self, op: CopyOp) -> None:
        for rows in self._lists(op):
            rows.append(op)
        self.unfinished[op.seq] = op

    def finished(self, op: CopyOp) -> None:
        self.unfinished.pop(op.seq, None)
        if op.error is not None:
            self.failed[op.seq] = op

    def remove(self, op: CopyOp) -> None:
        for rows in self._lists(op):
            at = bisect.bisect_left(rows, op.seq, key=lambda row: row.seq)
            if at < len(rows) and rows[at] is op:
                del rows[at]
        self.unfinished.pop(op.seq, None)
        self.failed.pop(op.seq, None)

    def _lists(self, op: CopyOp) -> tuple[list[CopyOp], ...]:
        return self.rows, self.by_source[op.source_project_id], self.by_target[op.target_project_id]

    def candidates(
        self, source: str | None, target: str | None, pending: bool, failed: bool
    ) -> Iterable[CopyOp]:
        """Newest first, a superset of the rows such a search can match."""
        if failed:
            return sorted(self.failed.values(), key=lambda op: op.seq, reverse=True)
        if pending:
            return reversed(list(self.unfinished.values()))
        lists = [self.rows]
        if source is not None:
            lists.append(self.by_source.get(source, []))
        if target is not None:
            lists.append(self.by_target.get(target, []))
        return reversed(min(lists, key=len))


class CopyManager:
    """Runs copies, keeps their rows (``ops``), an index of them and the ledger.

    Copies run concurrently, as on a CoCalc server, without a thread per copy: one scheduler
    thread keeps a heap of due times (a scheduled copy's time; the end of a running copy's
    ``copy_delay``, counted from its start) and hands the disk work to ``workers`` threads.
    Copies touching different projects write at once; see :class:`_ProjectLocks`.
    """

    def __init__(
        self, state: EmulatorState, copy_delay: float = 0.0, workers: int = COPY_WORKERS
    ) -> None:
        self.state = state
        self.copy_delay = copy_delay
        self.ops: dict[str, CopyOp] = {}
        self.ledger: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._seq = itertools.count()
        self._last_created = 0.0
        self._index = _CopyIndex()
        self._projects = _ProjectLocks()
        self._workers = _Workers(workers, "cocalc-emulator-copy")
        self._due = threading.Condition()  # guards the heap and the scheduler thread
        self._heap: list[tuple[float, int, str, CopyOp]] = []
        self._scheduler: threading.Thread | None = None

    # -- paths ---------------------------------------------------------------------------------
    def _paths(self, op: CopyOp) -> tuple[Path, Path, Path, Path]:
        src = self.state.resolve(op.source_project_id, op.source_path, allow_root=True)
        dst = self.state.resolve(op.target_project_id, op.target_path, allow_root=True)
        src_root = self.state.real_root(op.source_project_id)
        dst_root = self.state.real_root(op.target_project_id)
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
            # Rows are newest first by (created, seq): keep created in seq order.
            op.created = self._last_created = max(time.time(), self._last_created)
            self.ops[op.copy_path_id] = op
            self._index.add(op)
        self._push(op.scheduled_at or op.created, "start", op)
        return op

    # -- the scheduler -------------------------------------------------------------------------
    def _push(self, due: float, step: str, op: CopyOp) -> None:
        """Run ``step`` of ``op`` at ``due``; after shutdown, at once as interrupted."""
        with self._due:
            if not self._stop.is_set():
                # One heap entry per copy at a time, so (due, seq) never ties.
                heapq.heappush(self._heap, (due, op.seq, step, op))
                if self._scheduler is None:
                    self._scheduler = threading.Thread(
                        target=self._schedule, daemon=True, name="cocalc-emulator-copies"
                    )
                    self._scheduler.start()
                self._due.notify()
                return
        self._interrupt(step, op)

    def _schedule(self) -> None:
        while True:
            with self._due:
                while not self._stop.is_set():
                    left = self._heap[0][0] - time.time() if self._heap else None
                    if left is not None and left <= 0:
                        break
                    self._due.wait(left)
                if self._stop.is_set():
                    return
                _, _, step, op = heapq.heappop(self._heap)
            try:
                if step == "start":
                    self._start(op)
                elif step == "timeout":
                    self._finish(op, rsync_timeout_error(float(op.timeout or 0)), 0)
                else:
                    self._workers.submit(partial(self._copy, op))
            except Exception as err:  # e.g. a copy_delay that is no number: that copy fails
                self._fail(op, err)

    def _start(self, op: CopyOp) -> None:
        if op.cancelled:
            return
        op.started_at = time.time()
        delay = self._delay_for(op)
        if op.timeout and delay > float(op.timeout):
            self._push(op.started_at + float(op.timeout), "timeout", op)
        else:
            self._push(op.started_at + delay, "copy", op)

    def _delay_for(self, op: CopyOp) -> float:
        """``float(copy_delay)`` for ``op``, read in a thread named ``copy-<id prefix>`` (as
        when every copy had a thread of its own) so that a per-copy delay can tell who asks."""
        thread = threading.current_thread()
        name, thread.name = thread.name, f"copy-{op.copy_path_id[:8]}"
        try:
            return max(0.0, float(self.copy_delay or 0.0))
        finally:
            thread.name = name

    def _copy(self, op: CopyOp) -> None:
        """The disk work of a copy whose delay has passed (in a worker)."""
        error: str | None = None
        written = 0
        try:
            if self._stop.is_set():
                raise CopyError(_INTERRUPTED)
            with self._projects.hold(op.source_project_id, op.target_project_id):
                src, dst, src_root, dst_root = self._paths(op)
                written = rsync_copy(src, dst, src_root, dst_root, self._options(op))
        except (CopyError, PathError, UnknownProject, OSError) as err:
            error = str(err)
        except Exception as err:
            self._fail(op, err)
            return
        self._finish(op, error, written)

    def _fail(self, op: CopyOp, err: Exception) -> None:
        """A copy the emulator itself failed on: logged, and finished with the error."""
        log.exception("emulator copy %s failed", op.copy_path_id)
        self._finish(op, f"emulator error: {err}", 0)

    def _finish(self, op: CopyOp, error: str | None, written: int) -> None:
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
        with self._lock:
            op.error = error
            op.finished_at = finished
            self._index.finished(op)
            waiter = op.waiter
        if waiter is not None:
            waiter.set()

    def _interrupt(self, step: str, op: CopyOp) -> None:
        """After shutdown: a copy scheduled for later never runs, any other ends with an
        error (as a copy cut short by a stopping server)."""
        if step == "start" and op.scheduled_at is not None:
            return
        if op.started_at is None:
            op.started_at = time.time()
        self._finish(op, _INTERRUPTED, 0)

    # -- waiting and searching -----------------------------------------------------------------
    def wait(self, op: CopyOp, timeout: float | None = WAIT_LIMIT_S) -> bool:
        """Wait until ``op`` finished (``timeout=None``: however long); ``False`` on timeout."""
        with self._lock:
            if op.finished:
                return True
            if op.waiter is None:
                op.waiter = threading.Event()
            waiter = op.waiter
        return waiter.wait(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every copy that is not scheduled for later has finished."""
        deadline = time.time() + timeout
        with self._lock:
            ops = [op for op in self._index.unfinished.values() if op.scheduled_at is None]
        return all(self.wait(op, max(0.0, deadline - time.time())) for op in ops)

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
        """``copy_path_status`` search: newest first (CoCalc: ``ORDER BY time DESC``).

        Reads only the candidate rows of the index, and stops after ``offset + limit`` matches.
        """
        out: list[CopyOp] = []
        if limit <= 0:
            return out
        skip = offset
        with self._lock:
            for op in self._index.candidates(src_project_id, target_project_id, pending, failed):
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
                if skip:
                    skip -= 1
                    continue
                out.append(op)
                if len(out) >= limit:
                    break
        return out

    def delete_scheduled(self, copy_path_id: str) -> bool:
        """Delete a scheduled, unfinished operation; ``False`` if there is none."""
        with self._lock:
            op = self.ops.get(copy_path_id)
            if op is None or op.scheduled_at is None or op.finished:
                return False
            del self.ops[copy_path_id]
            self._index.remove(op)
        op.cancelled = True
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop waiting for scheduled copies and end running ones (with an error)."""
        deadline = time.time() + timeout
        self._stop.set()
        with self._lock:
            for op in self.ops.values():
                op.cancelled = True
        with self._due:
            self._due.notify_all()
            scheduler = self._scheduler
        if scheduler is not None:
            scheduler.join(max(0.0, deadline - time.time()))
        with self._due:
            left, self._heap = self._heap, []
        for _, _, step, op in sorted(left):
            self._interrupt(step, op)
        self._workers.shutdown(deadline)
