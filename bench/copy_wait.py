"""Copy wait: how soon ``CopyJob.wait()`` returns after the server finishes a copy, and how many
status requests it spends, against the fixed-sleep recipe of CoCalc's API docs.

Every copy runs on the emulator (API v1, loopback) and takes a set time (its "duration"); the
moment it finished is the emulator's own record of the copy (``finished``). The detection delay
is the time from that moment to the moment the waiting code knows it (``wait()`` returned, or
the recipe's status reply said ``finished``).

- client: ``job = client.copy_path_between_projects(...); job.wait()`` (the default poll
  schedule, ``poll_delays()`` in cocalc_widgets/copyjob.py, unless ``--schedule``);
- baseline: CoCalc's docs recipe with plain ``requests``: start the copy
  (``wait_until_done: false``), sleep a few seconds (``--baseline-sleep``, 2 s), ask
  ``copy_path_status``; sleep the same again while it is not finished.

Durations: 0.2-0.5 s (random, uniform: the figure must not depend on where the poll schedule
happens to land), exactly 1 s and 10 s (as the targets are set), and random durations around
them (0.8-1.25 s and 8-12.5 s, log-uniform) for the same reason. The baseline runs alongside
the client in each phase (it sends one request every two seconds, so it barely loads the
server). Targets: median delay <= 60 ms for the short copies and <= 10% of the duration for the
long ones; <= 20 status requests for a 10 s copy.

    python3 bench/copy_wait.py [--quick] [--schedule FIRST,FLOOR,GROWTH] [--baseline-sleep S]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, quantile, save, table

from cocalc_widgets import CoCalcClient
from cocalc_widgets.copyjob import poll_delays
from cocalc_widgets.emulator import Emulator

SHORT_MS_TARGET = 60.0
LONG_FRACTION_TARGET = 0.10
REQUESTS_10S_TARGET = 20


class PerCopyDelay:
    """Stands in for the emulator's ``copy_delay`` (one number for every copy): each copy takes
    the duration registered for its target path. The emulator reads ``float(copy_delay)`` in the
    copy's own thread (named ``copy-<id prefix>``), which is how the copy is found."""

    def __init__(self, copies) -> None:
        self.copies = copies
        self.durations: dict[str, float] = {}

    def __bool__(self) -> bool:
        return True

    def __float__(self) -> float:
        prefix = threading.current_thread().name.removeprefix("copy-")
        with self.copies._lock:
            ops = [op for cid, op in self.copies.ops.items() if cid.startswith(prefix)]
        return self.durations.get(ops[0].target_path, 0.0) if ops else 0.0


class Bench:
    def __init__(self, emu: Emulator, schedule, baseline_sleep: float) -> None:
        self.emu = emu
        self.delays = PerCopyDelay(emu.copies)
        emu.copies.copy_delay = self.delays
        self.src = emu.create_project("source")
        self.dst = emu.create_project("target")
        (emu.project_path(self.src) / "f.txt").write_text("hello\n")
        self.client = CoCalcClient(host=emu.url, api_key=emu.api_key, api="v1", pool_size=32)
        if schedule is not None:
            self.client.poll_schedule = schedule
        self.baseline_sleep = baseline_sleep
        self.auth = (emu.api_key, "")
        self._n = 0
        self._lock = threading.Lock()

    def _target(self, duration: float) -> str:
        with self._lock:
            self._n += 1
            path = f"out/{self._n}.txt"
        self.delays.durations[path] = duration
        return path

    def _finished_at(self, copy_path_id: str) -> tuple[float, float]:
        op = self.emu.copies.get(copy_path_id)
        assert op is not None and op.finished_at is not None and op.started_at is not None
        return op.finished_at, op.finished_at - op.started_at

    def client_copy(self, duration: float) -> dict:
        path = self._target(duration)
        job = self.client.copy_path_between_projects(self.src, "f.txt", self.dst, path)
        status = job.wait(progress=False)
        seen = time.time()
        assert status.ok, status
        finished, took = self._finished_at(job.copy_path_id)
        return {"duration": took, "delay": seen - finished, "requests": job.polls}

    def baseline_copy(self, duration: float) -> dict:
        path = self._target(duration)
        with requests.Session() as s:
            url = f"{self.emu.url}/api/v1"
            reply = s.post(f"{url}/copy_path_between_projects", auth=self.auth, timeout=30, json={
                "src_project_id": self.src, "src_path": "f.txt", "target_project_id": self.dst,
                "target_path": path, "wait_until_done": False}).json()
            copy_id = reply["copy_path_id"]
            polls = 0
            while True:
                time.sleep(self.baseline_sleep)  # "Now, we wait a few seconds"
                polls += 1
                data = s.post(f"{url}/copy_path_status", auth=self.auth, timeout=30,
                              json={"copy_path_id": copy_id}).json()["data"]
                if data.get("finished"):
                    break
        seen = time.time()
        finished, took = self._finished_at(copy_id)
        return {"duration": took, "delay": seen - finished, "requests": polls}


def run_phase(bench: Bench, client_durations, baseline_durations, *, parallel: bool, stagger: float):
    """Client copies (one after another, or all at once with random start offsets) while the
    baseline copies run alongside (all at once, staggered the same way)."""
    rnd = random.Random(len(client_durations) * 7919 + len(baseline_durations))

    def later(fn, d):
        def go():
            time.sleep(rnd.uniform(0, stagger))
            return fn(d)
        return go

    workers = len(baseline_durations) + (len(client_durations) if parallel else 1)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        base_futs = [pool.submit(later(bench.baseline_copy, d)) for d in baseline_durations]
        if parallel:
            futs = [pool.submit(later(bench.client_copy, d)) for d in client_durations]
            client = [f.result() for f in futs]
        else:
            client = [bench.client_copy(d) for d in client_durations]
        baseline = [f.result() for f in base_futs]
    return client, baseline


def summarize(name: str, kind: str, client: list[dict], baseline: list[dict]) -> dict:
    def agg(runs):
        if not runs:
            return None
        delays = [r["delay"] for r in runs]
        fractions = [r["delay"] / r["duration"] for r in runs]
        reqs = [r["requests"] for r in runs]
        return {
            "n": len(runs), "median_duration": median([r["duration"] for r in runs]),
            "median_delay": median(delays), "p90_delay": quantile(delays, 0.9),
            "max_delay": max(delays), "median_fraction": median(fractions),
            "median_requests": median(reqs), "max_requests": max(reqs), "runs": runs,
        }

    c, b = agg(client), agg(baseline)
    out = {"row": name, "kind": kind, "client": c, "baseline": b}
    if kind == "short":
        out["target"] = f"median delay <= {SHORT_MS_TARGET:.0f} ms"
        out["met"] = c["median_delay"] * 1000 <= SHORT_MS_TARGET
    else:
        out["target"] = f"median delay <= {LONG_FRACTION_TARGET:.0%} of the duration"
        out["met"] = c["median_fraction"] <= LONG_FRACTION_TARGET
        if kind == "10s":
            out["target"] += f", <= {REQUESTS_10S_TARGET} status requests"
            out["met"] = out["met"] and c["max_requests"] <= REQUESTS_10S_TARGET
    if b:
        out["delay_ratio_baseline_over_client"] = b["median_delay"] / c["median_delay"]
    return out


def log_uniform(rnd: random.Random, lo: float, hi: float) -> float:
    return math.exp(rnd.uniform(math.log(lo), math.log(hi)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few copies, no 10 s spread (smoke run)")
    parser.add_argument("--schedule", help="FIRST,FLOOR,GROWTH for poll_delays() (default: its defaults)")
    parser.add_argument("--baseline-sleep", type=float, default=2.0, help="the recipe's sleep (s)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--phases", default="short,1s,10s", help="which of short,1s,10s to run")
    args = parser.parse_args()
    schedule = None
    if args.schedule:
        first, floor, growth = (float(x) for x in args.schedule.split(","))
        schedule = poll_delays(first=first, floor=floor, growth=growth)
    rnd = random.Random(args.seed)
    q = args.quick
    n_short, n_short_base = (8, 2) if q else (40, 8)
    n_one, n_one_spread, n_one_base = (2, 0, 2) if q else (8, 12, 6)
    n_ten, n_ten_spread, n_ten_base = (1, 0, 1) if q else (4, 8, 3)

    rows = []
    with Emulator() as emu:
        bench = Bench(emu, schedule, args.baseline_sleep)
        bench.client_copy(0.05)  # warm up: connections, first request
        started = time.monotonic()
        phases = args.phases.split(",")
        short = [rnd.uniform(0.2, 0.5) for _ in range(n_short)]
        short_base = [rnd.uniform(0.2, 0.5) for _ in range(n_short_base)]
        one_spread = [log_uniform(rnd, 0.8, 1.25) for _ in range(n_one_spread)]
        ten_spread = [log_uniform(rnd, 8.0, 12.5) for _ in range(n_ten_spread)]
        if "short" in phases:
            c, b = run_phase(bench, short, short_base, parallel=False, stagger=1.0)
            rows.append(summarize("0.2-0.5 s (uniform)", "short", c, b))
        if "1s" in phases:
            c, b = run_phase(bench, [1.0] * n_one + one_spread, [1.0] * n_one_base,
                             parallel=False, stagger=1.0)
            rows.append(summarize("1 s", "1s", c[:n_one], b))
            if one_spread:
                rows.append(summarize("0.8-1.25 s (log-uniform)", "1s-spread", c[n_one:], []))
        if "10s" in phases:
            c, b = run_phase(bench, [10.0] * n_ten + ten_spread, [10.0] * n_ten_base,
                             parallel=True, stagger=1.5)
            rows.append(summarize("10 s", "10s", c[:n_ten], b))
            if ten_spread:
                rows.append(summarize("8-12.5 s (log-uniform)", "10s-spread", c[n_ten:], []))
        elapsed = time.monotonic() - started
        bench.client.close()

    def ms(x):
        return x * 1000

    headers = ["copy duration", "n", "client delay ms (median/p90)", "% of dur", "status reqs (med/max)",
               "n base", "baseline delay ms", "base reqs", "baseline/client", "target met"]
    table_rows = []
    for r in rows:
        c, b = r["client"], r["baseline"]
        table_rows.append([
            r["row"], c["n"], f"{ms(c['median_delay']):.0f} / {ms(c['p90_delay']):.0f}",
            f"{c['median_fraction'] * 100:.1f}%", f"{c['median_requests']:g} / {c['max_requests']}",
            b["n"] if b else "-", f"{ms(b['median_delay']):.0f}" if b else "-",
            f"{b['median_requests']:g}" if b else "-",
            f"{r['delay_ratio_baseline_over_client']:.2g}x" if b else "-",
            ("yes" if r["met"] else "NO") + ("" if r["kind"] in ("short", "1s", "10s") else " (extra)"),
        ])
    print(table(headers, table_rows))
    sched = args.schedule or "defaults of poll_delays()"
    print(f"\nschedule: {sched}; baseline sleep {args.baseline_sleep:g} s; {elapsed:.0f} s total")
    path = save("copy_wait", {
        "schedule": args.schedule or "default",
        "poll_delays_defaults": dict(zip(("first", "growth", "floor", "cap"), poll_delays.__defaults__, strict=True)),
        "baseline_sleep": args.baseline_sleep,
        "targets": {"short_median_ms": SHORT_MS_TARGET, "long_median_fraction": LONG_FRACTION_TARGET,
                    "requests_10s": REQUESTS_10S_TARGET},
        "rows": rows, "elapsed": elapsed,
    }, quick=q)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
