"""The journal of fan-outs: resuming a hand-out after its process died (copies sent, in flight,
finished), the lock against a second process, and journal files that cannot be used (damaged,
another format, not a journal), which give a clear error, send nothing and change nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cocalc_widgets import BadInput, CoCalcClient, JournalError, copy_to_many, wait_all
from cocalc_widgets.emulator import Emulator
from cocalc_widgets.handout.journal import Journal, handout_key


@pytest.fixture
def setup(tmp_path):
    def make(versions=("v1", "v2", "conat"), **kw):
        emu = Emulator(data_dir=tmp_path / f"data{len(versions)}", api_versions=versions, **kw).start()
        src = emu.create_project("src")
        (emu.project_path(src) / "f.txt").write_text("x")
        targets = [emu.create_project(f"t{i}") for i in range(4)]
        client = CoCalcClient(api_key=emu.api_key, host=emu.url)
        made.append((emu, client))
        return emu, client, src, targets

    made: list = []
    yield make
    for emu, client in made:
        client.close()
        emu.stop()


def _journal(tmp_path: Path) -> Path:
    return tmp_path / "j" / "journal.sqlite"


def _raw_copy(emu: Emulator, src: str, target: str) -> str:
    reply = requests.post(
        f"{emu.url}/api/v1/copy_path_between_projects",
        json={"src_project_id": src, "src_path": "f.txt", "target_project_id": target},
        auth=(emu.api_key, ""),
        timeout=10,
    ).json()
    return reply["copy_path_id"]


def _interrupted(path: Path, client: CoCalcClient, src: str, targets: list[str], states: dict) -> None:
    """A journal as a run that died would leave it: ``states`` by target index."""
    keys = [(t, "f.txt") for t in targets]
    journal = Journal(path)
    handout = journal.open_handout(
        handout_key(client.host, src, "f.txt", keys, {}),
        host=client.host, src_project_id=src, src_path="f.txt", options={}, targets=keys,
    )
    for i, (state, fields) in states.items():
        handout.record(keys[i], state, **fields)
    journal._db.execute("UPDATE handouts SET owner='elsewhere:1', heartbeat=0")  # long gone
    journal.close()


def test_resume_on_v1_finds_in_flight_copies_watches_sent_ones_and_skips_finished(setup, tmp_path):
    emu, client, src, targets = setup()
    path = _journal(tmp_path)
    landed = _raw_copy(emu, src, targets[1])  # the in-flight send that reached CoCalc
    started = _raw_copy(emu, src, targets[2])  # a send whose id was recorded
    emu.wait_idle(10)
    before = time.time() - 10
    _interrupted(path, client, src, targets, {
        0: ("done", {"finished_at": before}),
        1: ("sending", {"sent_at": time.time() - 8}),
        2: ("sent", {"copy_id": started, "api": "v1"}),
        3: ("sending", {"sent_at": time.time() - 8}),  # never reached CoCalc
    })
    results = copy_to_many(client, src, "f.txt", targets, journal=path)
    wait_all(client, results, progress=False, timeout=20)
    assert [r.state for r in results] == ["done before", "done", "done", "done"]
    assert results[1].job.copy_path_id == landed and results[2].job.copy_path_id == started
    sent_twice = [e for e in emu.ledger if e["target_project_id"] in (targets[1], targets[2])]
    assert len(sent_twice) == 2  # found and watched, not sent again
    assert len([e for e in emu.ledger if e["target_project_id"] == targets[3]]) == 1  # sent now
    assert not [e for e in emu.ledger if e["target_project_id"] == targets[0]]
    with Journal(path) as journal:
        (item,) = journal.handouts()
    assert item["counts"] == {"done": 4} and not item["running"]


def test_without_a_search_an_in_flight_copy_is_unknown_until_resend_unknown(setup, tmp_path):
    emu, client, src, targets = setup(("v2", "conat"))
    path = _journal(tmp_path)
    _interrupted(path, client, src, targets[:2], {0: ("sending", {"sent_at": time.time() - 60})})
    results = copy_to_many(client, src, "f.txt", targets[:2], journal=path)
    wait_all(client, results, progress=False, timeout=20)
    assert [r.state for r in results] == ["unknown", "done"]
    assert "resend_unknown=True" in results[0].reason and "not sent again" in results[0].reason
    assert len(emu.ledger) == 1
    results = copy_to_many(client, src, "f.txt", targets[:2], journal=path, resend_unknown=True)
    wait_all(client, results, progress=False, timeout=20)
    assert [r.state for r in results] == ["done", "done before"]
    assert len(emu.ledger) == 2


def test_a_second_process_running_the_same_hand_out_sends_nothing(setup, tmp_path):
    emu, client, src, targets = setup()
    path = _journal(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
    )
    try:
        keys = [(t, "f.txt") for t in targets]
        journal = Journal(path)
        journal.open_handout(
            handout_key(client.host, src, "f.txt", keys, {}),
            host=client.host, src_project_id=src, src_path="f.txt", options={}, targets=keys,
        )
        import socket

        journal._db.execute("UPDATE handouts SET owner=?", (f"{socket.gethostname()}:{holder.pid}",))
        journal.close()
        with pytest.raises(JournalError, match="running in another process") as info:
            copy_to_many(client, src, "f.txt", targets, journal=path)
        assert str(path) in str(info.value)
        assert emu.request_count("copy_path_between_projects") == 0 and not emu.ledger
    finally:
        holder.kill()
        holder.wait()
    results = copy_to_many(client, src, "f.txt", targets, journal=path)  # its process is gone
    assert all(r.job is not None for r in results)


@pytest.mark.parametrize("kind", ["garbage", "other-sqlite", "newer-format"])
def test_a_journal_that_cannot_be_used_says_so_and_changes_nothing(setup, tmp_path, kind):
    emu, client, src, targets = setup()
    path = _journal(tmp_path)
    path.parent.mkdir(parents=True)
    if kind == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    else:
        db = sqlite3.connect(path)
        if kind == "other-sqlite":
            db.execute("CREATE TABLE notes (x TEXT)")
        else:
            Journal(path).close()
            db.execute("UPDATE meta SET value='99' WHERE key='format'")
        db.commit()
        db.close()
    before = path.read_bytes()
    with pytest.raises(JournalError) as info:
        copy_to_many(client, src, "f.txt", targets, journal=path)
    text = str(info.value)
    assert str(path) in text and "nothing was sent" in text
    assert path.read_bytes() == before
    assert emu.request_count("copy_path_between_projects") == 0


def test_bad_targets_and_options_are_refused_before_the_journal_or_the_server(setup, tmp_path):
    emu, client, src, targets = setup()
    path = _journal(tmp_path)
    with pytest.raises(BadInput, match=f"same place twice: {targets[0]}:f.txt"):
        copy_to_many(client, src, "f.txt", [targets[0], (targets[0], "f.txt")], journal=path)
    with pytest.raises(BadInput):
        copy_to_many(client, src, "f.txt", targets, journal=path, overwrite_newer="yes")
    assert not path.exists() and emu.request_count() == 0


def test_the_summary_puts_failures_first_and_pages(setup, tmp_path):
    _emu, client, src, targets = setup()
    missing = "00000000-0000-4000-8000-000000000000"
    results = copy_to_many(client, src, "f.txt", [*targets, missing], journal=False)
    wait_all(client, results, progress=False, timeout=20)
    lines = results.table(per_page=2).splitlines()
    assert lines[0] == "Copies: 4 done, 1 not started"
    assert lines[1].split()[0:2] == ["not", "started"] and missing in lines[1]
    assert lines[-1] == "  page 1 of 3: .table(page=2)"
    assert "page 3 of 3" in results.table_html(page=9, per_page=2)


CRASH = """
import os, sys, time
from cocalc_widgets import CoCalcClient, copy_to_many, wait_all
host, key, api, src, journal = sys.argv[1:6]
targets = sys.argv[6:]
client = CoCalcClient(host=host, api_key=key, api=api)
results = copy_to_many(client, src, "f.txt", targets, journal=journal, max_in_flight=8)
print("SENT", flush=True)
wait_all(client, results, progress=False)
print("DONE", flush=True)
"""


def _copies_sent(emu: Emulator) -> int:
    return emu.request_count("copy_path_between_projects") + emu.request_count("projects/copy-path")


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_hand_out_killed_halfway_resumes_with_no_copy_sent_twice(tmp_path, api):
    """About 200 targets; the first run is killed with SIGKILL once about half were sent. On
    API v1 the sends that were in flight are found (or sent); on v2 they are reported unknown."""
    with Emulator(data_dir=tmp_path / "data", copy_delay=0.2, faults={"latency": 0.02}) as emu:
        src = emu.create_project("src")
        (emu.project_path(src) / "f.txt").write_text("x")
        targets = [emu.create_project(f"t{i}") for i in range(200)]
        path = tmp_path / "journal.sqlite"
        script = tmp_path / "run.py"
        script.write_text(CRASH)
        run = subprocess.Popen(
            [sys.executable, str(script), emu.url, emu.api_key, api, src, str(path), *targets],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        deadline = time.monotonic() + 60
        while _copies_sent(emu) < 100 and time.monotonic() < deadline:
            time.sleep(0.002)
        run.kill()  # SIGKILL: no cleanup; only what the journal had committed survives
        run.wait(10)
        sent_first = _copies_sent(emu)
        assert 60 <= sent_first < 200, (sent_first, run.stderr.read()[-2000:])
        emu.wait_idle(60)
        with CoCalcClient(host=emu.url, api_key=emu.api_key, api=api) as client:
            results = copy_to_many(client, src, "f.txt", targets, journal=path, max_in_flight=8)
            wait_all(client, results, progress=False, timeout=120)
        counts = results.counts()
        assert sum(counts.values()) == 200, counts
        if api == "v1":
            assert set(counts) <= {"done", "done before"}, counts
        else:  # no search: a send in flight at the kill may have run; it is not sent again
            assert set(counts) <= {"done", "done before", "unknown"}, counts
            assert counts.get("unknown", 0) <= 8  # at most max_in_flight were in flight
        if api == "v1":  # each target's copy was sent once in all, by one run or the other
            assert _copies_sent(emu) == 200
        else:
            assert _copies_sent(emu) <= 200
        per_target: dict[str, int] = {}
        for entry in emu.ledger:
            per_target[entry["target_project_id"]] = per_target.get(entry["target_project_id"], 0) + 1
        assert max(per_target.values()) == 1  # no copy ran twice
        unknown = {r.target_project_id for r in results if r.state == "unknown"}
        assert set(per_target) | unknown == set(targets)  # every target accounted for


def test_resume_watches_copies_sent_long_before_beyond_the_first_page_of_the_search(tmp_path):
    # A hand-out larger than one page of CoCalc's search (1,000), resumed after its copies
    # finished: the sweep must page back to when they were *sent*, not to when the resumed run
    # began watching them (which once left it waiting for ever).
    n = 1100
    with Emulator(data_dir=tmp_path / "d", api_versions=("v1",)) as emu:
        src = emu.create_project("src")
        (emu.project_path(src) / "f.txt").write_text("x")
        targets = emu.create_projects([f"t{i}" for i in range(n)])
        path = _journal(tmp_path)
        with CoCalcClient(api_key=emu.api_key, host=emu.url) as client:
            first = copy_to_many(client, src, "f.txt", targets, journal=path, max_in_flight=32)
            assert all(r.job is not None and r.error is None for r in first)
            emu.wait_idle(60)
        time.sleep(6)  # the copies are now older than the newest page's window
        with CoCalcClient(api_key=emu.api_key, host=emu.url) as client:
            results = copy_to_many(client, src, "f.txt", targets, journal=path)
            sent = client.requests_sent
            wait_all(client, results, timeout=30, progress=False)
            assert results.counts() == {"done": n}
            assert client.requests_sent - sent <= 4  # two pages of the search, not 1,100 asks
        assert len(emu.ledger) == n  # nothing sent twice


# -- running a hand-out again: what the user meant (issue 20) -------------------------------------
@pytest.mark.parametrize("versions", [("v1", "v2", "conat"), ("v2", "conat")])
def test_a_finished_hand_out_run_again_is_a_new_hand_out_with_the_new_file(setup, tmp_path, versions):
    emu, client, src, targets = setup(versions)
    path = _journal(tmp_path)
    first = copy_to_many(client, src, "f.txt", targets[:3], journal=path)
    wait_all(client, first, progress=False, timeout=20)
    assert [r.state for r in first] == ["done"] * 3 and first.notice is None
    (emu.project_path(src) / "f.txt").write_text("version 2")  # the instructor edits the file
    again = copy_to_many(client, src, "f.txt", targets[:3], journal=path)
    wait_all(client, again, progress=False, timeout=20)
    assert [r.state for r in again] == ["done"] * 3  # sent again, not "done before"
    assert again.notice.startswith("The last hand-out of f.txt to these 3 projects finished ")
    assert again.notice.endswith("; copying again") and again.notice in again.table()
    assert len(emu.ledger) == 6
    assert all((emu.project_path(t) / "f.txt").read_text() == "version 2" for t in targets[:3])


def test_an_unfinished_hand_out_resumes_and_its_fixed_failures_are_retried(setup, tmp_path):
    emu, client, src, targets = setup()
    path = _journal(tmp_path)
    # The run died: one copy done, one failed (the source was missing then), one never sent.
    _interrupted(path, client, src, targets[:3], {
        0: ("done", {"finished_at": time.time() - 60}),
        1: ("failed", {"finished_at": time.time() - 60, "error": "rsync: change_dir failed"}),
    })
    results = copy_to_many(client, src, "f.txt", targets[:3], journal=path)
    wait_all(client, results, progress=False, timeout=20)
    assert [r.state for r in results] == ["done before", "done", "done"]
    assert [r.retried for r in results] == [False, True, False]
    assert results.summary() == "2 done, 1 done before (1 retried)"
    rows = results.table().splitlines()
    assert rows[1] == f"  {results.notice}"
    assert [line.endswith("(retried)") for line in rows[2:]] == [False, True, False]
    assert results.notice.startswith("Resumed an unfinished hand-out of f.txt to these 3 projects")
    assert "1 failed copies sent again" in results.notice and "--fresh" in results.notice
    assert sorted(e["target_project_id"] for e in emu.ledger) == sorted(targets[1:3])  # not t0
    # Now it finished: the same line once more is a new hand-out.
    again = copy_to_many(client, src, "f.txt", targets[:3], journal=path)
    assert "copying again" in again.notice


def test_a_resumed_hand_out_with_an_unknown_outcome_stays_unfinished(setup, tmp_path):
    emu, client, src, targets = setup(("v2", "conat"))
    path = _journal(tmp_path)
    _interrupted(path, client, src, targets[:2], {
        0: ("unknown", {"sent_at": time.time() - 60, "error": "lost"}),
        1: ("done", {"finished_at": time.time() - 60}),
    })
    results = copy_to_many(client, src, "f.txt", targets[:2], journal=path)
    assert [r.state for r in results] == ["unknown", "done before"]  # not a new hand-out
    assert "Resumed" in results.notice and not emu.ledger
