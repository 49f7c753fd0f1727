"""Copies at scale: thousands at once run concurrently on a few threads (a scheduler and a small
pool), each taking ``copy_delay`` from its start; the status search reads an index and pages
with ``offset`` exactly as the plain scan of every row did."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests

from cocalc_widgets.emulator import Emulator
from cocalc_widgets.emulator._copy import COPY_WORKERS, CopyManager, _ProjectLocks
from cocalc_widgets.emulator._state import EmulatorState


def _ts(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class PeakThreads:
    """The most threads alive at once while in the ``with`` block (this watcher left out)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, threading.active_count() - 1)
            time.sleep(0.002)

    def __enter__(self) -> PeakThreads:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def fleet(tmp_path):
    """A copy manager over a source project with ``f.txt`` and 1,000 target projects."""
    state = EmulatorState(tmp_path)
    src = state.create_project("source")
    (state.project_dir(src) / "f.txt").write_text("hello\n")
    targets = state.create_projects(f"T{i}" for i in range(1000))
    manager = CopyManager(state, copy_delay=0.5)
    yield manager, src, targets
    manager.shutdown()


def _submit(manager, src, target, **more):
    return manager.submit(source_project_id=src, source_path="f.txt", target_project_id=target,
                          target_path="f.txt", **more)


def test_a_thousand_copies_take_about_copy_delay_on_a_few_threads(fleet):
    manager, src, targets = fleet
    baseline = threading.active_count()
    with PeakThreads() as threads:
        start = time.monotonic()
        ops = [_submit(manager, src, target) for target in targets]
        submitted = time.monotonic() - start
        assert manager.wait_idle(30)
        took = time.monotonic() - start
    assert all(op.error is None for op in ops) and len(manager.ledger) == 1000
    assert all(op.finished_at - op.started_at >= 0.5 for op in ops)
    # All 1,000 delays overlap: about one copy_delay after the last submission, not 1,000 x.
    assert took < submitted + 0.5 + 2.0, f"{took:.2f} s (submitting took {submitted:.2f} s)"
    assert threads.peak <= baseline + 1 + COPY_WORKERS, (threads.peak, baseline)
    assert all((manager.state.project_dir(t) / "f.txt").exists() for t in targets[::97])


def test_copy_delay_counts_from_the_start_not_from_the_queue(fleet):
    manager, src, targets = fleet
    first = _submit(manager, src, targets[0])
    time.sleep(0.3)
    second = _submit(manager, src, targets[1])
    assert manager.wait(first, 5) and not second.finished
    assert manager.wait(second, 5)
    assert second.finished_at - first.finished_at == pytest.approx(0.3, abs=0.15)


def test_scheduled_copies_wait_for_their_time_among_many(fleet):
    manager, src, targets = fleet
    manager.copy_delay = 0.0
    later = _submit(manager, src, targets[0], scheduled_at=time.time() + 0.8)
    doomed = _submit(manager, src, targets[1], scheduled_at=time.time() + 0.4)
    now = [_submit(manager, src, t) for t in targets[2:200]]
    assert manager.delete_scheduled(doomed.copy_path_id)
    assert manager.wait_idle(10) and all(op.finished for op in now)
    assert later.started_at is None and not later.finished
    assert manager.wait(later, 5) and later.started_at >= later.scheduled_at
    time.sleep(0.1)
    assert doomed.started_at is None and doomed.copy_path_id not in {
        e["copy_path_id"] for e in manager.ledger}
    assert not (manager.state.project_dir(targets[1]) / "f.txt").exists()


def test_a_timeout_shorter_than_the_delay_fails_at_the_timeout(fleet):
    manager, src, targets = fleet
    manager.copy_delay = 5.0
    op = _submit(manager, src, targets[0], timeout=0.2)
    assert manager.wait(op, 2) and "io timeout after 0.2 seconds" in op.error
    assert op.finished_at - op.started_at == pytest.approx(0.2, abs=0.15)


def test_stopping_ends_running_copies_with_an_error_and_leaves_no_thread(fleet):
    manager, src, targets = fleet
    baseline = threading.active_count()
    manager.copy_delay = 10.0
    running = [_submit(manager, src, t) for t in targets[:50]]
    scheduled = _submit(manager, src, targets[50], scheduled_at=time.time() + 60)
    assert threading.active_count() > baseline
    manager.shutdown()
    assert all(op.error == "copy interrupted: the emulator was stopped" for op in running)
    assert not scheduled.finished and len(manager.ledger) == 50
    assert threading.active_count() == baseline  # the scheduler and the workers are gone
    late = _submit(manager, src, targets[51])
    assert late.error == "copy interrupted: the emulator was stopped"


def test_a_per_copy_delay_is_asked_from_a_thread_named_after_the_copy(fleet):
    """bench/copy_wait.py gives each copy its own duration this way."""
    manager, src, targets = fleet
    asked: list[str] = []

    class PerCopy:
        def __bool__(self) -> bool:
            return True

        def __float__(self) -> float:
            asked.append(threading.current_thread().name)
            return 0.0

    manager.copy_delay = PerCopy()
    op = _submit(manager, src, targets[0])
    assert manager.wait(op, 5) and asked == [f"copy-{op.copy_path_id[:8]}"]


# -- the status search -------------------------------------------------------------------------
def _scan(manager, *, src=None, target=None, src_path=None, pending=True, failed=False,
          limit=1000, offset=0):
    """The search as it was: every row, filtered, sorted newest first."""
    rows = [op for op in manager.ops.values()
            if (src is None or op.source_project_id == src)
            and (target is None or op.target_project_id == target)
            and (src_path is None or op.source_path == src_path)
            and not (failed and op.error is None) and pending != op.finished]
    rows.sort(key=lambda o: (o.created, o.seq), reverse=True)
    return rows[offset : offset + limit]


def test_search_pages_match_a_scan_of_every_row(tmp_path):
    state = EmulatorState(tmp_path)
    sources = state.create_projects(["S1", "S2"])
    for src in sources:
        (state.project_dir(src) / "ok.txt").write_text("ok")
    targets = state.create_projects(f"T{i}" for i in range(40))
    manager = CopyManager(state, copy_delay=0.0)
    rng = random.Random(7)
    try:
        for i in range(2500):
            path = "ok.txt" if rng.random() < 0.7 else "missing.txt"  # a missing source fails
            later = time.time() + 600 if rng.random() < 0.1 else None
            manager.submit(source_project_id=rng.choice(sources), source_path=path,
                           target_project_id=rng.choice(targets), target_path=f"f{i}.txt",
                           scheduled_at=later)
        assert manager.wait_idle(60)
        pending = [op for op in manager.ops.values() if not op.finished]
        for op in pending[:20]:
            assert manager.delete_scheduled(op.copy_path_id)
        queries = [
            {"src": sources[0], "pending": False},
            {"src": sources[1], "pending": True},
            {"target": targets[3], "pending": False},
            {"src": sources[0], "target": targets[5], "pending": False},
            {"src": sources[0], "failed": True, "pending": False},
            {"src_path": "ok.txt", "pending": False},
            {"target": targets[9], "failed": True, "pending": False},
        ]
        for query in queries:
            everything = _scan(manager, **query, limit=10**6)
            assert everything, query
            for limit, offset in [(1000, 0), (100, 0), (100, 250), (7, 3), (1000, 900),
                                  (50, len(everything) - 10), (10, len(everything) + 5)]:
                found = manager.search(
                    src_project_id=query.get("src"), target_project_id=query.get("target"),
                    src_path=query.get("src_path"), pending=query["pending"],
                    failed=query.get("failed", False), limit=limit, offset=offset)
                assert found == everything[offset : offset + limit], (query, limit, offset)
    finally:
        manager.shutdown()


def test_paging_over_v1_with_many_rows(tmp_path):
    with Emulator(data_dir=tmp_path) as emu:
        src = emu.create_project("source")
        targets = emu.create_projects(f"T{i}" for i in range(500))
        for i in range(5000):  # a missing source: rows that finish (failed) at once
            emu.copies.submit(source_project_id=src, source_path="gone.txt",
                              target_project_id=targets[i % 500], target_path="gone.txt")
        assert emu.wait_idle(60)
        seen, slowest = [], 0.0
        with requests.Session() as session:
            for offset in range(0, 6000, 1000):
                start = time.perf_counter()
                r = session.post(f"{emu.url}/api/v1/copy_path_status", auth=(emu.api_key, ""),
                                 json={"src_project_id": src, "failed": True, "limit": 1000,
                                       "offset": offset}, timeout=30)
                slowest = max(slowest, time.perf_counter() - start)
                seen += [row["copy_path_id"] for row in r.json()["data"]]
        assert len(seen) == len(set(seen)) == 5000
        assert seen == [op.copy_path_id for op in _scan(emu.copies, src=src, failed=True,
                                                         pending=False, limit=10**6)]
        # A guard against a pathological page (a scan per row), ten times bench/emulator_scale.py's
        # 0.5 s: this is no benchmark, and a loaded machine is many times slower.
        assert slowest < 5.0, f"{slowest * 1000:.0f} ms for a page"


def test_many_copies_over_http_run_at_once(tmp_path):
    with Emulator(data_dir=tmp_path, copy_delay=0.5) as emu:
        src = emu.create_project("source")
        (emu.project_path(src) / "f.txt").write_text("f")
        targets = emu.create_projects(f"T{i}" for i in range(300))
        baseline = threading.active_count()

        def post(target: str) -> int:
            r = session.post(f"{emu.url}/api/v1/copy_path_between_projects",
                             auth=(emu.api_key, ""), timeout=30,
                             json={"src_project_id": src, "src_path": "f.txt",
                                   "target_project_id": target})
            return r.status_code

        start = time.monotonic()
        with requests.Session() as session:
            session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))
            with ThreadPoolExecutor(16) as pool:
                assert set(pool.map(post, targets)) == {200}
        posted = time.monotonic() - start
        # The requests are answered; their server threads end with their connections.
        deadline = time.monotonic() + 2
        while threading.active_count() > baseline + 1 + COPY_WORKERS and (
                time.monotonic() < deadline):
            time.sleep(0.01)
        assert threading.active_count() <= baseline + 1 + COPY_WORKERS
        assert emu.wait_idle(30)
        took = time.monotonic() - start
        assert took < posted + 0.5 + 2.0, f"{took:.2f} s, posting took {posted:.2f} s"
        spans = [_ts(e["finished"]) - _ts(e["started"]) for e in emu.ledger]
        assert len(spans) == 300 and min(spans) >= 0.5


# -- who may touch which project ---------------------------------------------------------------
def test_project_locks_let_readers_share_and_writers_take_turns():
    locks = _ProjectLocks()
    events: list[str] = []

    def copy(name: str, read: str, write: str, hold: float) -> threading.Thread:
        def run() -> None:
            with locks.hold(read, write):
                events.append(f"{name}+")
                time.sleep(hold)
                events.append(f"{name}-")

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    first = copy("a", "S", "T1", 0.3)
    time.sleep(0.05)
    threads = [
        copy("b", "S", "T2", 0.05),  # same source, another target: at once
        copy("c", "X", "T1", 0.05),  # same target: after a
        copy("d", "T1", "Y", 0.05),  # reads what a writes: after a
        copy("e", "Z", "S", 0.05),  # writes what a and b read: after both
    ]
    for thread in [first, *threads]:
        thread.join(5)
    position = {event: i for i, event in enumerate(events)}
    assert position["b+"] < position["a-"]
    for name in "cde":
        assert position[f"{name}+"] > position["a-"], events
    assert position["e+"] > position["b-"]


def test_a_broken_copy_delay_fails_that_copy_and_the_next_one_runs(fleet):
    manager, src, targets = fleet
    manager.copy_delay = "soon"
    broken = _submit(manager, src, targets[0])
    assert manager.wait(broken, 5) and broken.error.startswith("emulator error: ")
    manager.copy_delay = 0.0
    fine = _submit(manager, src, targets[1])
    assert manager.wait(fine, 5) and fine.error is None
