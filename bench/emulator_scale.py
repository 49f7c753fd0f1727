"""The emulator at a university's scale: making 5,000 projects, listing them, finding one, and
paging over 5,000 copy-status rows.

These figures used to be hard bounds in tests/emulator/test_emulator_scale.py and
tests/emulator/test_emulator_copy_scale.py (5 s, 1 s, 20 ms, 0.5 s); the tests now keep only a
guard ten times as wide against a pathological slowdown, and the measurement lives here. The
baseline, measured in the same run, is the same request against an emulator with 3 projects (or
5 copies): the ratio says what the size costs, whatever else the machine is doing.

    python3 bench/emulator_scale.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, save, table

from cocalc_widgets.emulator import Emulator

N_PROJECTS = 5000
N_COPIES = 5000
# The bounds the tests used to assert (seconds).
TARGETS = {"create": 5.0, "list": 1.0, "lookup": 0.02, "page": 0.5}


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _projects(emu: Emulator, n: int, runs: int) -> dict[str, object]:
    auth = (emu.api_key, "")
    create = _timed(lambda: emu.ids.extend(emu.create_projects(f"S {i}" for i in range(1, n + 1))))
    emu.start()
    try:
        listing = {"projects": [{"project_id": None, "title": None}]}
        one = {"projects": {"project_id": emu.ids[n // 4], "title": None, "users": None}}
        with requests.Session() as s:
            lists = [
                _timed(lambda: s.post(f"{emu.url}/api/v2/user-query", json={"query": listing},
                                      auth=auth, timeout=60).raise_for_status())
                for _ in range(runs)
            ]
            lookups = [
                _timed(lambda: s.post(f"{emu.url}/api/v1/query", json={"query": one},
                                      auth=auth, timeout=60).raise_for_status())
                for _ in range(runs * 4)
            ]
    finally:
        emu.stop()
    return {"create": create, "list": median(lists), "lookup": min(lookups),
            "lookup_median": median(lookups)}


def _pages(emu: Emulator, copies: int, runs: int) -> dict[str, object]:
    src = emu.create_project("source")
    targets = emu.create_projects(f"T{i}" for i in range(500))
    emu.start()
    try:
        for i in range(copies):  # a missing source: rows that finish (failed) at once
            emu.copies.submit(source_project_id=src, source_path="gone.txt",
                              target_project_id=targets[i % 500], target_path="gone.txt")
        assert emu.wait_idle(120)
        times = []
        with requests.Session() as s:
            for _ in range(runs):
                for offset in range(0, copies, 1000):
                    times.append(_timed(lambda o=offset: s.post(
                        f"{emu.url}/api/v1/copy_path_status", auth=(emu.api_key, ""),
                        json={"src_project_id": src, "failed": True, "limit": 1000, "offset": o},
                        timeout=60).raise_for_status()))
    finally:
        emu.stop()
    return {"page": max(times), "page_median": median(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (smoke test)")
    args = parser.parse_args()
    runs = 2 if args.quick else 10
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, n in (("baseline", 3), ("scale", N_PROJECTS)):
            emu = Emulator(data_dir=Path(tmp) / f"p-{label}")
            emu.ids = []
            results[label] = _projects(emu, n, runs)
        for label, n in (("baseline", 5), ("scale", N_COPIES)):
            results[label].update(_pages(Emulator(data_dir=Path(tmp) / f"c-{label}"), n, runs))
    rows = []
    for key in ("create", "list", "lookup", "page"):
        base, big = results["baseline"][key], results["scale"][key]
        rows.append([key, base, big, big / base if base else float("nan"), TARGETS[key],
                     "met" if big <= TARGETS[key] else "NOT met"])
    print(table(["what (s)", "baseline", f"{N_PROJECTS:,} projects/copies", "ratio", "target",
                 ""], rows))
    print("create: one create_projects call; list: median v2 user-query of every project; lookup:"
          " best v1 query of one project; page: slowest v1 copy_path_status page of 1,000 rows")
    path = save("emulator_scale", {"results": results, "targets": TARGETS}, quick=args.quick)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
