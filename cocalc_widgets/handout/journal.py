"""The journal of fan-out copies: what was sent, to whom, with which copy id, and how it ended,
in a SQLite file, so that running the same hand-out again resumes it instead of sending every
copy twice.

Default file: ``.cocalc-widgets/journal.sqlite`` in the working directory (beside the notebook),
or ``$COCALC_WIDGETS_JOURNAL``. A hand-out is identified by its server, source, path, targets
and options; while one runs it holds a lock in the journal, so a second notebook running the same
hand-out refuses instead of sending too.

Each target's row goes ``planned`` -> ``sending`` (written before the request leaves) ->
``sent`` (with CoCalc's copy id) -> ``done`` / ``failed``; or ``not started`` (refused, nothing
done) or ``unknown`` (the request may have reached CoCalc, and nothing says whether it did).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import JournalError

__all__ = [
    "DEFAULT_PATH",
    "FORMAT",
    "Handout",
    "Journal",
    "JournalCopy",
    "JournalRow",
    "default_path",
    "handout_key",
]

#: The journal's format version; a file of another version is refused, never changed.
FORMAT = 1
DEFAULT_PATH = Path(".cocalc-widgets") / "journal.sqlite"
#: Seconds after which another host's lock counts as abandoned (its heartbeat stopped).
LOCK_STALE = 60.0
_STATES = ("planned", "sending", "sent", "done", "failed", "not started", "unknown")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS handouts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    src_project_id TEXT NOT NULL,
    src_path TEXT NOT NULL,
    options TEXT NOT NULL,
    targets INTEGER NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    owner TEXT,
    heartbeat REAL
);
CREATE TABLE IF NOT EXISTS copies (
    handout INTEGER NOT NULL REFERENCES handouts(id),
    target_project_id TEXT NOT NULL,
    target_path TEXT NOT NULL,
    state TEXT NOT NULL,
    copy_id TEXT,
    api TEXT,
    sent_at REAL,
    finished_at REAL,
    error TEXT,
    PRIMARY KEY (handout, target_project_id, target_path)
);
"""


def default_path() -> Path:
    """``$COCALC_WIDGETS_JOURNAL``, else ``.cocalc-widgets/journal.sqlite`` here."""
    env = os.environ.get("COCALC_WIDGETS_JOURNAL")
    return Path(env) if env else DEFAULT_PATH


def handout_key(
    host: str,
    src_project_id: str,
    src_path: str,
    targets: Iterable[tuple[str, str]],
    options: dict[str, Any],
) -> str:
    """The identity of a hand-out: the same server, source, path, targets and options."""
    canon = {
        "host": host,
        "src": src_project_id,
        "path": src_path,
        "targets": sorted(targets),
        "options": {k: options[k] for k in sorted(options) if options[k] is not None},
    }
    text = json.dumps(canon, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class JournalRow:
    """What the journal knows of one target of a hand-out."""

    target_project_id: str
    target_path: str
    state: str
    copy_id: str | None = None
    api: str | None = None
    sent_at: float | None = None
    finished_at: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class JournalCopy:
    """One copy the journal knows: its hand-out's source and the target's row."""

    src_project_id: str
    src_path: str
    row: JournalRow


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class Journal:
    """A journal file (opened, checked and created if missing)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            with self._transaction():
                if self._empty():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                self._check_format()
            # Only a journal of ours gets its write-ahead log (it changes the file's header).
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except JournalError:
            raise
        except (sqlite3.DatabaseError, OSError) as err:
            raise self._error(
                f"cannot be used as a cocalc-widgets journal ({err}); nothing was sent and the "
                "file was not changed"
            ) from None

    def _error(self, text: str) -> JournalError:
        return JournalError(f"The journal {self.path} {text}")

    def _empty(self) -> bool:
        row = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return int(row[0]) == 0

    def _check_format(self) -> None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        except sqlite3.OperationalError:
            raise self._error(
                "is a SQLite file but not a cocalc-widgets journal; nothing was sent and the file "
                "was not changed (pass another journal path)"
            ) from None
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
        elif row[0] != str(FORMAT):
            raise self._error(
                f"has format {row[0]}, and this cocalc-widgets reads format {FORMAT}; nothing "
                "was sent and the file was not changed (move it away, or pass another journal)"
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hand-outs --------------------------------------------------------------------------
    def open_handout(
        self,
        key: str,
        *,
        host: str,
        src_project_id: str,
        src_path: str,
        options: dict[str, Any],
        targets: list[tuple[str, str]],
        fresh: bool = False,
    ) -> Handout:
        """The hand-out ``key``, locked for this process (created and planned if new).

        ``fresh=True`` forgets what an earlier run of it recorded. Raises :class:`JournalError`
        if another live process holds it.
        """
        now = time.time()
        try:
            with self._transaction():
                row = self._db.execute(
                    "SELECT id, owner, heartbeat FROM handouts WHERE key=?", (key,)
                ).fetchone()
                if row is not None:
                    self._check_lock(row[1], row[2], now)
                    hid = int(row[0])
                    if fresh:
                        self._db.execute("DELETE FROM copies WHERE handout=?", (hid,))
                    self._db.execute(
                        "UPDATE handouts SET owner=?, heartbeat=?, updated=? WHERE id=?",
                        (_me(), now, now, hid),
                    )
                else:
                    cur = self._db.execute(
                        "INSERT INTO handouts (key, host, src_project_id, src_path, options, "
                        "targets, created, updated, owner, heartbeat) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            key,
                            host,
                            src_project_id,
                            src_path,
                            json.dumps(options, sort_keys=True, default=str),
                            len(targets),
                            now,
                            now,
                            _me(),
                            now,
                        ),
                    )
                    hid = int(cur.lastrowid or 0)
                self._db.executemany(
                    "INSERT OR IGNORE INTO copies (handout, target_project_id, target_path, "
                    "state) VALUES (?, ?, ?, 'planned')",
                    [(hid, pid, path) for pid, path in targets],
                )
        except sqlite3.DatabaseError as err:
            raise self._error(f"could not be written ({err}); nothing was sent") from None
        return Handout(self, hid, key)

    def _check_lock(self, owner: str | None, heartbeat: float | None, now: float) -> None:
        if not owner or owner == _me():
            return
        host, _, pid = owner.rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            if not _alive(int(pid)):
                return  # its process died: the lock is stale
        elif heartbeat is not None and now - heartbeat > LOCK_STALE:
            return
        since = time.strftime("%H:%M:%S", time.localtime(heartbeat or now))
        raise self._error(
            f"shows this hand-out running in another process ({owner}, alive at {since}): it "
            "is not sent twice. Wait for that one to finish (or stop it), then run this again "
            "to resume"
        )

    def handouts(self) -> list[dict[str, Any]]:
        """Every hand-out in the journal with the counts of its copies' states, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, key, host, src_project_id, src_path, options, targets, created, "
                "updated, owner FROM handouts ORDER BY updated DESC"
            ).fetchall()
            counts = self._db.execute(
                "SELECT handout, state, count(*) FROM copies GROUP BY handout, state"
            ).fetchall()
        by_id: dict[int, dict[str, int]] = {}
        for hid, state, n in counts:
            by_id.setdefault(int(hid), {})[str(state)] = int(n)
        names = ("id", "key", "host", "src_project_id", "src_path", "options", "targets")
        out = []
        for row in rows:
            item = dict(zip(names, row[:7], strict=True))
            item["options"] = json.loads(item["options"])
            item["created"], item["updated"], item["running"] = row[7], row[8], bool(row[9])
            item["counts"] = by_id.get(int(row[0]), {})
            out.append(item)
        return out

    def copies(
        self,
        host: str,
        *,
        src_project_id: str | None = None,
        target_project_id: str | None = None,
        src_path: str | None = None,
    ) -> list[JournalCopy]:
        """The copies of the hand-outs to ``host`` from ``src_project_id`` and/or to
        ``target_project_id`` (of ``src_path``), newest first: for servers that cannot search
        their copies (API v2, conat)."""
        where, args = ["h.host=?", "c.state != 'planned'"], [host]
        for column, value in (
            ("h.src_project_id", src_project_id),
            ("c.target_project_id", target_project_id),
            ("h.src_path", src_path),
        ):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        with self._lock:
            found = self._db.execute(
                "SELECT h.src_project_id, h.src_path, c.target_project_id, c.target_path, "
                "c.state, c.copy_id, c.api, c.sent_at, c.finished_at, c.error FROM copies c "
                "JOIN handouts h ON h.id = c.handout WHERE " + " AND ".join(where) + " ORDER BY "
                "coalesce(c.finished_at, c.sent_at, h.updated) DESC",
                args,
            ).fetchall()
        return [JournalCopy(r[0], r[1], JournalRow(*r[2:])) for r in found]


class Handout:
    """One hand-out in the journal, locked by this process until :meth:`release`."""

    def __init__(self, journal: Journal, handout_id: int, key: str) -> None:
        self.journal = journal
        self.id = handout_id
        self.key = key

    def rows(self) -> dict[tuple[str, str], JournalRow]:
        """Every target's row, by ``(target_project_id, target_path)``."""
        with self.journal._lock:
            found = self.journal._db.execute(
                "SELECT target_project_id, target_path, state, copy_id, api, sent_at, "
                "finished_at, error FROM copies WHERE handout=?",
                (self.id,),
            ).fetchall()
        return {(r[0], r[1]): JournalRow(*r) for r in found}

    def restart(self) -> None:
        """Start the hand-out anew: every target back to ``planned`` (what ``fresh=True``
        does at opening), for a new run of a hand-out that finished."""
        try:
            with self.journal._transaction():
                self.journal._db.execute(
                    "UPDATE copies SET state='planned', copy_id=NULL, api=NULL, sent_at=NULL, "
                    "finished_at=NULL, error=NULL WHERE handout=?",
                    (self.id,),
                )
        except sqlite3.DatabaseError as err:
            raise self.journal._error(f"could not be written ({err}); nothing was sent") from None

    def record(self, target: tuple[str, str], state: str, **fields: Any) -> None:
        """Write a target's new state (and ``copy_id``, ``api``, ``sent_at``, ``finished_at``,
        ``error``) durably: a ``sending`` row is on disk before its request leaves."""
        self.record_many([(target, state, fields)])

    def record_many(self, changes: list[tuple[tuple[str, str], str, dict[str, Any]]]) -> None:
        """Several :meth:`record` changes in one write."""
        if not changes:
            return
        allowed = {"copy_id", "api", "sent_at", "finished_at", "error"}
        try:
            with self.journal._transaction():
                for (pid, path), state, fields in changes:
                    if state not in _STATES or set(fields) - allowed:
                        raise ValueError(f"bad journal change: {state!r} {sorted(fields)}")
                    sets = ", ".join(["state=?", *(f"{k}=?" for k in fields)])
                    self.journal._db.execute(
                        f"UPDATE copies SET {sets} WHERE handout=? AND target_project_id=? "
                        "AND target_path=?",
                        (state, *fields.values(), self.id, pid, path),
                    )
                self.journal._db.execute(
                    "UPDATE handouts SET updated=?, heartbeat=? WHERE id=?",
                    (time.time(), time.time(), self.id),
                )
        except sqlite3.DatabaseError as err:
            raise self.journal._error(f"could not be written ({err})") from None

    def heartbeat(self) -> None:
        """Say this process still runs the hand-out (for other hosts sharing the file)."""
        with self.journal._transaction():
            self.journal._db.execute(
                "UPDATE handouts SET heartbeat=? WHERE id=? AND owner=?",
                (time.time(), self.id, _me()),
            )

    def release(self) -> None:
        """Let another process run this hand-out (its rows stay)."""
        try:
            with self.journal._transaction():
                self.journal._db.execute(
                    "UPDATE handouts SET owner=NULL WHERE id=? AND owner=?", (self.id, _me())
                )
        except sqlite3.ProgrammingError:  # the journal was closed already
            pass
