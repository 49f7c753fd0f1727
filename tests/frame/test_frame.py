"""Unit tests of CoCalcFrame: queue, correlation, timeouts, traits and secrets.

The front end is simulated: its messages go in through the widget's comm handler
(``_handle_msg``) and everything the kernel would send to the browser is recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import ipywidgets
import pytest

import cocalc_widgets.frame as frame_module
from cocalc_widgets.errors import BadInput, CommandError, CommandTimeout, FrameNotReady
from cocalc_widgets.frame import CoCalcFrame, kiosk_url

PID = "7c1b2e7a-1111-4222-8333-944455556666"
PID2 = "0d0c0b0a-aaaa-4bbb-8ccc-dddddddddddd"
TOKEN = "tok-SECRET-abcdefghijklmn"
STATUS = {
    "status": "done",
    "connection": {"quality": "good", "status": "connected", "status_time": "2026-12-03T20:00:00.000Z", "ping": 12},
    "open_files": {PID: ["a.txt"]},
}


class Front:
    """A fake front end: records kernel->browser messages and sends browser->kernel ones."""

    def __init__(self, frame: CoCalcFrame) -> None:
        self.frame = frame
        self.sent: list[dict[str, Any]] = []
        frame._send = lambda msg, buffers=None: self.sent.append(msg)  # type: ignore[method-assign]

    def msg(self, **content: Any) -> None:
        data = {"method": "custom", "content": content}
        self.frame._handle_msg({"content": {"data": data}, "buffers": []})

    def hello(self, view: str = "v1", origin: str = "https://lab.example") -> dict[str, Any]:
        before = len(self.sent)
        self.msg(kind="hello", view=view, origin=origin)
        assert len(self.sent) == before + 1
        return self.customs()[-1]

    def ready(self, view: str = "v1", reply: dict[str, Any] | None = None) -> None:
        self.msg(kind="state", view=view, ready=True, reply=reply or STATUS)

    def reply(self, cid: int, reply: dict[str, Any], view: str = "v1", ack: Any = None) -> None:
        self.msg(kind="reply", view=view, id=cid, reply=reply, ack=ack)

    def customs(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.sent if m.get("method") == "custom"]


@pytest.fixture(autouse=True)
def _no_foreign_running_loop() -> Iterator[None]:
    """Playwright's sync API (browser tests in the same session) leaves its event loop marked
    as running in this thread; these tests model a kernel's loop themselves."""
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    yield
    asyncio._set_running_loop(loop)


@pytest.fixture
def frame() -> CoCalcFrame:
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", timeout=5)
    yield f
    f.close()


@pytest.fixture
def front(frame: CoCalcFrame) -> Front:
    return Front(frame)


# -- URLs and validation ------------------------------------------------------------------------
def test_kiosk_urls() -> None:
    assert kiosk_url("https://cocalc.com/", PID, "a b/#c?.txt") == (
        f"https://cocalc.com/projects/{PID}/files/a%20b/%23c%3F.txt?fullscreen=kiosk&session="
    )
    assert kiosk_url("https://cocalc.com") == "https://cocalc.com/app?fullscreen=kiosk&session="
    assert kiosk_url("cocalc.com", PID) == (
        f"https://cocalc.com/projects/{PID}/files/?fullscreen=kiosk&session="
    )
    assert kiosk_url("https://x.org/base/", PID, "d/", kiosk=False) == (
        f"https://x.org/base/projects/{PID}/files/d/?session="
    )
    f = CoCalcFrame(PID.upper(), "nb.ipynb", host="https://CoCalc.example:8443/")
    assert (
        f.url
        == f"https://cocalc.example:8443/projects/{PID}/files/nb.ipynb?fullscreen=kiosk&session="
    )
    assert f._origin == "https://cocalc.example:8443"
    assert f.host == "https://cocalc.example:8443"
    assert f.project_id == PID and f.path == "nb.ipynb"
    f.close()


@pytest.mark.parametrize(
    "args",
    [
        {"project_id": "not-a-uuid"},
        {"project_id": 12},
        {"project_id": PID, "path": "/etc/passwd"},
        {"project_id": PID, "path": "../other"},
        {"project_id": PID, "path": "a/./b"},
        {"project_id": PID, "path": "a//b"},
        {"project_id": PID, "path": ""},
        {"project_id": PID, "path": "a\x00b"},
        {"project_id": PID, "path": 3},
        {"path": "a.txt"},
        {"host": "ftp://cocalc.com"},
        {"host": "https://cocalc.com/?x=1"},
        {"host": ""},
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": True},
        {"sign_in": "cookie", "auth_token": TOKEN},
        {"auth_token": ""},
        {"account_id": PID},
        {"height": 2.5},
    ],
)
def test_bad_arguments_raise_before_anything(args: dict[str, Any]) -> None:
    with pytest.raises(BadInput):
        CoCalcFrame(**args)


def test_command_validation(frame: CoCalcFrame, front: Front) -> None:
    with pytest.raises(BadInput):
        frame.open_file("../x")
    with pytest.raises(BadInput):
        frame.open_file("a.txt", project_id="nope")
    with pytest.raises(BadInput):
        frame.command("")
    with pytest.raises(BadInput):
        frame.command("open", action="x")
    with pytest.raises(BadInput):
        frame.status(timeout=0)
    app = CoCalcFrame(host="https://cocalc.example")
    with pytest.raises(BadInput, match="project_id"):
        app.open_file("a.txt")
    app.close()
    assert front.sent == []


def test_kiosk_false_refuses_commands() -> None:
    f = CoCalcFrame(PID, "a.txt", kiosk=False)
    assert "fullscreen" not in f.url
    with pytest.raises(BadInput, match="kiosk"):
        f.status()
    f.close()


def test_widget_open_still_works(frame: CoCalcFrame) -> None:
    # ipywidgets' Widget.open() (creates the comm) is not overridden by the command API.
    assert CoCalcFrame.open is ipywidgets.Widget.open
    assert frame.comm is not None


# -- secrets ------------------------------------------------------------------------------------
class FakeClient:
    host = "https://cocalc.example/"
    api_key = "sk-APIKEY-never-in-the-browser"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def user_auth(self, account_id: str, password: str = "") -> str:
        self.calls.append((account_id, password))
        return TOKEN


def test_token_is_not_in_repr_state_or_errors() -> None:
    client = FakeClient()
    f = CoCalcFrame(PID, "a.txt", client=client, account_id=PID2, password="pw", timeout=0.05)
    assert client.calls == [(PID2, "pw")]
    assert f.host == "https://cocalc.example"
    front = Front(f)
    texts = [
        repr(f),
        str(f.get_state()),
        json.dumps(ipywidgets.Widget.get_manager_state(widgets=[f])),
        json.dumps(f.get_state()),
        str(f._repr_mimebundle_()),
    ]
    h = f.status()
    with pytest.raises(CommandTimeout) as info:
        time.sleep(0.06)
        h.result()
    texts += [str(info.value), repr(info.value), repr(h), f.last_error]
    for text in texts:
        assert TOKEN not in text
        assert client.api_key not in text
    assert f.get_state()["_signin"] == "impersonate"
    # The token only travels in the setup message answering a view's hello.
    setup = front.hello()
    assert setup["auth_token"] == TOKEN
    assert all(client.api_key not in json.dumps(m) for m in front.sent)
    assert all("auth_token" not in m for m in front.customs() if m["kind"] != "setup")
    f.close()


def test_no_token_means_no_sign_in(frame: CoCalcFrame, front: Front) -> None:
    assert frame.get_state()["_signin"] == "none"
    assert "auth_token" not in front.hello()


def test_sign_in_url_flow() -> None:
    f = CoCalcFrame(PID, "a.txt", auth_token=TOKEN, sign_in="url")
    assert f.get_state()["_signin"] == "url"
    assert TOKEN not in f.url
    assert f.get_state()["_impersonate_url"] == "https://cocalc.com/auth/impersonate"
    f.close()


# -- queueing and message counts ----------------------------------------------------------------
def test_commands_before_a_view_are_queued_then_flushed_in_one_message(
    frame: CoCalcFrame, front: Front
) -> None:
    h1 = frame.status()
    h2 = frame.open_file("b.txt")
    h3 = frame.closeall()
    assert front.sent == [], "nothing is sent before a view exists (it would be lost)"
    assert [h.state for h in (h1, h2, h3)] == ["queued"] * 3
    setup = front.hello()
    assert setup["kind"] == "setup" and setup["leader"] == "v1"
    assert [c["id"] for c in setup["cmds"]] == [h1.id, h2.id, h3.id]
    assert setup["cmds"][1]["payload"] == {"action": "open", "project_id": PID, "path": "b.txt"}
    assert all(0 < c["timeout_ms"] <= 5000 for c in setup["cmds"])
    assert [h.state for h in (h1, h2, h3)] == ["sent"] * 3


def test_one_kernel_message_per_command_and_no_trait_echo(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    front.ready()
    front.sent.clear()
    handles = [frame.status(), frame.open_file("x.txt"), frame.closeall()]
    assert len(front.sent) == 3
    assert all(m["method"] == "custom" and m["content"]["kind"] == "cmd" for m in front.sent)
    assert [len(m["content"]["cmds"]) for m in front.sent] == [1, 1, 1]
    front.reply(handles[0].id, STATUS)
    ack = {"status": "ack", "action": "open", "project_id": PID, "path": "x.txt"}
    front.reply(handles[1].id, {**ack, "status": "done"}, ack=ack)
    front.reply(handles[2].id, {"status": "done", "mesg": "all files are closed"})
    assert all(h.done() for h in handles)
    assert len(front.sent) == 3, "replies cause no kernel->browser message (traits not synced)"


def test_status_reply_updates_traits_before_the_handle_resolves(
    frame: CoCalcFrame, front: Front
) -> None:
    front.hello()
    assert frame.ready is False
    front.ready(reply={"status": "done", "connection": {"quality": "flaky"}, "open_files": {}})
    assert frame.ready is True
    assert frame.connection == {"quality": "flaky"}
    h = frame.status()
    seen: list[Any] = []
    h.add_done_callback(lambda hh: seen.append((frame.connection, frame.open_files, hh.state)))
    front.reply(h.id, STATUS)
    assert seen == [(STATUS["connection"], STATUS["open_files"], "done")]
    assert h.result() == STATUS
    assert frame.open_files == {PID: ["a.txt"]}


def test_open_ack_then_done(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    front.ready()
    h = frame.open_file("sub/b.txt", project_id=PID2)
    assert "sent" in repr(h) and "'sub/b.txt'" in repr(h)
    ack = {"status": "ack", "action": "open", "project_id": PID2, "path": "sub/b.txt"}
    front.msg(kind="ack", view="v1", id=h.id, ack=ack)
    assert h.state == "acknowledged" and h.ack == ack and not h.done()
    assert "acknowledged" in repr(h)
    done = {**ack, "status": "done"}
    front.reply(h.id, done, ack=ack)
    assert h.result() == done and h.ack == ack
    assert "done in" in repr(h)


def test_error_reply_raises_command_error(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    front.ready()
    h = frame.command("frobnicate", x=1)
    assert front.customs()[-1]["cmds"][0]["payload"] == {"action": "frobnicate", "x": 1}
    front.reply(h.id, {"status": "error", "mesg": "Unknown action 'frobnicate'"})
    with pytest.raises(CommandError) as info:
        h.result()
    assert info.value.mesg == "Unknown action 'frobnicate'"
    assert "Unknown action 'frobnicate'" in str(info.value)
    assert "Unknown action" in frame.last_error
    assert h.state == "error" and "Unknown action" in repr(h)
    assert frame.pending == []


# -- timeouts -----------------------------------------------------------------------------------
def test_timeout_without_a_view_says_so(frame: CoCalcFrame) -> None:
    h = frame.status(timeout=0.05)
    time.sleep(0.07)
    assert h.done() and h.state == "timed out"
    with pytest.raises(FrameNotReady) as info:
        h.result()
    assert "not displayed" in str(info.value)
    assert isinstance(info.value, CommandTimeout)
    assert "timed out after 0.05 s" in repr(h)
    assert frame.pending == []
    assert "No reply" in frame.last_error


def test_without_a_kernel_a_wait_fails_at_once_and_says_only_that(frame: CoCalcFrame) -> None:
    h = frame.status()  # the frame's timeout is long: nothing can ever show it here
    start = time.monotonic()
    with pytest.raises(FrameNotReady) as info:
        h.result()
    with pytest.raises(FrameNotReady):
        asyncio.run(h._wait())
    assert time.monotonic() - start < frame.timeout / 2
    text = str(info.value)
    assert "not a Jupyter kernel" in text and "display(frame)" in text
    assert "Likely causes" not in text and "iframe_comm_hosts" not in text and "kiosk" not in text
    assert not h.done()  # still queued: displaying the frame in a notebook would send it


@pytest.mark.parametrize("how", ["result", "await"])
def test_in_a_kernel_with_no_view_a_wait_fails_after_a_short_grace(
    frame: CoCalcFrame, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # A headless run (nbclient, papermill): a kernel, the frame displayed, no widget front end
    # and no view ever.
    monkeypatch.setattr(frame_module, "_in_kernel", lambda: True)
    monkeypatch.setattr(frame_module, "_VIEW_GRACE", 0.2)
    monkeypatch.setattr(frame_module, "_VIEW_SEEN", False)
    h = frame.status()
    assert frame.timeout >= 10 * 0.2
    start = time.monotonic()
    with pytest.raises(FrameNotReady) as info:
        h.result() if how == "result" else asyncio.run(h._wait())
    assert time.monotonic() - start < frame.timeout / 2
    assert h.state == "timed out" and frame.pending == []
    text = str(info.value)
    assert "no view of the frame appeared within 0.2 s" in text and "nbclient" in text
    assert "Likely causes" not in text and "iframe_comm_hosts" not in text
    assert text in frame.last_error


@pytest.mark.parametrize("front_end", ["control channel", "an earlier view"])
def test_with_a_widget_front_end_a_slow_view_is_waited_for(
    frame: CoCalcFrame, front: Front, monkeypatch: pytest.MonkeyPatch, front_end: str
) -> None:
    # JupyterLab on a loaded machine may take longer than the grace to show a new frame: a
    # front end is known to be there, so the wait goes on until the view comes.
    monkeypatch.setattr(frame_module, "_in_kernel", lambda: True)
    monkeypatch.setattr(frame_module, "_VIEW_GRACE", 0.1)
    monkeypatch.setattr(frame_module, "_VIEW_SEEN", front_end == "an earlier view")
    if front_end == "control channel":
        monkeypatch.setattr(ipywidgets.Widget, "_control_comm", object(), raising=False)
    h = frame.status()

    def shown_late() -> None:
        front.hello()
        front.ready()
        front.reply(h.id, STATUS)

    threading.Timer(0.5, shown_late).start()  # five graces late
    assert h.result() == STATUS


def test_in_a_kernel_a_view_that_comes_during_the_grace_lets_the_wait_go_on(
    frame: CoCalcFrame, front: Front, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frame_module, "_in_kernel", lambda: True)
    monkeypatch.setattr(frame_module, "_VIEW_GRACE", 0.2)
    monkeypatch.setattr(frame_module, "_VIEW_SEEN", False)
    h = frame.status()

    def shown_then_answered() -> None:
        front.hello()
        front.ready()
        time.sleep(0.3)  # past the grace: the view keeps the wait going
        front.reply(h.id, STATUS)

    threading.Timer(0.05, shown_then_answered).start()
    assert h.result() == STATUS


def test_timeout_not_ready_names_the_causes(frame: CoCalcFrame, front: Front) -> None:
    front.hello(origin="https://lab.example")
    h = frame.status(timeout=0.05)
    with pytest.raises(FrameNotReady) as info:
        h.result(timeout=1)
    text = str(info.value)
    assert "status polls" in text
    assert "https://lab.example" in text
    assert "iframe_comm_hosts" in text and "kiosk" in text and "loading" in text


def test_timeout_after_sending(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    front.ready()
    h = frame.open_file("a.txt", timeout=0.1)
    front.msg(kind="ack", view="v1", id=h.id, ack={"status": "ack", "action": "open"})
    with pytest.raises(CommandTimeout) as info:
        h.result()
    assert not isinstance(info.value, FrameNotReady)
    assert "acknowledged" in str(info.value)
    # A reply that comes too late is ignored.
    front.reply(h.id, {"status": "done", "action": "open"})
    assert h.state == "timed out"


def test_http_notebook_and_remote_cocalc_is_said_up_front(frame: CoCalcFrame, front: Front) -> None:
    front.hello(origin="http://localhost:8888")
    with pytest.warns(UserWarning, match="not https"):
        h = frame.status(timeout=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame.status(timeout=0.05)  # warned once only
    with pytest.raises(CommandTimeout) as info:
        h.result()
    assert str(info.value).index("http://localhost:8888") < str(info.value).index("(2)")
    assert "(1) this notebook's page is http://localhost:8888, plain http" in str(info.value)
    assert "not listed" not in str(info.value)  # the http case, not the other one


@pytest.mark.parametrize(
    ("host", "origin", "says", "not_says"),
    [
        ("https://cocalc.example", "http://lab.example", "plain http: CoCalc answers only https pages", "not listed"),
        ("https://cocalc.example", "https://lab.example:8443", "an origin with a port never matches", "plain http"),
        ("https://cocalc.example", "https://lab.example", "host (lab.example) is not listed in CoCalc's site setting iframe_comm_hosts", "plain http"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:8888", "--dev-http-origins", "not listed"),
    ],
)
def test_the_timeout_names_the_actual_case(host, origin, says, not_says) -> None:
    f = CoCalcFrame(PID, "a.txt", host=host, timeout=0.05)
    Front(f).hello(origin=origin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = f.status()
    with pytest.raises(FrameNotReady) as info:
        h.result(timeout=1)
    assert says in str(info.value) and not_says not in str(info.value)
    assert "(1) this notebook's" in str(info.value)
    f.close()


def test_loopback_cocalc_on_http_is_fine() -> None:
    f = CoCalcFrame(PID, "a.txt", host="http://127.0.0.1:5000", timeout=0.05)
    front = Front(f)
    front.hello(origin="http://127.0.0.1:8888")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = f.status()
    with pytest.raises(CommandTimeout) as info:
        h.result()
    assert "served from" not in str(info.value)
    f.close()


def test_clock_starts_at_issue_including_the_wait_for_a_view(
    frame: CoCalcFrame, front: Front
) -> None:
    h = frame.status(timeout=0.5)
    time.sleep(0.2)
    setup = front.hello()
    assert setup["cmds"][0]["timeout_ms"] <= 310
    assert h.deadline - h.issued == pytest.approx(0.5)


def test_default_timeout_is_the_frames() -> None:
    f = CoCalcFrame(PID)
    assert f.timeout == 30.0
    assert f.status().timeout == 30.0
    f.timeout = 2
    assert f.status().timeout == 2.0
    with pytest.raises(BadInput):
        f.timeout = -3
    f.close()


# -- await, result, callbacks -------------------------------------------------------------------
def test_await_inside_a_running_loop(frame: CoCalcFrame, front: Front) -> None:
    async def cell() -> dict[str, Any]:
        front.hello()  # the front end's messages arrive on this loop, as in a kernel
        front.ready()
        h = frame.status()
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, front.reply, h.id, STATUS)  # as ipykernel would, while we await
        with pytest.raises(RuntimeError, match="await"):
            h.result()  # blocking here could never see the reply
        return await h

    assert asyncio.run(cell()) == STATUS


def test_await_times_out_on_the_loop(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    front.ready()

    async def cell() -> float:
        t0 = time.monotonic()
        with pytest.raises(CommandTimeout):
            await frame.status(timeout=0.05)
        return time.monotonic() - t0

    assert 0.04 < asyncio.run(cell()) < 1.0


def test_awaiting_a_done_handle_returns_at_once(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    front.ready()
    h = frame.closeall()
    front.reply(h.id, {"status": "done", "mesg": "all files are closed"})
    assert asyncio.run(_await(h)) == {"status": "done", "mesg": "all files are closed"}


async def _await(h: Any) -> Any:
    return await h


def test_result_waits_for_a_reply_from_another_thread(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    front.ready()
    h = frame.status()
    threading.Timer(0.05, front.reply, (h.id, STATUS)).start()
    assert h.result(timeout=2) == STATUS


def test_result_with_a_short_wait_raises_plain_timeout(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    h = frame.status()
    with pytest.raises(TimeoutError) as info:
        h.result(timeout=0.01)
    assert not isinstance(info.value, CommandTimeout)
    assert not h.done()


def test_done_callbacks(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    front.ready()
    h = frame.status()
    calls: list[str] = []
    h.add_done_callback(lambda hh: calls.append(hh.state))
    h.add_done_callback(lambda hh: 1 / 0)  # a failing callback is logged, not raised
    front.reply(h.id, STATUS)
    h.add_done_callback(lambda hh: calls.append("late"))
    assert calls == ["done", "late"]


# -- views ----------------------------------------------------------------------------------------
def test_two_views_only_the_leader_counts_and_duplicates_are_ignored(
    frame: CoCalcFrame, front: Front
) -> None:
    front.hello("v1")
    front.ready("v1")
    h = frame.status()
    setup = front.hello("v2")  # a second view: it becomes the relay, pending commands move
    assert setup["leader"] == "v2" and [c["id"] for c in setup["cmds"]] == [h.id]
    assert frame.views == 2 and frame.ready is False
    front.reply(h.id, {"status": "error", "mesg": "from the old view"}, view="v1")
    assert not h.done(), "replies from a view that is not the leader are ignored"
    front.ready("v2")
    front.reply(h.id, STATUS, view="v2")
    front.reply(h.id, {"status": "error", "mesg": "duplicate"}, view="v2")
    assert h.result() == STATUS


def test_leader_goes_away(frame: CoCalcFrame, front: Front) -> None:
    front.hello("v1")
    front.hello("v2")
    h = frame.status()
    front.sent.clear()
    front.msg(kind="bye", view="v2")
    assert frame.views == 1
    (setup,) = front.customs()
    assert setup["leader"] == "v1" and "auth_token" not in setup
    assert [c["id"] for c in setup["cmds"]] == [h.id]
    front.msg(kind="bye", view="v1")
    assert frame.views == 0 and h.state == "queued"
    frame.closeall()
    assert len(front.customs()) == 1, "no view: queued in Python"
    setup = front.hello("v3")
    assert len(setup["cmds"]) == 2


def test_ready_goes_false_on_reload(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    front.ready()
    front.msg(kind="state", view="v1", ready=False)
    assert frame.ready is False


def test_junk_messages_are_ignored(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    for content in (
        {"kind": "reply"},
        {"kind": "reply", "view": "v1", "id": [1], "reply": STATUS},
        {"kind": "reply", "view": "v1", "id": 99, "reply": STATUS},
        {"kind": "reply", "view": "v1", "id": True, "reply": STATUS},
        {"kind": "ack", "view": "v1", "id": 1, "ack": "x"},
        {"kind": "state", "view": "v1", "reply": "x"},
        {"kind": "log", "view": "v1", "event": 3},
        {"kind": "unknown", "view": "v1"},
    ):
        front.msg(**content)
    frame._handle_msg({"content": {"data": {"method": "custom", "content": "x"}}, "buffers": []})
    assert frame.project_log == []


# -- project log ----------------------------------------------------------------------------------
def test_project_log_trait_and_callbacks(frame: CoCalcFrame, front: Front) -> None:
    front.hello()
    seen: list[dict[str, Any]] = []
    frame.on_project_log(seen.append)
    frame.on_project_log(seen.append)  # registered once
    event = {"event": {"event": "open", "filename": "a.txt"}, "project_id": PID, "id": "1"}
    front.msg(kind="log", view="v1", event=event)
    assert frame.project_log == [event] and seen == [event]
    front.msg(kind="log", view="other", event=event)  # not the leader: ignored
    assert len(seen) == 1
    frame.on_project_log(seen.append, remove=True)
    for i in range(120):
        front.msg(kind="log", view="v1", event={"id": str(i)})
    assert len(seen) == 1
    assert len(frame.project_log) == 100 and frame.project_log[-1] == {"id": "119"}


def test_read_only_traits(frame: CoCalcFrame) -> None:
    import traitlets

    for name in ("ready", "connection", "open_files", "last_error", "project_log"):
        with pytest.raises(traitlets.TraitError):
            setattr(frame, name, getattr(frame, name))
        assert not frame.trait_metadata(name, "sync")


def test_repr(frame: CoCalcFrame, front: Front) -> None:
    assert repr(frame) == (
        f"CoCalcFrame(project_id='{PID}', path='a.txt', host='https://cocalc.example', not shown)"
    )
    front.hello()
    frame.status()
    assert "waiting for CoCalc, pending=1" in repr(frame)
    front.ready()
    assert "ready" in repr(frame)
    assert repr(CoCalcFrame()) == "CoCalcFrame(host='https://cocalc.com', not shown)"


def test_a_stale_token_is_refreshed_for_a_new_view(monkeypatch: pytest.MonkeyPatch) -> None:
    import cocalc_widgets.frame as frame_module

    client = FakeClient()
    f = CoCalcFrame(PID, client=client, account_id=PID2)
    front = Front(f)
    assert front.hello("v1")["auth_token"] == TOKEN and len(client.calls) == 1
    monkeypatch.setattr(frame_module, "_TOKEN_REFRESH_AGE", 0.0)
    assert front.hello("v2")["auth_token"] == TOKEN
    assert len(client.calls) == 2, "a token older than the refresh age is fetched anew"
    f.close()


def test_auth_token_objects_are_sent_as_plain_strings() -> None:
    class HiddenToken(str):
        def __repr__(self) -> str:
            return "HiddenToken('***')"

    f = CoCalcFrame(PID, auth_token=HiddenToken(TOKEN))
    front = Front(f)
    token = front.hello()["auth_token"]
    assert type(token) is str and token == TOKEN
    f.close()


def test_auth_url_from_create_token_signs_in_without_a_client() -> None:
    from cocalc_widgets import AuthLink

    url = AuthLink(f"https://cocalc.example/auth/impersonate?auth_token={TOKEN}")
    f = CoCalcFrame(PID, "a.txt", auth_url=url)
    assert f.host == "https://cocalc.example"  # taken from the URL
    assert f.get_state()["_signin"] == "impersonate"
    assert f.get_state()["_impersonate_url"] == "https://cocalc.example/auth/impersonate"
    for text in (repr(f), json.dumps(f.get_state())):
        assert TOKEN not in text
    assert Front(f).hello()["auth_token"] == TOKEN
    f.close()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"auth_url": "https://cocalc.example/app?auth_token=x"}, "sign-in URL"),
        ({"auth_url": "https://cocalc.example/auth/impersonate"}, "sign-in URL"),
        ({"auth_url": "https://cocalc.example/auth/impersonate?auth_token="}, "sign-in URL"),
        ({"auth_url": "https://cocalc.example/auth/impersonate?auth_token=a&x=1"}, "sign-in URL"),
        ({"auth_url": 42}, "sign-in URL"),
        ({"auth_url": f"https://other.example/auth/impersonate?auth_token={TOKEN}", "host": "https://cocalc.example"}, "signs in to https://other.example"),
        ({"auth_url": f"https://cocalc.example/auth/impersonate?auth_token={TOKEN}", "auth_token": TOKEN}, "not several"),
    ],
)
def test_a_bad_auth_url_is_refused_without_showing_the_token(kwargs, words) -> None:
    with pytest.raises(BadInput, match=words) as info:
        CoCalcFrame(PID, **kwargs)
    assert TOKEN not in str(info.value)


# -- modes ----------------------------------------------------------------------------------------
def test_plain_urls() -> None:
    from cocalc_widgets.frame import plain_url

    base = "https://cocalc.example"
    assert plain_url(base, PID, "a b/c.md") == f"{base}/projects/{PID}/files/a%20b/c.md?fullscreen=project&session="
    assert plain_url(base, PID, None) == f"{base}/projects/{PID}/files/?fullscreen=project&session="
    assert plain_url(base, PID, "x", "fullscreen").endswith("/files/x?fullscreen&session=")
    assert plain_url(base, PID, "x", "default").endswith("/files/x?session=")
    assert plain_url(base, None) == f"{base}/app?fullscreen=project&session="
    with pytest.raises(BadInput, match="display"):
        plain_url(base, PID, "x", "huge")


def test_mode_auto_starts_connecting_and_syncs_what_the_front_end_needs() -> None:
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", bridge_wait=3)
    state = f.get_state()
    assert f.mode == "connecting" and state["_mode"] == "connecting"
    assert state["_mode_request"] == "auto" and state["_bridge_wait_ms"] == 3000
    assert state["_nav"] == {
        "url": f"https://cocalc.example/projects/{PID}/files/a.txt?fullscreen=project&session=",
        "project_id": PID,
        "path": "a.txt",
    }
    assert CoCalcFrame(PID, mode="bridge").mode == "bridge"
    assert CoCalcFrame(PID, mode="navigate").mode == "navigate"
    for bad in ({"mode": "fast"}, {"bridge_wait": 0}, {"bridge_wait": "10"}, {"display": "big"}):
        with pytest.raises(BadInput):
            CoCalcFrame(PID, **bad)
    f.close()


def test_the_switch_to_navigate_is_said_once_and_never_undone() -> None:
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", timeout=5)
    front = Front(f)
    front.hello(origin="https://lab.example")
    seen = []
    f.observe(lambda change: seen.append(change.new), names="mode")
    with pytest.warns(UserWarning, match="navigate mode") as caught:
        front.msg(kind="mode", view="v1", mode="navigate", waited_ms=10000, polls=33)
    assert len(caught) == 1
    assert f.mode == "navigate" and f.get_state()["_mode"] == "navigate" and seen == ["navigate"]
    assert "did not answer within 10 s" in f.last_error and "iframe_comm_hosts" in f.last_error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        front.msg(kind="mode", view="v1", mode="bridge")  # a late answer: no flip back
        front.msg(kind="state", view="v1", ready=True, reply=STATUS)
    assert f.mode == "navigate" and seen == ["navigate"]
    assert "navigate mode" in repr(f)
    f.close()


def test_navigate_mode_commands() -> None:
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", mode="navigate", timeout=5)
    front = Front(f)
    front.hello()
    with pytest.raises(CommandError, match=r"navigate mode.*'frob'"):
        f.command("frob")
    assert "navigate mode" in f.last_error
    h = f.open_file("b.md")
    (cmd,) = front.customs()[-1]["cmds"]
    assert cmd["nav"] == f"https://cocalc.example/projects/{PID}/files/b.md?fullscreen=project&session="
    assert cmd["payload"] == {"action": "open", "project_id": PID, "path": "b.md"}  # what a bridge gets
    done = {"status": "done", "action": "open", "path": "b.md", "project_id": PID, "mode": "navigate"}
    front.reply(h.id, done)
    assert h.result(timeout=1) == done
    c = f.closeall()
    assert front.customs()[-1]["cmds"][0]["nav"].endswith(f"/projects/{PID}/files/?fullscreen=project&session=")
    front.reply(c.id, {"status": "done", "action": "closeall", "mode": "navigate", "mesg": "showing the project's files"})
    s = f.status()
    answer = {"status": "done", "mode": "navigate", "url": "u", "open_files": {PID: ["b.md"]}}
    front.reply(s.id, answer)
    assert s.result(timeout=1) == answer and f.open_files == {PID: ["b.md"]}
    f.close()


def test_a_bridge_that_answers_decides_bridge_mode() -> None:
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example")
    front = Front(f)
    front.hello()
    front.msg(kind="mode", view="v1", mode="bridge")
    front.ready()
    assert f.mode == "bridge" and f.ready
    front.msg(kind="mode", view="v1", mode="navigate", waited_ms=10000)  # too late: ignored
    assert f.mode == "bridge"
    f.command("frob")  # any command goes to the bridge
    f.close()


def test_commands_issued_while_connecting_are_sent_and_wait_for_the_decision() -> None:
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", timeout=5)
    front = Front(f)
    front.hello()
    h = f.command("frob")  # not refused while the mode is unknown
    assert front.customs()[-1]["cmds"][0]["payload"]["action"] == "frob"
    with pytest.warns(UserWarning, match="navigate mode"):
        front.msg(kind="mode", view="v1", mode="navigate", waited_ms=10000)
    front.reply(h.id, {"status": "error", "mode": "navigate", "mesg": "no bridge can answer 'frob'"})
    with pytest.raises(CommandError, match="no bridge"):
        h.result(timeout=1)
    f.close()


# -- hosts ----------------------------------------------------------------------------------------
class _FakeMarimo:
    @staticmethod
    def running_in_notebook() -> bool:
        return True


def test_in_marimo_awaiting_or_blocking_on_a_reply_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", timeout=30)
    front = Front(f)
    front.hello()
    front.ready()
    monkeypatch.setitem(sys.modules, "marimo", _FakeMarimo)
    h = f.status()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"between cell runs.*add_done_callback"):
        asyncio.run(h._wait())
    with pytest.raises(RuntimeError, match="between cell runs"):
        h.result()
    assert time.monotonic() - start < 30 / 3  # at once, not after the 30 s timeout
    seen = []
    h.add_done_callback(lambda handle: seen.append(handle.reply))  # the form that works there
    front.reply(h.id, STATUS)
    assert seen == [STATUS] and f.last_reply == STATUS
    assert asyncio.run(h._wait()) == STATUS  # a reply that already came is fine to await
    f.close()


def test_frame_state_for_marimo_follows_the_traits(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    updates: list[dict] = []

    def state(value):
        updates.append(value)
        return (lambda: updates[-1]), updates.append

    monkeypatch.setitem(sys.modules, "marimo", types.SimpleNamespace(state=state))
    from cocalc_widgets.marimo import frame_state

    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", timeout=30)
    front = Front(f)
    front.hello()
    get = frame_state(f)
    assert get()["mode"] == "connecting" and get()["last_reply"] == {}
    front.ready()
    h = f.open_file("b.md")
    done = {"status": "done", "action": "open", "path": "b.md", "project_id": PID}
    front.reply(h.id, done)
    assert get()["mode"] == "bridge" and get()["ready"] is True and get()["last_reply"] == done
    f.close()


@pytest.mark.parametrize(
    ("origin", "says"),
    [
        ("vscode-webview://1a2b3c4d", "VS Code shows widgets in a webview"),
        ("https://abc123-0-colab.googleusercontent.com", "'.googleusercontent.com'"),
    ],
)
def test_vscode_and_colab_are_named_in_the_timeout(origin, says) -> None:
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", timeout=0.05)
    Front(f).hello(origin=origin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = f.status()
    with pytest.raises(FrameNotReady) as info:
        h.result(timeout=1)
    assert says in str(info.value)
    f.close()


def test_in_voila_a_cell_cannot_wait_before_the_page_shows_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.13")
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", timeout=30)
    h = f.status()  # the notebook runs before Voila's page connects: no view yet
    with pytest.raises(RuntimeError, match=r"Voila runs the whole notebook.*add_done_callback"):
        asyncio.run(h._wait())
    front = Front(f)
    front.hello()  # the page connected: callbacks may wait now
    front.ready()
    h2 = f.status()
    front.reply(h2.id, STATUS)
    assert asyncio.run(h2._wait()) == STATUS
    f.close()


# -- the IFrame's permissions (allow) -----------------------------------------------------------
def test_allow_defaults_to_clipboard_and_fullscreen_and_is_synced() -> None:
    from cocalc_widgets.frame import DEFAULT_ALLOW

    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example")
    assert DEFAULT_ALLOW == "clipboard-read; clipboard-write; fullscreen"
    assert f.allow == DEFAULT_ALLOW and f.get_state()["allow"] == DEFAULT_ALLOW
    off = CoCalcFrame(PID, allow="")
    assert off.allow == "" and off.get_state()["allow"] == ""
    tidy = CoCalcFrame(PID, allow=" fullscreen ;clipboard-write  'src' https://cocalc.example ; ")
    assert tidy.allow == "fullscreen; clipboard-write 'src' https://cocalc.example"
    for frame in (f, off, tidy):
        frame.close()


@pytest.mark.parametrize(
    ("allow", "says"),
    [
        (None, "must be a string"),
        (["fullscreen"], "must be a string"),
        (b"fullscreen", "must be a string"),
        ("clipboard-read, fullscreen", "';', not ','"),
        ("Fullscreen", "not a permission name"),
        ('fullscreen"><script>', "not a permission name"),
        ("fullscreen 'me'", "not an allowlist entry"),
        ("fullscreen\nautoplay", "one line"),
        ("fullscreen; " * 200, "at most 1000"),
    ],
)
def test_bad_allow_values_are_refused_clearly(allow: Any, says: str) -> None:
    with pytest.raises(BadInput, match=says):
        CoCalcFrame(PID, allow=allow)
    f = CoCalcFrame(PID)
    with pytest.raises(BadInput, match=says):
        f.allow = allow
    assert f.allow == "clipboard-read; clipboard-write; fullscreen"
    f.close()


def test_allow_adds_no_message_per_command_and_a_change_is_one_update(
    frame: CoCalcFrame, front: Front
) -> None:
    front.hello()
    front.ready()
    front.sent.clear()
    handles = [frame.status(), frame.open_file("x.txt"), frame.closeall()]
    assert len(front.sent) == 3
    assert all("allow" not in json.dumps(m) for m in front.sent)
    for h in handles:
        front.reply(h.id, {"status": "done", "mesg": "ok"} if h.action != "status" else STATUS)
    assert len(front.sent) == 3
    frame.allow = "fullscreen"
    updates = [m for m in front.sent[3:] if m.get("method") == "update"]
    assert len(front.sent) == 4 and updates and updates[0]["state"] == {"allow": "fullscreen"}
    frame.allow = "fullscreen"  # the same value: nothing
    assert len(front.sent) == 4


def test_the_frame_and_its_front_end_speak_one_declared_protocol() -> None:
    from pathlib import Path

    from cocalc_widgets.frame import Kind

    js = (Path(__file__).resolve().parents[2] / "js" / "frame.js").read_text()

    def declared(name: str) -> set[str]:
        body = re.search(rf"export const {name} = Object\.freeze\(\{{(.*?)\}}\);", js, re.S)
        assert body, name
        return set(re.findall(r':\s*"(\w+)"', body.group(1)))

    assert declared("FROM_PYTHON") == Kind.TO_FRONT_END
    assert declared("TO_PYTHON") == Kind.FROM_FRONT_END
    assert len(Kind.TO_FRONT_END | Kind.FROM_FRONT_END) == 9
    # Every message either side sends names its kind through the declaration.
    assert not re.search(r'kind: "', js) and 'msg.kind === "' not in js
    source = Path(frame_module.__file__).read_text()
    assert not re.search(r'"kind": "|kind == "', source.split('"""', 2)[2])


def test_a_remembered_silent_bridge_says_why_without_a_warning() -> None:
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", timeout=5)
    front = Front(f)
    front.hello(origin="https://lab.example")
    at = time.mktime((2026, 12, 3, 14, 2, 0, 0, 0, -1)) * 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the browser remembered it: no warning this time
        front.msg(kind="mode", view="v1", mode="navigate", remembered_at=at)
    assert f.mode == "navigate" and f.get_state()["_mode"] == "navigate"
    assert f.mode_reason == "remembered: CoCalc's bridge did not answer here at 14:02"
    assert "mode='bridge' tries it now" in f.last_error and "1 h" in f.last_error
    f.close()
    g = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", mode="bridge")
    assert g.mode_reason == "mode='bridge' was asked for"
    g.close()


def test_the_frame_own_file_that_cocalc_could_not_open_is_said_in_last_error() -> None:
    f = CoCalcFrame(PID, "a.txt", host="https://cocalc.example", timeout=5)
    front = Front(f)
    front.hello()
    front.msg(kind="mode", view="v1", mode="bridge")
    assert f.mode_reason == "CoCalc's IFrame bridge answered"
    home = {"status": "error", "action": "open", "mesg": "no such project"}
    front.msg(kind="state", view="v1", ready=True, reply=STATUS, home=home)
    assert f.ready and "did not open the frame's own file 'a.txt': no such project" in f.last_error
    f.close()
