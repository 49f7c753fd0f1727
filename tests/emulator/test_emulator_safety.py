"""Paths never leave their project folder; oversized bodies get 413."""

from __future__ import annotations

import os

import pytest
import requests

from cocalc_widgets.emulator import Emulator

BAD_PATHS = [
    "../escape.txt", "../../escape.txt", "a/../../escape.txt", "/etc/passwd", "/tmp/escape.txt",
    "~/escape.txt", "bad\x00name", "link_out/escape.txt", "link_out", "dir/../../../x",
]


def _snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


@pytest.fixture
def outside(emulator, tmp_path):
    """A sibling folder with a file, plus symlinks in both projects that point into it."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("secret")
    for pid in (emulator.pa, emulator.pb):
        os.symlink(out, emulator.project_path(pid) / "link_out")
    (emulator.project_path(emulator.pa) / "dir").mkdir()
    (emulator.project_path(emulator.pa) / "ok.txt").write_text("ok")
    return out


def _assert_untouched(outside, before, tmp_path, top_before):
    assert _snapshot(outside) == before
    assert sorted(os.listdir(tmp_path)) == top_before


def test_traversal_corpus_touches_nothing_outside(api, emulator, outside, tmp_path):
    before, top = _snapshot(outside), sorted(os.listdir(tmp_path))
    emulator.allow_exec = True
    for bad in BAD_PATHS:
        for body in (
            {"src_project_id": emulator.pa, "src_path": bad, "target_project_id": emulator.pb,
             "wait_until_done": True},
            {"src_project_id": emulator.pa, "src_path": "ok.txt", "target_path": bad,
             "target_project_id": emulator.pb, "wait_until_done": True},
        ):
            r = api.v1("copy_path_between_projects", body)
            assert r.status_code == 200 and r.json()["event"] == "error", (bad, r.text)
        r = api.v1("write_text_file_to_project",
                   {"project_id": emulator.pb, "path": bad, "content": "pwned"})
        assert r.json()["event"] == "error", bad
        r = api.v1("read_text_file_from_project", {"project_id": emulator.pb, "path": bad})
        assert r.json()["event"] == "error", bad
        r = api.v1("project_exec", {"project_id": emulator.pb, "command": "touch pwned",
                                    "path": bad})
        assert r.json()["event"] == "error", bad
        r = api.v2("projects/copy-path", {"src_project_id": emulator.pa, "path": "ok.txt",
                                          "target_path": bad, "target_project_id": emulator.pb})
        assert "error" in r.json(), bad
        r = api.v2("projects/copy-path", {"src_project_id": emulator.pa, "path": bad,
                                          "target_project_id": emulator.pb})
        assert "error" in r.json(), bad
    _assert_untouched(outside, before, tmp_path, top)
    leak = api.v1("read_text_file_from_project",
                  {"project_id": emulator.pa, "path": "link_out/secret.txt"}).json()
    assert leak["event"] == "error" and "content" not in leak


def test_symlinks_inside_a_copied_tree(api, emulator, outside, tmp_path):
    before, top = _snapshot(outside), sorted(os.listdir(tmp_path))
    src = emulator.project_path(emulator.pa)
    dst = emulator.project_path(emulator.pb)
    (src / "tree/deep").mkdir(parents=True)
    (src / "tree/deep/file.txt").write_text("x")
    os.symlink("file.txt", src / "tree/deep/inner")
    body = {"src_project_id": emulator.pa, "src_path": "tree", "target_project_id": emulator.pb,
            "wait_until_done": True}
    assert api.v1("copy_path_between_projects", body).json()["event"] == "success"
    assert os.readlink(dst / "tree/deep/inner") == "file.txt"
    for name, target in [("abs", str(outside)), ("rel", "../../../../outside"),
                         ("chain", "../../link_out")]:
        link = src / "tree/deep" / name
        os.symlink(target, link)
        r = api.v1("copy_path_between_projects", body)
        assert r.json()["event"] == "error" and "symlink" in r.json()["error"], name
        link.unlink()
    # a relative link that is fine where it is but would escape at a shallower target
    os.symlink("../../ok.txt", src / "tree/deep/up")
    r = api.v1("copy_path_between_projects", {**body, "src_path": "tree/deep", "target_path": "t"})
    assert r.json()["event"] == "error" and "symlink" in r.json()["error"]
    _assert_untouched(outside, before, tmp_path, top)


def test_symlink_in_target_tree_is_replaced_not_followed(api, emulator, outside, tmp_path):
    before, top = _snapshot(outside), sorted(os.listdir(tmp_path))
    src = emulator.project_path(emulator.pa)
    dst = emulator.project_path(emulator.pb)
    (src / "t/sub").mkdir(parents=True)
    (src / "t/sub/new.txt").write_text("new")
    (src / "t/secret.txt").write_text("overwrite?")
    (dst / "t").mkdir()
    os.symlink(outside, dst / "t/sub")
    os.symlink(outside / "secret.txt", dst / "t/secret.txt")
    r = api.v1("copy_path_between_projects", {"src_project_id": emulator.pa, "src_path": "t",
               "target_project_id": emulator.pb, "wait_until_done": True,
               "overwrite_newer": True})
    assert r.json()["event"] == "success"
    assert (dst / "t/sub").is_dir() and not (dst / "t/sub").is_symlink()
    assert (dst / "t/secret.txt").read_text() == "overwrite?"
    assert (outside / "secret.txt").read_text() == "secret"
    _assert_untouched(outside, before, tmp_path, top)


def test_body_too_large_gets_413(tmp_path):
    with Emulator(data_dir=tmp_path, max_body=1000) as emu:
        auth = (emu.api_key, "")
        r = requests.post(f"{emu.url}/api/v1/ping", auth=auth, timeout=10,
                          data=b'{"id":"' + b"x" * 2000 + b'"}',
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        r = requests.post(f"{emu.url}/api/v2/projects/create", auth=auth, timeout=10,
                          json={"title": "y" * 5000})
        assert r.status_code == 413
        assert requests.post(f"{emu.url}/api/v1/ping", auth=auth, json={"id": "small"},
                             timeout=10).json()["id"] == "small"


def test_default_limit_is_16_mib(emulator, api):
    big = {"project_id": emulator.pa, "path": "big.txt", "content": "z" * (16 * 1024 * 1024)}
    r = api.v1("write_text_file_to_project", big)
    assert r.status_code == 413
    assert not (emulator.project_path(emulator.pa) / "big.txt").exists()


def test_binds_to_loopback_by_default(tmp_path):
    emu = Emulator(data_dir=tmp_path)
    assert emu.host == "127.0.0.1"
    with emu:
        assert emu.url.startswith("http://127.0.0.1:")
