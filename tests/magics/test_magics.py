"""The %cocalc_* magics, driven through IPython's InteractiveShell against the emulator."""

from __future__ import annotations

import time

import pytest
from IPython.core.error import UsageError

from cocalc_widgets import CopyJob, CopyResults, PermissionDenied
from cocalc_widgets.magics import MagicError


@pytest.fixture
def shell(emulator, magic_shell):
    return magic_shell(emulator.url, emulator.api_key)


@pytest.fixture
def handout(emulator):
    folder = emulator.project_path(emulator.pa) / "handout"
    folder.mkdir()
    (folder / "README.md").write_text("# hi")
    return folder


def test_copy_to_one_project_by_id_waits_and_returns_the_job(shell, emulator, handout):
    job = shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout {emulator.pb}:hw1")
    assert isinstance(job, CopyJob) and job.last_status.ok
    assert (emulator.project_path(emulator.pb) / "hw1" / "README.md").read_text() == "# hi"


def test_copy_to_many_by_title_with_a_summary(shell, emulator, handout, capsys):
    results = shell.run_line_magic("cocalc_copy", '"Project A":handout "Project B" "Project C":work/h')
    assert isinstance(results, CopyResults) and [r.state for r in results] == ["done", "done"]
    assert (emulator.project_path(emulator.pb) / "handout" / "README.md").exists()
    assert (emulator.project_path(emulator.pc) / "work" / "h" / "README.md").exists()
    assert "2 done" in capsys.readouterr().out


def test_targets_from_a_python_list(shell, emulator, handout):
    shell.user_ns["targets"] = [emulator.pb, f"{emulator.pc}:x"]
    results = shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout/README.md $targets")
    assert [r.ok for r in results] == [True, True]
    results = shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout/README.md {{targets}} --no-wait")
    assert len(results) == 2 and all(r.job is not None for r in results)  # it finished: a new one
    assert "finished" in results.notice and "copying again" in results.notice
    results = shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout/README.md {{targets}} --no-wait --fresh")
    assert len(results) == 2 and all(r.job is not None for r in results)
    shell.user_ns["many"] = [emulator.pb, emulator.pc]
    assert len(shell.run_cell(f"jobs = %cocalc_copy {emulator.pa}:handout/README.md $many").result or shell.user_ns["jobs"]) == 2


def test_a_failed_target_never_hides_the_others(shell, emulator, handout, capsys):
    missing = "00000000-0000-4000-8000-000000000000"
    results = shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout {emulator.pb} {missing} {emulator.pc}")
    assert [r.state for r in results] == ["done", "not started", "done"]
    assert isinstance(results[1].error, PermissionDenied)
    assert "ACCESS BLOCKED" in results[1].reason  # CoCalc's text (a fan-out goes to v1 here)
    out = capsys.readouterr().out
    assert "not started" in out and "No write access to target project" in out


def test_no_wait_returns_at_once(shell, emulator, handout):
    # Both calls return (sending three copies) before the first copy could have ended: copies of
    # 3 s leave a loaded machine room for the sends, where 1 s left it 0.1 s.
    emulator.copy_delay = 3.0
    start = time.monotonic()
    job = shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout {emulator.pb} --no-wait")
    assert isinstance(job, CopyJob) and time.monotonic() - start < emulator.copy_delay
    results = shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout {emulator.pb} {emulator.pc} --no-wait")
    assert isinstance(results, CopyResults) and time.monotonic() - start < emulator.copy_delay
    assert not any(r.status and r.status.done for r in results)
    assert job.wait(timeout=10).ok


def test_ambiguous_and_unknown_titles_are_usage_errors(shell, emulator, handout):
    emulator.create_project("Project B")
    with pytest.raises(UsageError, match="ambiguous") as info:
        shell.run_line_magic("cocalc_copy", f'{emulator.pa}:handout "Project B"')
    assert emulator.pb in str(info.value)
    with pytest.raises(UsageError, match="did you mean 'Project C'"):
        shell.run_line_magic("cocalc_copy", f'{emulator.pa}:handout "Project D"')
    assert emulator.ledger == []


def test_bad_arguments_are_usage_errors_and_send_nothing(shell, emulator):
    for line in ("", f"{emulator.pa}", f"{emulator.pa}:a", f"{emulator.pa}:/abs {emulator.pb}",
                 f"{emulator.pa}:a {emulator.pb} --timeout -3", f"{emulator.pa}:a {emulator.pb} --bogus",
                 f"{emulator.pa}:a {emulator.pb} --scheduled someday"):
        with pytest.raises(UsageError):
            shell.run_line_magic("cocalc_copy", line)
    assert emulator.ledger == []


def test_server_errors_are_one_line_without_the_key(shell, emulator, capsys):
    with pytest.raises(MagicError) as info:
        shell.run_line_magic("cocalc_copy", f"{emulator.pa}:nothing.txt {emulator.pb}")
    assert "failed" in str(info.value)
    shell.run_cell(f"%cocalc_copy {emulator.pa}:nothing.txt {emulator.pb}")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "CopyFailed" in text and "Traceback" not in text
    assert emulator.api_key not in text


def test_help_shows_the_arguments(shell):
    doc = shell.find_line_magic("cocalc_copy").__doc__
    assert "--overwrite-newer" in doc and "--exclude" in doc and "TARGET_PROJECT" in doc


def test_copy_status_by_id_and_search(shell, emulator, handout):
    shell.run_line_magic("config", "CoCalcMagics.api = 'v1'")  # searching is API v1 only
    job = shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout {emulator.pb}")
    status = shell.run_line_magic("cocalc_copy_status", job.copy_path_id)
    assert status.ok and status.copy_path_id == job.copy_path_id
    found = shell.run_line_magic("cocalc_copy_status", '--src "Project A"')
    assert [s.copy_path_id for s in found] == [job.copy_path_id]
    assert shell.run_line_magic("cocalc_copy_status", "--failed --src 'Project A'") == []
    with pytest.raises(UsageError):
        shell.run_line_magic("cocalc_copy_status", "")


def test_config_changes_the_client(shell, emulator):
    magics = shell.magics_manager.registry["CoCalcMagics"]
    first = magics.client
    shell.run_line_magic("config", "CoCalcMagics.api = 'v1'")
    assert magics.client is not first and magics.client.api == "v1"
    assert emulator.api_key not in repr(magics)


def test_no_key_is_one_clear_line(shell, monkeypatch):
    monkeypatch.delenv("COCALC_API_KEY")
    magics = shell.magics_manager.registry["CoCalcMagics"]
    magics.host = None  # reset the client
    with pytest.raises(MagicError, match="No CoCalc API key"):
        shell.run_line_magic("cocalc_copy_status", "65cd2079-098d-4147-bb54-12d44cebb8cb")


def test_unload_removes_the_magics(shell):
    shell.run_line_magic("unload_ext", "cocalc_widgets")
    assert shell.find_line_magic("cocalc_copy") is None
    shell.run_line_magic("load_ext", "cocalc_widgets")
    assert shell.find_line_magic("cocalc_copy") is not None


def test_embed_returns_a_signed_in_frame_without_secrets(shell, emulator, monkeypatch):
    from cocalc_widgets import CoCalcFrame

    (emulator.project_path(emulator.pa) / "notes.txt").write_text("hi")
    monkeypatch.setenv("COCALC_ACCOUNT_ID", emulator.account_id)
    frame = shell.run_line_magic("cocalc_embed", '"Project A":notes.txt --height 300')
    assert isinstance(frame, CoCalcFrame)
    assert frame.url == f"{emulator.url}/projects/{emulator.pa}/files/notes.txt?fullscreen=kiosk&session="
    assert frame.height == "300px" and frame._signin == "impersonate"
    assert emulator.request_count(endpoint="user_auth") == 1  # a fresh token was fetched
    state = repr(frame.get_state()) + repr(frame)
    (token,) = emulator.state._tokens  # the one token the emulator issued
    assert emulator.api_key not in state
    assert token not in state
    plain = shell.run_line_magic("cocalc_embed", f"{emulator.pa} --no-sign-in")
    assert plain._signin == "none" and plain.path is None
    with pytest.raises(UsageError):
        shell.run_line_magic("cocalc_embed", f"{emulator.pa}:/etc/passwd")


def test_a_key_set_with_config_never_shows_in_config_output(shell, emulator, capsys, monkeypatch):
    monkeypatch.delenv("COCALC_API_KEY")
    shell.run_line_magic("config", f"CoCalcMagics.api_key = {emulator.api_key!r}")
    shell.run_line_magic("config", "CoCalcMagics")
    out = capsys.readouterr().out
    assert "CoCalcMagics.api_key" in out and emulator.api_key not in out
    magics = shell.magics_manager.registry["CoCalcMagics"]
    assert magics.api_key == "***" and emulator.api_key not in repr(magics)
    assert magics.client.ping().latency >= 0  # the key set with %config is the one used


def test_running_a_finished_hand_out_again_copies_again_and_the_journal_lists_it(shell, emulator, handout, capsys):
    line = f"{emulator.pa}:handout {emulator.pb} {emulator.pc}"
    first = shell.run_line_magic("cocalc_copy", line)
    assert [r.state for r in first] == ["done", "done"] and len(emulator.ledger) == 2
    again = shell.run_line_magic("cocalc_copy", line)  # it finished: a new hand-out
    assert [r.state for r in again] == ["done", "done"]
    assert len(emulator.ledger) == 4
    assert "finished moments ago; copying again" in capsys.readouterr().out
    table = shell.run_line_magic("cocalc_copy_status", "--journal")
    assert len(table) == 1 and table[0]["counts"] == {"done": 2} and not table[0]["running"]
    assert "2 targets" in repr(table) and "2 done" in repr(table)
    fresh = shell.run_line_magic("cocalc_copy", line + " --fresh")
    assert [r.state for r in fresh] == ["done", "done"] and len(emulator.ledger) == 6
    assert fresh.notice is None  # started over by hand: nothing to say
    with pytest.raises(UsageError, match="same place twice"):
        shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout {emulator.pb} {emulator.pb}")
    assert len(emulator.ledger) == 6


def _status_copies(shell, emulator, handout):
    """Copies from Project A: three done (one into an untitled project, one into a project whose
    title another project shares), one failed, and one scheduled an hour ahead (unfinished)."""
    from datetime import datetime, timedelta, timezone

    shell.run_line_magic("config", "CoCalcMagics.api = 'v1'")  # searching is API v1 only
    untitled = emulator.create_project("")
    twin = emulator.create_project("Project C")
    shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout {emulator.pb} {emulator.pc} {untitled}")
    with pytest.raises(MagicError):
        shell.run_line_magic("cocalc_copy", f"{emulator.pa}:nothing.txt {emulator.pb}")
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout {twin}:later --scheduled {later} --no-wait")
    return untitled, twin


def test_copy_status_search_shows_a_table_with_titles_and_failures_first(shell, emulator, handout):
    from IPython.lib.pretty import pretty

    from cocalc_widgets import CopyStatus
    from cocalc_widgets.magics import CopyStatusTable

    untitled, twin = _status_copies(shell, emulator, handout)
    queries = emulator.request_count(endpoint="query")
    found = shell.run_line_magic("cocalc_copy_status", '--src "Project A" --finished')
    assert emulator.request_count(endpoint="query") == queries + 1  # one listing: titles both ways
    # Still the statuses, for code.
    assert isinstance(found, CopyStatusTable) and isinstance(found, list) and len(found) == 4
    assert all(isinstance(s, CopyStatus) for s in found) and isinstance(found[-1], CopyStatus)
    assert sorted(s.state for s in found) == ["done", "done", "done", "failed"]
    assert [s.source_path for s in found.failed] == ["nothing.txt"]
    # The text form: counts (failures first), then the failure with CoCalc's error text.
    text = repr(found)
    lines = text.splitlines()
    assert lines[0].startswith("Finished copies from Project A: 1 failed, 3 done (times in ")
    assert lines[1].startswith("  failed    Project A:nothing.txt -> Project B:nothing.txt  started ")
    assert "finished " in lines[1] and "No such file or directory" in lines[1]
    assert found.failed[0].error.split()[0] in lines[1]
    rest = "\n".join(lines[2:])
    assert "Project A:handout -> Project B:handout  started " in rest
    assert f"Project A:handout -> Project C ({emulator.pc[:8]}):handout" in rest  # a shared title
    assert f"Project A:handout -> {untitled}:handout" in rest  # no title: the id
    assert len(lines) == 5 and all("failed" not in line for line in lines[2:])
    assert pretty(found) == text == str(found)
    # In a notebook: HTML, failures first, escaped; the plain text beside it.
    data, _ = shell.display_formatter.format(found)
    assert data["text/plain"] == text
    page = data["text/html"]
    assert page.index(">failed<") < page.index(">done<")
    assert "Project B:nothing.txt" in page and "No such file or directory" in page
    assert f"title='copy {found.failed[0].copy_path_id}'" in page
    # By default both of CoCalc's searches, unfinished and finished copies: all five.
    every = shell.run_line_magic("cocalc_copy_status", '--src "Project A"')
    assert repr(every).startswith("Copies from Project A: 1 failed, 3 done, 1 scheduled (times in ")
    assert sorted(s.state for s in every) == ["done", "done", "done", "failed", "scheduled"]
    # --pending: the unfinished ones only; a scheduled one says when.
    pending = shell.run_line_magic("cocalc_copy_status", '--src "Project A" --pending')
    assert [s.state for s in pending] == ["scheduled"]
    (line,) = repr(pending).splitlines()[1:]
    assert line.startswith(f"  scheduled Project A:handout -> Project C ({twin[:8]}):later  scheduled ")
    assert "started" not in line and "finished" not in line
    # Filters are named in the header; an empty search is an empty table, still == [].
    failed = shell.run_line_magic("cocalc_copy_status", f"--failed --target {emulator.pb}")
    assert [s.state for s in failed] == ["failed"]
    assert repr(failed).startswith("Failed copies to Project B: 1 failed")
    none = shell.run_line_magic("cocalc_copy_status", f"--failed --target {emulator.pc}")
    assert none == [] and repr(none) == "Failed copies to Project C (" + emulator.pc[:8] + "): none"


def test_copy_status_table_escapes_titles_pages_and_falls_back_to_ids(shell, emulator, handout, monkeypatch):
    from cocalc_widgets import CoCalcError

    shell.run_line_magic("config", "CoCalcMagics.api = 'v1'")
    odd = emulator.create_project('<b>Lab</b> & "co"\nline two')
    shell.run_line_magic("cocalc_copy", f"{emulator.pa}:handout {odd} {emulator.pb}")
    found = shell.run_line_magic("cocalc_copy_status", f"--src {emulator.pa} --path handout")
    assert repr(found).startswith("Copies from Project A of handout: 2 done")
    assert 'Project A:handout -> <b>Lab</b> & "co" line two:handout' in repr(found)
    page = found._repr_html_()
    assert "<b>Lab</b>" not in page and "&lt;b&gt;Lab&lt;/b&gt; &amp; &quot;co&quot;" in page
    lines = found.table(per_page=1).splitlines()
    assert len(lines) == 3 and lines[-1] == "  page 1 of 2: .table(page=2)"
    assert "page 2 of 2" in found.table_html(page=2, per_page=1)
    with pytest.raises(CoCalcError, match="page"):
        found.table(page=0)
    # The project listing fails: the table shows ids, and the statuses still come back.
    magics = shell.magics_manager.registry["CoCalcMagics"]

    def no_listing():
        raise CoCalcError("the listing is down")

    monkeypatch.setattr(magics.client, "projects", no_listing)
    plain = shell.run_line_magic("cocalc_copy_status", f"--src {emulator.pa}")
    assert [s.copy_path_id for s in plain] == [s.copy_path_id for s in found]
    assert repr(plain).startswith(f"Copies from {emulator.pa}: 2 done")
    assert f"{emulator.pa}:handout -> {emulator.pb}:handout" in repr(plain)


@pytest.mark.parametrize("count", [1, 2])
def test_one_target_and_many_are_journaled_and_run_again_the_same(shell, emulator, handout, capsys, count):
    targets = [emulator.pb, emulator.pc][:count]
    line = f"{emulator.pa}:handout " + " ".join(targets)
    emulator.copy_delay = 1.0
    sent = shell.run_line_magic("cocalc_copy", line + " --no-wait")  # not waited: unfinished
    jobs = [sent] if count == 1 else sent.jobs
    assert len(jobs) == count and all(j.copy_path_id for j in jobs)
    resumed = shell.run_line_magic("cocalc_copy", line)  # resumes: watches the copies sent
    assert len(emulator.ledger) == count  # the copies ran once: nothing sent twice
    assert {j.copy_path_id for j in ([resumed] if count == 1 else resumed.jobs)} == {j.copy_path_id for j in jobs}
    done = [resumed.last_status] if count == 1 else [r.status for r in resumed]
    assert all(s is not None and s.ok for s in done)
    assert "Resumed an unfinished hand-out" in capsys.readouterr().out
    table = shell.run_line_magic("cocalc_copy_status", "--journal")
    assert len(table) == 1 and table[0]["counts"] == {"done": count}
    shell.run_line_magic("cocalc_copy", line)  # it finished: a new hand-out
    assert len(emulator.ledger) == 2 * count
    assert "finished moments ago; copying again" in capsys.readouterr().out


def test_copy_status_search_on_a_server_without_one_answers_from_the_journal(emulator, handout, magic_shell):
    # cocalc.com and current servers: API v2 and conat, no copy search (issue 19).
    emulator.api_versions = ("v2", "conat")
    ip = magic_shell(emulator.url, emulator.api_key)
    stranger = "7c1b2e7a-1111-4222-8333-944455556666"
    results = ip.run_line_magic("cocalc_copy", f'"Project A":handout "Project B" {stranger}')
    assert [r.state for r in results] == ["done", "not started"]
    table = ip.run_line_magic("cocalc_copy_status", '--src "Project A"')
    assert table.what.startswith("Copies from Project A in this machine's journal (")
    assert "no search of copies" in table.what
    assert sorted(s.target_project_id for s in table) == sorted([emulator.pb, stranger])
    assert [s.state for s in table.failed] == ["failed"] and table.failed[0].error
    assert len(ip.run_line_magic("cocalc_copy_status", '--failed --target "Project B"')) == 0
    assert len(ip.run_line_magic("cocalc_copy_status", '--finished --target "Project B"')) == 1
    text = repr(table)
    assert "Project B" in text and "journal" in text


def test_copy_status_search_reads_the_journal_given(emulator, handout, magic_shell, tmp_path):
    # A hand-out made with --journal PATH is found with --journal PATH, even where the server
    # has a copy search of its own (API v1, asked without --journal).
    ip = magic_shell(emulator.url, emulator.api_key)
    journal = tmp_path / "course.sqlite"
    ip.run_line_magic("cocalc_copy", f'"Project A":handout "Project B" --journal {journal}')
    table = ip.run_line_magic("cocalc_copy_status", f'--src "Project A" --journal {journal}')
    assert table.what == f"Copies from Project A in the journal {journal}"
    assert [(s.target_project_id, s.state) for s in table] == [(emulator.pb, "done")]
    searched = ip.run_line_magic("cocalc_copy_status", '--src "Project A"')  # the server's search
    assert "journal" not in searched.what and len(searched) == 1
    with pytest.raises(UsageError, match=r"no journal at .*missing\.sqlite"):
        ip.run_line_magic("cocalc_copy_status", f'--src "Project A" --journal {tmp_path}/missing.sqlite')
    with pytest.raises(UsageError, match="a COPY_PATH_ID is asked of the server"):
        ip.run_line_magic("cocalc_copy_status", f"{emulator.pa} --journal {journal}")
