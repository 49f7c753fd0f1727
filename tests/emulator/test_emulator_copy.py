"""Copies through the emulator's v1 API: rsync semantics on disk, status, scheduling, ledger."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests


def _write(root, rel, text, mtime=None):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _copy(api, emulator, **fields):
    body = {"src_project_id": emulator.pa, "target_project_id": emulator.pb,
            "wait_until_done": True, **fields}
    r = api.v1("copy_path_between_projects", body)
    assert r.status_code == 200, r.text
    return r.json()


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def _wait_finished(api, copy_path_id, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        data = api.v1("copy_path_status", {"copy_path_id": copy_path_id}).json()["data"]
        if data["finished"]:
            return data
        time.sleep(0.02)
    raise AssertionError("copy did not finish")


@pytest.fixture
def roots(emulator):
    return emulator.project_path(emulator.pa), emulator.project_path(emulator.pb)


def test_file_copy_default_target_and_into_folder(api, emulator, roots):
    src, dst = roots
    _write(src, "A/doc.txt", "hello")
    body = _copy(api, emulator, id="i1", src_path="A/doc.txt")
    assert body == {"event": "success", "id": "i1"}
    assert (dst / "A/doc.txt").read_text() == "hello"
    (dst / "folder").mkdir()
    _copy(api, emulator, src_path="A/doc.txt", target_path="folder")
    assert (dst / "folder/doc.txt").read_text() == "hello"
    _copy(api, emulator, src_path="A/doc.txt", target_path="renamed.txt")
    assert (dst / "renamed.txt").read_text() == "hello"


def test_directory_contents_merge_with_trailing_slash_semantics(api, emulator, roots):
    src, dst = roots
    _write(src, "hw/a.txt", "a")
    _write(src, "hw/sub/b.txt", "b")
    _write(dst, "out/keep.txt", "k")
    _copy(api, emulator, src_path="hw", target_path="out")
    assert _files(dst) == ["out/a.txt", "out/keep.txt", "out/sub/b.txt"]
    _copy(api, emulator, src_path="hw/", target_path="out2/")
    assert _files(dst / "out2") == ["a.txt", "sub/b.txt"]


def test_overwrite_newer(api, emulator, roots):
    src, dst = roots
    now = time.time()
    _write(src, "f.txt", "source", mtime=now - 100)
    _write(dst, "f.txt", "newer target", mtime=now)
    _copy(api, emulator, src_path="f.txt")
    assert (dst / "f.txt").read_text() == "newer target"
    _copy(api, emulator, src_path="f.txt", overwrite_newer=True)
    assert (dst / "f.txt").read_text() == "source"
    _write(dst, "g.txt", "old target", mtime=now - 1000)
    _write(src, "g.txt", "new source", mtime=now - 10)
    _copy(api, emulator, src_path="g.txt")
    assert (dst / "g.txt").read_text() == "new source"


def test_delete_missing(api, emulator, roots):
    src, dst = roots
    _write(src, "d/a.txt", "a")
    _write(dst, "d/extra.txt", "x")
    _write(dst, "d/gone/deep.txt", "x")
    _copy(api, emulator, src_path="d")
    assert (dst / "d/extra.txt").exists()
    _copy(api, emulator, src_path="d", delete_missing=True)
    assert _files(dst) == ["d/a.txt"]


def test_backup_keeps_replaced_file_with_tilde(api, emulator, roots):
    src, dst = roots
    now = time.time()
    _write(src, "b.txt", "new", mtime=now)
    _write(dst, "b.txt", "old", mtime=now - 100)
    _copy(api, emulator, src_path="b.txt", backup=True)
    assert (dst / "b.txt").read_text() == "new"
    assert (dst / "b.txt~").read_text() == "old"
    _write(src, "bd/x.txt", "x")
    _write(dst, "bd/stale.txt", "stale")
    _copy(api, emulator, src_path="bd", backup=True, delete_missing=True)
    assert (dst / "bd/stale.txt~").read_text() == "stale"
    assert not (dst / "bd/stale.txt").exists()


def test_exclude_patterns_at_any_depth(api, emulator, roots):
    src, dst = roots
    for rel in ["p/a.txt", "p/a.log", "p/sub/b.log", "p/sub/c.txt", "p/.git/config",
                "p/sub/.git/x", "p/top.tmp", "p/sub/top.tmp", "p/cache/c", "p/sub/cache"]:
        _write(src, rel, rel)
    _copy(api, emulator, src_path="p", exclude=["*.log", ".git", "/top.tmp", "cache/"])
    assert _files(dst) == ["p/a.txt", "p/sub/c.txt", "p/sub/cache", "p/sub/top.tmp"]


def test_exclude_protects_from_delete(api, emulator, roots):
    src, dst = roots
    _write(src, "e/a.txt", "a")
    _write(dst, "e/local.log", "mine")
    _copy(api, emulator, src_path="e", delete_missing=True, exclude=["*.log"])
    assert (dst / "e/local.log").exists()


def test_async_copy_status_fields(api, emulator, roots):
    src, dst = roots
    emulator.copy_delay = 0.3
    _write(src, "slow.txt", "s")
    r = api.v1("copy_path_between_projects", {"id": "x1", "src_project_id": emulator.pa,
               "src_path": "slow.txt", "target_project_id": emulator.pb})
    body = r.json()
    assert body["event"] == "copy_path_between_projects_response" and body["id"] == "x1"
    assert body["note"].startswith("Query copy_path_status with the copy_path_id")
    cid = body["copy_path_id"]
    r = api.v1("copy_path_status", {"copy_path_id": cid})
    status = r.json()
    assert status["event"] == "copy_path_status_response" and uuid.UUID(status["id"])
    data = status["data"]
    assert set(data) >= {"copy_path_id", "time", "source_project_id", "source_path",
                         "target_project_id", "target_path", "overwrite_newer",
                         "delete_missing", "backup", "started", "finished", "scheduled",
                         "error", "exclude"}
    assert data["finished"] is None and not (dst / "slow.txt").exists()
    pending = api.v1("copy_path_status", {"target_project_id": emulator.pb}).json()["data"]
    assert [op["copy_path_id"] for op in pending] == [cid]
    done = _wait_finished(api, cid)
    assert done["started"] and done["error"] is None and done["target_path"] == "slow.txt"
    assert (dst / "slow.txt").read_text() == "s"
    assert api.v1("copy_path_status", {"target_project_id": emulator.pb}).json()["data"] == []
    finished = api.v1("copy_path_status", {"src_project_id": emulator.pa, "pending": False})
    assert [op["copy_path_id"] for op in finished.json()["data"]] == [cid]


def test_copy_delay_makes_copies_take_time(api, emulator, roots):
    src, _ = roots
    emulator.copy_delay = 0.3
    _write(src, "t.txt", "t")
    start = time.time()
    _copy(api, emulator, src_path="t.txt")
    assert time.time() - start >= 0.3


def test_failed_copies_and_filters(api, emulator, roots):
    src, _ = roots
    _write(src, "ok.txt", "ok")
    r = api.v1("copy_path_between_projects", {"src_project_id": emulator.pa,
               "src_path": "missing.txt", "target_project_id": emulator.pb})
    bad = r.json()["copy_path_id"]
    data = _wait_finished(api, bad)
    assert "No such file or directory" in data["error"]
    r = api.v1("copy_path_between_projects", {"src_project_id": emulator.pa,
               "src_path": "ok.txt", "target_project_id": emulator.pc})
    good = r.json()["copy_path_id"]
    _wait_finished(api, good)
    failed = api.v1("copy_path_status", {"src_project_id": emulator.pa, "failed": True}).json()
    assert [op["copy_path_id"] for op in failed["data"]] == [bad]
    both = api.v1("copy_path_status", {"src_project_id": emulator.pa, "pending": False}).json()
    assert [op["copy_path_id"] for op in both["data"]] == [good, bad]  # newest first
    by_path = api.v1("copy_path_status", {"src_project_id": emulator.pa, "pending": False,
                                          "src_path": "ok.txt"}).json()["data"]
    assert [op["copy_path_id"] for op in by_path] == [good]
    target = api.v1("copy_path_status", {"target_project_id": emulator.pc,
                                         "pending": False}).json()["data"]
    assert [op["copy_path_id"] for op in target] == [good]
    page = api.v1("copy_path_status", {"src_project_id": emulator.pa, "pending": False,
                                       "limit": 1, "offset": 1}).json()["data"]
    assert [op["copy_path_id"] for op in page] == [bad]
    r = api.v1("copy_path_between_projects", {"src_project_id": emulator.pa,
               "src_path": "missing.txt", "target_project_id": emulator.pb,
               "wait_until_done": True})
    assert r.json()["event"] == "error" and "No such file" in r.json()["error"]


def test_status_errors(api, emulator):
    r = api.v1("copy_path_status", {})
    assert r.status_code == 200 and r.json()["event"] == "error"
    assert r.json()["error"] == ("'copy_path_id' (UUID) of a copy operation or "
                                 "'src_project_id/target_project_id' must be defined")
    r = api.v1("copy_path_status", {"src_project_id": emulator.pa, "limit": 2000})
    assert r.json()["error"] == "ILLEGAL VALUE limit='2000' (must be in [0, 1000])"
    r = api.v1("copy_path_status", {"src_project_id": emulator.pa, "offset": 100001})
    assert r.json()["error"] == "ILLEGAL VALUE offset='100001' (must be in [0, 100000])"
    r = api.v1("copy_path_status", {"src_project_id": emulator.pa, "limit": -1})
    assert "ILLEGAL VALUE limit='-1'" in r.json()["error"]
    missing = str(uuid.uuid4())
    r = api.v1("copy_path_status", {"copy_path_id": missing})
    assert r.json()["error"] == f"Can't find copy operation with ID={missing}"
    unknown = str(uuid.uuid4())
    r = api.v1("copy_path_status", {"target_project_id": unknown})
    assert r.json()["error"] == f"ACCESS BLOCKED -- No write access to target project -- {unknown}"
    r = api.v1("copy_path_status", {"src_project_id": unknown})
    assert r.json()["error"] == f"ACCESS BLOCKED -- No read access to source project -- {unknown}"


def test_copy_errors(api, emulator):
    unknown = str(uuid.uuid4())
    base = {"src_project_id": emulator.pa, "src_path": "x", "target_project_id": emulator.pb}
    r = api.v1("copy_path_between_projects", {**base, "id": "e", "target_project_id": unknown})
    assert r.status_code == 200
    assert r.json() == {"event": "error", "id": "e", "error":
                        f"ACCESS BLOCKED -- No write access to target project -- {unknown}"}
    r = api.v1("copy_path_between_projects", {**base, "src_project_id": unknown})
    assert r.json()["error"] == f"ACCESS BLOCKED -- No read access to source project -- {unknown}"
    r = api.v1("copy_path_between_projects", {**base, "src_project_id": "nope"})
    assert r.json()["error"] == "src_project_id='nope' not valid"
    r = api.v1("copy_path_between_projects", {**base, "scheduled": "not a date"})
    assert r.json()["event"] == "error" and "not a valid date" in r.json()["error"]
    r = api.v1("copy_path_between_projects", {**base, "debug_delay_s": 1})
    assert r.status_code == 400 and "got an unexpected argument 'debug_delay_s'" in r.text


def test_timeout_fails_a_slow_copy(api, emulator, roots):
    src, dst = roots
    emulator.copy_delay = 0.5
    _write(src, "to.txt", "t")
    body = _copy(api, emulator, src_path="to.txt", timeout=0.1)
    assert body["event"] == "error" and "timeout" in body["error"]
    assert not (dst / "to.txt").exists()


def test_scheduled_copy_runs_later_and_can_be_deleted(api, emulator, roots):
    src, dst = roots
    _write(src, "s.txt", "scheduled")
    when = (datetime.now(timezone.utc) + timedelta(seconds=0.6)).isoformat()
    r = api.v1("copy_path_between_projects", {"src_project_id": emulator.pa, "src_path": "s.txt",
               "target_project_id": emulator.pb, "scheduled": when, "wait_until_done": True})
    body = r.json()
    assert body["event"] == "copy_path_between_projects_response"  # scheduled forces no-wait
    cid = body["copy_path_id"]
    data = api.v1("copy_path_status", {"copy_path_id": cid}).json()["data"]
    assert data["scheduled"] and data["started"] is None
    later = (datetime.now(timezone.utc) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")
    r = api.v1("copy_path_between_projects", {"src_project_id": emulator.pa, "src_path": "s.txt",
               "target_project_id": emulator.pb, "target_path": "never.txt", "scheduled": later})
    doomed = r.json()["copy_path_id"]
    r = api.v1("copy_path_delete", {"copy_path_id": doomed})
    assert r.json()["event"] == "copy_path_status_response"
    assert r.json()["data"] == f"copy_path_id = '{doomed}' deleted"
    r = api.v1("copy_path_delete", {"copy_path_id": doomed})
    assert r.json()["event"] == "error"
    assert r.json()["error"] == f"Copy operation '{doomed}' either does not exist or already finished"
    assert not (dst / "s.txt").exists()
    _wait_finished(api, cid)
    assert (dst / "s.txt").read_text() == "scheduled"
    r = api.v1("copy_path_delete", {"copy_path_id": cid})
    assert "either does not exist or already finished" in r.json()["error"]
    assert not (dst / "never.txt").exists()
    assert [e["copy_path_id"] for e in emulator.ledger] == [cid]


def test_delete_refuses_unscheduled_copies(api, emulator, roots):
    src, _ = roots
    emulator.copy_delay = 0.3
    _write(src, "u.txt", "u")
    cid = api.v1("copy_path_between_projects", {"src_project_id": emulator.pa,
                 "src_path": "u.txt", "target_project_id": emulator.pb}).json()["copy_path_id"]
    r = api.v1("copy_path_delete", {"copy_path_id": cid})
    assert r.json()["error"] == f"Copy operation '{cid}' either does not exist or already finished"
    r = api.v1("copy_path_delete", {})
    assert r.json()["event"] == "error"


def test_form_encoded_copy_like_the_docs(api, emulator, roots):
    src, dst = roots
    _write(src, "form/f.txt", "f")
    r = requests.post(f"{emulator.url}/api/v1/copy_path_between_projects", auth=api.auth, data={
        "src_project_id": emulator.pa, "src_path": "form", "target_project_id": emulator.pb,
        "wait_until_done": False, "exclude[]": ["*.log"]})
    body = r.json()
    assert body["event"] == "copy_path_between_projects_response"
    data = _wait_finished(api, body["copy_path_id"])
    assert data["exclude"] == ["*.log"] and data["overwrite_newer"] is False
    assert (dst / "form/f.txt").exists()


def test_ledger_counts_each_copy_once(api, emulator, roots):
    src, _ = roots
    _write(src, "l.txt", "l")
    ids = [api.v1("copy_path_between_projects", {"src_project_id": emulator.pa,
           "src_path": "l.txt", "target_project_id": emulator.pb}).json()["copy_path_id"]
           for _ in range(3)]
    for cid in ids:
        _wait_finished(api, cid)
    assert sorted(e["copy_path_id"] for e in emulator.ledger) == sorted(ids)
    r = requests.get(f"{emulator.url}/_emulator/ledger", auth=api.auth)
    assert r.status_code == 200 and sorted(e["copy_path_id"] for e in r.json()) == sorted(ids)
    assert requests.get(f"{emulator.url}/_emulator/ledger").status_code == 400
    assert requests.get(f"{emulator.url}/_emulator/ledger", auth=("bad", "")).status_code == 400
