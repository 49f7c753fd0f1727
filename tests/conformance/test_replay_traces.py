"""Replay the conformance traces recorded from a real CoCalc (``tools/record-traces``) against
the emulator, and compare its answers with CoCalc's.

Each exchange's request is sent as recorded, its placeholders filled: ``<api-key>`` with the
emulator's key, ``<account:admin>`` with its account, fixed ids as recorded, and ids the real
server handed out (``<project:src>``, ``<auth-token>``, ...) with what the emulator answered in
their place. Each answer is scrubbed the way the recorder scrubbed CoCalc's (the recorder's own
code) and must equal the recorded one: status and body. A trace where the emulator knowingly
differs is ``xfail(strict=True)`` with the difference, so a fix shows up as an unexpected pass.
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
TRACES = sorted((Path(__file__).parent / "traces").glob("*.json"))
_loader = SourceFileLoader("record_traces", str(ROOT / "tools" / "record-traces"))
recorder = importlib.util.module_from_spec(
    importlib.util.spec_from_loader("record_traces", _loader)
)
_loader.exec_module(recorder)

#: Where the emulator knowingly differs from the recorded CoCalc, per trace: nowhere now (a
#: difference found later goes here, with what it is).
KNOWN: dict[str, str] = {}


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, str):
        for placeholder, real in sorted(names.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(placeholder, real)
    return value


def _bind(recorded: Any, got: Any, names: dict[str, str]) -> None:
    """Learn what the emulator answered where CoCalc's answer was a placeholder."""
    if isinstance(recorded, str) and recorded.startswith("<") and recorded.endswith(">"):
        if isinstance(got, str) and recorded not in names:
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
    )
    emu.start()
    try:
        yield _replay(emu)
    finally:
        emu.stop()


def _replay(emu: Emulator) -> dict[str, list[str]]:
    names = {
        "<account:admin>": emu.account_id,
        "<uuid:1>": str(uuid.UUID(int=1)),
        "<project:nobody>": str(uuid.UUID(int=2)),
        "<run>": "replay",
    }
    http = requests.Session()
    found: dict[str, list[str]] = {}
    docs = sorted((json.loads(p.read_text()) for p in TRACES), key=lambda d: d["order"])
    for doc in docs:
        differences = found.setdefault(doc["trace"], [])
        for step in doc["exchanges"]:
            req = step["request"]
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
            _bind(step["response"]["body"], body, names)
            scrub = recorder.Scrubber()
            for placeholder, value in names.items():
                scrub.secret(value, placeholder)
            scrub.secret(emu.api_key, "<api-key>")
            scrub.secret(str(emu.data_dir), "<projects-folder>")  # CoCalc's is scrubbed so
            got = {"status": r.status_code, "body": scrub.value(body)}
            want = {"status": step["response"]["status"], "body": step["response"]["body"]}
            if got != want:
                differences.append(f"{step['note']}: CoCalc {want} / emulator {got}")
    return found


def _params() -> list[Any]:
    return [
        pytest.param(
            p.stem,
            id=p.stem,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN[p.stem])] if p.stem in KNOWN else [],
        )
        for p in TRACES
    ]


@pytest.mark.parametrize("trace", _params())
def test_replay_against_the_emulator(trace: str, replayed: dict[str, list[str]]) -> None:
    assert not replayed[trace], "\n".join(replayed[trace])
