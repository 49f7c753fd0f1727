"""Fan-out at the scale of a university: ``%cocalc_copy`` of one file to 5,000 projects, on an
emulator in its own process with 50 ms of added latency per request and 0.5 s per copy.

Three parts, each against a bound measured in the same run:

1. **Scale.** The magic (run in a subprocess of its own, through IPython's ``InteractiveShell``,
   progress bar off, journal on) copies to every target on API v2 (auto-detected, as on
   cocalc.com: one status request per copy) and on API v1 (paged status searches). Measured:
   the time from the call to its return (every copy done), requests per copy, and the client
   process's peak memory (``ru_maxrss``). The *server bound* is the fastest any client can be
   on this server: every copy POSTed as fast as the server takes them by 128 raw threads
   (released together, no polling; thousands of connections at once would overflow the
   server's listen queue), from the release to the last ``finished`` in the emulator's ledger, plus one
   status latency. Targets: at most 1.5x the server bound; peak memory under 200 MB. API v2
   is also shown against a raw v2 client (the copies, then one status request each once all
   have finished: the requests any v2 client needs, though not the fastest order).
2. **A rate-limited gateway.** The same on an emulator started with ``--rate-limit 200/s``. The
   *rate bound* is the time the server's limit allows for one request per copy: 5,000 / 200 =
   25 s. Targets (API v1, where one request starts a copy and a page of the status search
   covers 1,000): at most 1.2x the rate bound, at most 5% of the requests answered 429. API v2
   needs a status request per copy on top, so its own floor is twice that (reported, no target).
3. **Crash and resume.** The magic is killed (SIGKILL) once about half the copies have run, then
   the same line runs again and resumes from the journal. Counted in the emulator's ledger:
   copies that ran twice (target: 0), and targets without a copy (target: 0). On API v1 the
   copies whose send was in flight are found through the status search; on API v2 (no search)
   they are reported as ``unknown`` and not re-sent, so a few targets may be left for
   ``--resend-unknown``: the table shows how many.

    python3 bench/fanout_scale.py [--quick] [--targets N] [--parts scale,rate,crash]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table
from fanout import COPY_DELAY, LATENCY, ServerProcess, _ts, v1_copy

RATE_LIMIT = 200
RAW_THREADS = 128  # the server bound's senders (werkzeug's listen queue holds 128)
SERVER_BOUND_TARGET = 1.5
RATE_BOUND_TARGET = 1.2
REFUSED_TARGET = 0.05
MEMORY_TARGET_MB = 200.0


# -- the client, in a process of its own -------------------------------------------------------
def client_main(spec_file: str) -> int:
    """Run one ``%cocalc_copy`` to every target (``spec_file``: JSON) and print what it cost."""
    spec = json.loads(Path(spec_file).read_text())
    import io
    from contextlib import redirect_stdout

    from IPython.core.interactiveshell import InteractiveShell

    os.environ["COCALC_HOST"], os.environ["COCALC_API_KEY"] = spec["url"], spec["key"]
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "cocalc_widgets")
    shell.run_line_magic("config", "CoCalcMagics.progress = False")
    shell.run_line_magic("config", f"CoCalcMagics.api = {spec['api']!r}")
    client = shell.magics_manager.registry["CoCalcMagics"].client
    client.detect_api()  # once per session; not part of the copy
    # A long list goes in as ``$targets``, as in a notebook: IPython's expansion of ``$`` and
    # ``{}`` in a magic's line takes seconds on a line that spells out thousands of targets.
    shell.user_ns["targets"] = [f"{p}:{spec['dest']}" for p in spec["targets"]]
    line = f"{spec['src']}:handout.txt $targets --journal {spec['journal']}"
    start = time.perf_counter()
    with redirect_stdout(io.StringIO()):  # the summary table it displays
        results = shell.run_line_magic("cocalc_copy", line)
    took = time.perf_counter() - start
    pacer = client._transport.pacer
    routes = {r.job.api for r in results if r.job is not None}
    print(json.dumps({
        "api": "/".join(sorted(routes)) or client.api, "seconds": took, "counts": results.counts(),
        "requests": client.requests_sent, "refused": pacer.refused,
        "pacing": pacer.describe(), "limit_estimate": pacer.limit,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
    return 0


class Bench:
    def __init__(self, server: ServerProcess, work: Path) -> None:
        self.server = server
        self.work = work
        self.run = 0

    def dest(self) -> str:
        self.run += 1
        return f"run{self.run}/handout.txt"

    def mine(self, dest: str) -> list[dict]:
        return [e for e in self.server.ledger if e["target_path"] == dest]

    def client(self, api: str, dest: str, journal: Path, *, kill_at: int | None = None) -> dict:
        """The magic in a subprocess; with ``kill_at``, SIGKILL it once that many copies ran."""
        spec = self.work / f"spec-{self.run}.json"
        spec.write_text(json.dumps({
            "url": self.server.url, "key": self.server.api_key, "src": self.server.src,
            "targets": self.server.targets, "dest": dest, "api": api, "journal": str(journal),
        }))
        proc = subprocess.Popen(
            [sys.executable, __file__, "--client", str(spec)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        if kill_at is not None:
            while proc.poll() is None and len(self.mine(dest)) < kill_at:
                time.sleep(0.2)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return {"killed_after": len(self.mine(dest))}
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"the client failed ({proc.returncode}):\n{err[-3000:]}")
        return json.loads(out.strip().splitlines()[-1])

    def settle(self, dest: str) -> int:
        """Wait until the server has finished every copy it received; how many ran."""
        last, stable = -1, time.monotonic()
        while time.monotonic() - stable < 3 * COPY_DELAY + 1:
            n = len(self.mine(dest))
            if n != last:
                last, stable = n, time.monotonic()
            time.sleep(0.25)
        return last

    def server_bound(self, api: str = "v1") -> dict:
        """Every copy POSTed as fast as the server takes them by raw threads (``RAW_THREADS``,
        each with its share of the targets, released together); release to the last
        ``finished`` in the ledger, plus one status latency. (A thread per target would not be
        faster: thousands of connections at once overflow the server's listen queue.) On API
        v2, whose copies can only be watched one by one, the least any client needs: the
        copies, then (once the ledger has them all) one status request per copy, to the last
        answer."""
        auth = (self.server.api_key, "")
        dest = self.dest()
        targets = self.server.targets
        shares = [targets[i::RAW_THREADS] for i in range(min(RAW_THREADS, len(targets)))]
        failed: list[str] = []
        ids: list[str] = []

        def raw(phase: Callable[[requests.Session, str], None]) -> float:
            gate = threading.Barrier(len(shares) + 1)

            def one(share: list[str]) -> None:
                with requests.Session() as s:
                    gate.wait()
                    for item in share:
                        try:
                            phase(s, item)
                        except requests.RequestException as err:
                            failed.append(str(err))

            threads = [threading.Thread(target=one, args=(sh,), daemon=True) for sh in shares]
            for t in threads:
                t.start()
            gate.wait()
            released = time.time()
            for t in threads:
                t.join()
            if failed:
                raise RuntimeError(f"{len(failed)} raw requests failed, e.g. {failed[0]}")
            return released

        def copy(s: requests.Session, pid: str) -> None:
            if api == "v1":
                s.post(f"{self.server.url}/api/v1/copy_path_between_projects", auth=auth,
                       timeout=120, json=v1_copy(self.server.src, pid, dest)).raise_for_status()
            else:
                reply = s.post(f"{self.server.url}/api/v2/projects/copy-path", auth=auth,
                               timeout=120, json={
                                   "src_project_id": self.server.src, "path": "handout.txt",
                                   "target_project_id": pid, "target_path": dest,
                                   "wait_until_done": False})
                reply.raise_for_status()
                ids.append(reply.json()["copy_id"])

        def status(s: requests.Session, copy_id: str) -> None:
            reply = s.post(f"{self.server.url}/api/v2/projects/copy-path-status", auth=auth,
                           timeout=120, json={"copy_id": copy_id})
            reply.raise_for_status()
            if not reply.json().get("finished"):
                failed.append(f"copy {copy_id} not finished")

        released = raw(copy)
        while len(mine := self.mine(dest)) < len(targets):
            time.sleep(0.1)
        last = max(_ts(e["finished"]) for e in mine)
        span = last - min(_ts(e["started"]) for e in mine)
        if api == "v1":
            return {"seconds": last - released + LATENCY, "threads": len(shares),
                    "server_span": span}
        shares = [ids[i::RAW_THREADS] for i in range(len(shares))]
        raw(status)
        return {"seconds": time.time() - released, "threads": len(shares), "server_span": span}

    def counted(self, dest: str) -> dict:
        """Per target, how many copies ran: twice or more, and not at all."""
        per = Counter(e["target_project_id"] for e in self.mine(dest))
        return {
            "ran_twice": sum(1 for n in per.values() if n > 1),
            "extra_runs": sum(n - 1 for n in per.values() if n > 1),
            "missing": sum(1 for p in self.server.targets if per[p] == 0),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 projects (smoke)")
    parser.add_argument("--targets", type=int, default=None, help="projects (default 5000; 500 quick)")
    parser.add_argument("--parts", default="scale,rate,crash", help="any of scale,rate,crash")
    parser.add_argument("--apis", default="auto,v2",
                        help="the client's api settings to run (auto sends a fan-out to v1 here)")
    parser.add_argument("--client", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client_main(args.client)
    n = args.targets or (500 if args.quick else 5000)
    parts = set(args.parts.split(","))
    apis = args.apis.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-fanout-scale-"))
    rows: list[list[object]] = []
    payload: dict = {"targets": n, "latency": LATENCY, "copy_delay": COPY_DELAY}

    def ratio_row(name: str, r: dict, bound: float, target: float | None, refused: bool) -> dict:
        ratio = r["seconds"] / bound
        share = r["refused"] / r["requests"]
        met = (target is None or ratio <= target) and r["peak_mb"] < MEMORY_TARGET_MB
        if refused:
            met = met and share <= REFUSED_TARGET
        entry = {**r, "ratio": ratio, "refused_share": share, "met": met if target else None}
        done = sum(v for k, v in r["counts"].items() if k.startswith("done"))
        rows.append([name, r["api"], r["seconds"], f"{ratio:.2f}", f"{r['requests'] / n:.2f}",
                     f"{100 * share:.1f}%", f"{r['peak_mb']:.0f}", f"{done}/{n}",
                     "-" if target is None else ("yes" if met else "NO")])
        return entry

    if "scale" in parts:
        server = ServerProcess(n)
        try:
            bench = Bench(server, work)
            bounds = {api: bench.server_bound(api) for api in ("v1", "v2")}
            payload["server_bound"] = bounds
            for api, b in bounds.items():
                rows.append([f"server bound: all copies POSTed by {b['threads']} raw threads"
                             if api == "v1" else
                             f"raw v2: copies by {b['threads']} threads, then one status each",
                             api,
                             b["seconds"], "1.00", "1" if api == "v1" else "2", "-", "-",
                             f"{n}/{n}", "-"])
            payload["scale"] = []
            for api in sorted(apis):
                r = bench.client(api, bench.dest(), work / f"j{api}.sqlite")
                # Against the bound of the server (all copies at once, v1); API v2 also against
                # a raw v2 client (which needs a status request per copy too), for reference.
                entry = ratio_row("%cocalc_copy", r, bounds["v1"]["seconds"],
                                  SERVER_BOUND_TARGET, False)
                if r["api"] == "v2":
                    entry["v2_bound_ratio"] = r["seconds"] / bounds["v2"]["seconds"]
                    rows.append(["  the same, against raw v2 (no target)", "v2", r["seconds"],
                                 f"{entry['v2_bound_ratio']:.2f}", "-", "-", "-", "-", "-"])
                payload["scale"].append(entry)
        finally:
            server.stop()
    if "rate" in parts:
        server = ServerProcess(n, "--rate-limit", f"{RATE_LIMIT}/s")
        try:
            bench = Bench(server, work)
            floor = n / RATE_LIMIT
            payload["rate_bound"] = floor
            rows.append([f"rate bound: {n} requests at {RATE_LIMIT}/s", "-", floor, "1.00", "1",
                         "-", "-", "-", "-"])
            payload["rate"] = []
            for api in sorted(apis, reverse=True):
                dest = bench.dest()
                r = bench.client(api, dest, work / f"r{api}.sqlite")
                v2 = r["api"] == "v2"
                payload["rate"].append(ratio_row(
                    f"%cocalc_copy under --rate-limit {RATE_LIMIT}/s", r, floor,
                    None if v2 else RATE_BOUND_TARGET, True))
                bench.settle(dest)
        finally:
            server.stop()
    if "crash" in parts:
        server = ServerProcess(n)
        try:
            bench = Bench(server, work)
            payload["crash"] = []
            for api in sorted(apis, reverse=True):
                dest, journal = bench.dest(), work / f"c{api}.sqlite"
                killed = bench.client(api, dest, journal, kill_at=n // 2)
                bench.settle(dest)
                resumed = bench.client(api, dest, journal)
                bench.settle(dest)
                counted = bench.counted(dest)
                entry = {"killed_after": killed.get("killed_after"), "resumed": resumed, **counted}
                entry["met"] = counted["extra_runs"] == 0 and (
                    counted["missing"] == 0 or resumed["api"] == "v2"
                )
                payload["crash"].append(entry)
                counts = ", ".join(f"{v} {k}" for k, v in sorted(resumed["counts"].items()))
                rows.append([f"SIGKILL after {killed.get('killed_after')} copies, then resume: "
                             f"{counts}; ran twice {counted['ran_twice']}, no copy "
                             f"{counted['missing']}", resumed["api"], resumed["seconds"], "-",
                             f"{resumed['requests'] / n:.2f}", "-", f"{resumed['peak_mb']:.0f}",
                             f"{n - counted['missing']}/{n}", "yes" if entry["met"] else "NO"])
        finally:
            server.stop()

    print(f"emulator in its own process; {n} targets, {LATENCY * 1000:.0f} ms latency per request, "
          f"{COPY_DELAY:g} s per copy; targets: <= {SERVER_BOUND_TARGET}x the server bound, "
          f"<= {RATE_BOUND_TARGET}x the rate bound with <= {REFUSED_TARGET:.0%} answered 429, "
          f"peak memory < {MEMORY_TARGET_MB:.0f} MB, 0 copies run twice after a crash")
    print(table(["run", "api", "seconds", "x bound", "requests/copy", "429", "peak MB",
                 "copied", "targets met"], rows))
    path = save("fanout_scale", payload, quick=args.quick)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
