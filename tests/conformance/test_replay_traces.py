"""Replay the conformance traces recorded from a real CoCalc (``tools/record-traces``) against
the emulator, and compare its answers with CoCalc's.

Each exchange's request is sent as recorded, its placeholders filled: ``<api-key>`` with the
emulator's key, ``<account:admin>`` with its account, fixed ids as recorded, and ids the real
server handed out (``<project:src>``, ``<auth-token>``, ...) with what the emulator answered in
their place. Each answer is scrubbed the way the recorder scrubbed CoCalc's (the recorder's own
code) and must equal the recorded one: status and body. A step where the emulator knowingly
differs is in ``KNOWN`` with the reason, and must still differ, so a fix shows up as a failure.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import Any

import pytest
import requests

from cocalc_widgets.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
#: The HTTP traces; bridge.json (the IFrame bridge's messages) is replayed in a browser, by
#: tests/browser/test_kiosk_bridge_trace.py.
TRACES = sorted(p for p in (Path(__file__).parent / "traces").glob("*.json") if p.stem != "bridge")
_loader = SourceFileLoader("record_traces", str(ROOT / "tools" / "record-traces"))
recorder = importlib.util.module_from_spec(
    importlib.util.spec_from_loader("record_traces", _loader)
)
_loader.exec_module(recorder)

#: Where the emulator knowingly differs from the recorded CoCalc: (trace, the step's note) -> why.
#: Each must still differ (a fix shows up as a failure, so that the entry goes); README's list of
#: differences says the same.
KNOWN: dict[tuple[str, str], str] = {
    ("orgs", "a sign-in token for its user"): (
        "the token's url: CoCalc builds it from its `dns` site setting (empty on the recorded "
        "server, hence 'https:/auth/impersonate?...'); the emulator has no such setting and "
        "gives its own address, a link that works"
    ),
    **{
        ("pages", note): (
            "CoCalc's hub redirects every app route (302, text/plain 'Found. Redirecting to "
            "...') to its single-page app, /static/app.html?target=<the route>, whose script "
            "then shows the route; the emulator serves the page at the route itself (200, its "
            "own title): a browser ends up on the same file either way"
        )
        for note in (
            "kiosk URL, not signed in",
            "plain URL, not signed in",
            "kiosk URL, signed in",
            "plain URL, signed in",
        )
    },
    ("pages", "the page the kiosk URL redirects to"): (
        "CoCalc's single-page app (title 'CoCalc'); the emulator has no /static/app.html (see "
        "the redirect above)"
    ),
    ("pages", "impersonate with a valid token"): (
        "CoCalc's client-side redirect goes to its `dns` site setting + /app ('https:/app' on "
        "the recorded server, whose `dns` is empty), the emulator's to its own /app; and "
        "CoCalc also sets an account_id cookie (for the page to read) and Express's session "
        "cookie connect.sid; the emulator sets remember_me only"
    ),
    **{
        ("pages", note): (
            "the same text, but CoCalc sends it as text/html, echoing the token into an HTML "
            "page (markup in a token would be rendered); the emulator sends text/plain on "
            "purpose; and CoCalc's Express sets connect.sid"
        )
        for note in ("impersonate with an unknown token", "impersonate with an empty token")
    },
}


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, str):
        for placeholder, real in sorted(names.items(), key=lambda kv: -len(kv[0])):
            if isinstance(real, str):
                value = value.replace(placeholder, real)
    return value


def _bind(recorded: Any, got: Any, names: dict[str, Any]) -> None:
    """Learn what the emulator answered where CoCalc's answer was a placeholder (a string id,
    or a number the server handed out, such as a message's id)."""
    if isinstance(recorded, str) and recorded.startswith("<") and recorded.endswith(">"):
        if isinstance(got, (str, int)) and not isinstance(got, bool) and recorded not in names:
            names[recorded] = got
    elif isinstance(recorded, dict) and isinstance(got, dict):
        for k in recorded.keys() & got.keys():
            _bind(recorded[k], got[k], names)
    elif isinstance(recorded, list) and isinstance(got, list):
        for r, g in zip(recorded, got, strict=False):
            _bind(r, g, names)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    """Every trace replayed against one emulator, in the recorded order (later traces use the
    ids earlier ones created): the differences found, per trace."""
    emu = Emulator(
        data_dir=tmp_path_factory.mktemp("replay") / "data",
        host="127.0.0.1",
        port=0,
        allow_exec=True,
        api_versions=("v2", "conat"),
        single_user=True,  # the recorded server: single-user CoCalc (copies are synchronous)
        iframe_comm_hosts=("127.0.0.1",),  # as tools/real-cocalc starts CoCalc
    )
    emu.start()
    try:
        yield _replay(emu)
    finally:
        emu.stop()


def _replay(emu: Emulator) -> dict[str, list[str]]:
    names: dict[str, Any] = {
        "<account:admin>": emu.account_id,
        "<uuid:1>": str(uuid.UUID(int=1)),
        "<project:nobody>": str(uuid.UUID(int=2)),
        "<run>": "replay",
    }
    http = requests.Session()
    browser = requests.Session()  # signs in through /auth/impersonate (the pages trace)
    found: dict[str, list[str]] = {}
    docs = sorted((json.loads(p.read_text()) for p in TRACES), key=lambda d: d["order"])
    for doc in docs:
        differences = found.setdefault(doc["trace"], [])
        for step in doc["exchanges"]:
            req = step["request"]
            if req["method"] == "GET":
                problem = _replay_get(emu, step, browser, names)
                known = KNOWN.get((doc["trace"], step["note"]))
                if problem and known is None:
                    differences.append(f"{step['note']}: {problem}")
                elif not problem and known is not None:
                    differences.append(
                        f"{step['note']}: KNOWN says it differs ({known}); it matches"
                    )
                continue
            auth = {
                "basic <api-key>": (emu.api_key, ""),
                "basic <wrong-key>": ("sk-" + "x" * 22, ""),
            }.get(req["auth"])
            r = http.post(
                emu.url + req["path"], json=_fill(req["body"], names), auth=auth, timeout=60
            )
            try:
                body: Any = r.json()
            except ValueError:
                body = {"<not json: html title>": recorder.html_title(r.text)}
            if step.get("only") and isinstance(body, list):  # as recorded: this run's entries
                body = [x for x in body if names[step["only"]] in json.dumps(x)]
            _bind(step["response"]["body"], body, names)
            scrub = _scrubber(emu, names)
            scrub.secret(str(emu.data_dir), "<projects-folder>")  # CoCalc's is scrubbed so
            got = {"status": r.status_code, "body": scrub.value(body, "body")}  # as recorded
            want = {"status": step["response"]["status"], "body": step["response"]["body"]}
            if req["body"].get("name") == "system.listing":  # in the file system's order
                for side in (got, want):
                    if isinstance(side["body"], list):
                        side["body"] = sorted(side["body"], key=lambda e: str(e.get("name")))
            known = KNOWN.get((doc["trace"], step["note"]))
            if got != want and known is None:
                differences.append(f"{step['note']}: CoCalc {want} / emulator {got}")
            elif got == want and known is not None:
                differences.append(f"{step['note']}: KNOWN says it differs ({known}); it matches")
    return found


def _scrubber(emu: Emulator, names: dict[str, Any]) -> Any:
    scrub = recorder.Scrubber()
    for placeholder, value in names.items():
        if isinstance(value, str):
            scrub.secret(value, placeholder)
        else:
            scrub.number(value, placeholder)
    scrub.secret(emu.api_key, "<api-key>")
    return scrub


def _replay_get(
    emu: Emulator, step: dict[str, Any], browser: requests.Session, names: dict[str, Any]
) -> str:
    """GET a page as recorded (a fresh browser, or the one signed in through
    /auth/impersonate); the difference from CoCalc's answer, or ""."""
    req = step["request"]
    http = browser if req["browser"] == "signed in" else requests.Session()
    r = http.get(emu.url + _fill(req["path"], names), timeout=60, allow_redirects=False)
    scrub = _scrubber(emu, names)
    headers = {h: r.headers[h] for h in recorder.KEEP_HEADERS if h in r.headers}
    if "location" in headers and headers["location"].startswith(emu.url):
        headers["location"] = headers["location"][len(emu.url) :] or "/"
    got = {
        "status": r.status_code,
        "headers": scrub.value(headers),
        "cookies set": recorder.cookie_names(r),
        "body": scrub.value(recorder.page_answer(r, tuple(req.get("keep", ())))),
    }
    want = step["response"]
    if got != want:
        return f"CoCalc {want} / emulator {got}"
    return ""


@pytest.mark.parametrize("trace", [p.stem for p in TRACES])
def test_replay_against_the_emulator(trace: str, replayed: dict[str, list[str]]) -> None:
    assert not replayed[trace], "\n".join(replayed[trace])
