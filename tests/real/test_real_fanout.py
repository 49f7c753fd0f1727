"""``copy_to_many`` + ``wait_all`` and ``%cocalc_copy`` to several titled projects, against a
real CoCalc (``tools/real-cocalc``)."""

from __future__ import annotations

import re

import pytest

from cocalc_widgets import CopyResults, PermissionDenied, copy_to_many, wait_all

pytestmark = pytest.mark.real_cocalc


@pytest.mark.parametrize("api", ["auto", "v2", "conat"])
def test_copy_to_many_and_wait_all(make_client, api, src_project, targets, setup_client):
    client = make_client(api)
    dest = f"fanout-{api}/"
    chosen = [(pid, dest) for pid, _ in targets]
    results = copy_to_many(client, src_project, "handout/", chosen, progress=False)
    wait_all(client, results, timeout=300, progress=False)
    assert [r.state for r in results] == ["done"] * 3, results.table()
    assert results.counts() == {"done": 3}
    assert "3 done" in results.table()
    for pid, _ in targets:
        assert setup_client.read_text_file_from_project(pid, f"{dest}data.csv") == "a,b\n1,2\n"


@pytest.mark.parametrize("api", ["auto", "v2", "conat"])
def test_copy_to_many_with_a_strangers_project(
    make_client, api, src_project, targets, stranger_project
):
    client = make_client(api)
    chosen = [targets[0][0], stranger_project, targets[1][0]]
    results = copy_to_many(client, src_project, "handout/README.md", chosen, progress=False)
    wait_all(client, results, timeout=300, progress=False)
    assert [r.state for r in results][0::2] == ["done", "done"], results.table()
    assert results[1].state in ("not started", "failed"), results.table()
    assert isinstance(results[1].error, PermissionDenied)
    assert re.search(r"must be (a )?collaborator on target project", results[1].reason)


@pytest.fixture
def shell(real, magic_shell):
    return magic_shell(real["COCALC_HOST"], real["COCALC_API_KEY"])


def test_cocalc_copy_to_several_titled_projects(
    shell, src_project, targets, setup_client, token, capsys
):
    (_, t1), (p2, t2), (p3, t3) = targets
    line = f'"cw-real src {token}":handout "{t1}" "{t2}":magic/h "{t3}":magic/h'
    results = shell.run_line_magic("cocalc_copy", line)
    assert isinstance(results, CopyResults)
    assert [r.state for r in results] == ["done"] * 3, results.table()
    assert "3 done" in capsys.readouterr().out
    for pid in (p2, p3):
        assert setup_client.read_text_file_from_project(pid, "magic/h/README.md") == "# hand-out\n"


def test_cocalc_copy_to_one_titled_project_waits(shell, src_project, targets, setup_client, token):
    from cocalc_widgets import CopyJob

    pid, title = targets[0]
    job = shell.run_line_magic(
        "cocalc_copy", f'"cw-real src {token}":handout/data.csv "{title}":one.csv'
    )
    assert isinstance(job, CopyJob) and job.last_status.ok
    assert setup_client.read_text_file_from_project(pid, "one.csv") == "a,b\n1,2\n"


def test_cocalc_copy_a_missing_file_is_one_line(shell, src_project, targets, real, capsys):
    shell.run_cell(f"%cocalc_copy {src_project}:no-such.txt {targets[0][0]}")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text and "no-such.txt" in text
    assert real["COCALC_API_KEY"] not in text
