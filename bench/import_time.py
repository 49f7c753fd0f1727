"""Import time: ``python -c "import cocalc_widgets"`` against ``python -c "import anywidget, requests"``.

The baseline imports what cocalc_widgets cannot do without (anywidget for the widget, requests
for the client); the figure is how much more a plain ``import cocalc_widgets`` costs. Runs are
interleaved (baseline, package, baseline, ...) so that noise from other work on the machine
hits both alike; the medians are compared. Target: at most 10% more.

    python3 bench/import_time.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, quantile, save, table

BASELINE = "import anywidget, requests"
PACKAGE = "import cocalc_widgets"
# Modules that must not load at `import cocalc_widgets` (they are for the emulator, the magics,
# progress bars or the command line).
MUST_BE_LAZY = [
    "werkzeug", "tqdm", "cocalc_widgets.emulator", "cocalc_widgets.magics",
    "cocalc_widgets.cli", "cocalc_widgets._demo",
]
TARGET = 1.10


def run_once(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def lazy_check() -> tuple[dict[str, bool], list[str]]:
    """Which of MUST_BE_LAZY load at import, and every module (outside the package) that
    ``import cocalc_widgets`` loads beyond the baseline's."""
    probe = (
        f"import sys, json; {BASELINE}; before = set(sys.modules); import cocalc_widgets; "
        "extra = sorted(m for m in set(sys.modules) - before "
        "if not m.startswith('cocalc_widgets')); "
        f"print(json.dumps([{{m: m in sys.modules for m in {MUST_BE_LAZY!r}}}, extra]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    import json

    loaded, extra = json.loads(out.stdout)
    return loaded, extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few runs only (smoke test)")
    parser.add_argument("--runs", type=int, default=None, help="runs of each (default 40; 6 quick)")
    args = parser.parse_args()
    runs = args.runs or (6 if args.quick else 40)

    for code in (BASELINE, PACKAGE):  # warm the OS file cache and the .pyc files
        run_once(code)
    base: list[float] = []
    pkg: list[float] = []
    for _ in range(runs):
        base.append(run_once(BASELINE))
        pkg.append(run_once(PACKAGE))
    loaded, extra = lazy_check()
    ratio = median(pkg) / median(base)
    # Paired ratios: each package run against the baseline run just before it.
    paired = [p / b for p, b in zip(pkg, base, strict=True)]

    rows = [
        ["baseline: " + BASELINE, runs, median(base) * 1000, quantile(base, 0.1) * 1000,
         quantile(base, 0.9) * 1000],
        ["package:  " + PACKAGE, runs, median(pkg) * 1000, quantile(pkg, 0.1) * 1000,
         quantile(pkg, 0.9) * 1000],
    ]
    print(table(["command", "runs", "median ms", "p10 ms", "p90 ms"], rows))
    print()
    verdict = "MET" if ratio <= TARGET else "MISSED"
    print(f"ratio of medians: {ratio:.3f} (median of paired ratios {median(paired):.3f}); "
          f"target <= {TARGET:.2f}: {verdict}")
    eager = [m for m, present in loaded.items() if present]
    print("not loaded at import:", ", ".join(m for m, p in loaded.items() if not p))
    if eager:
        print("LOADED AT IMPORT (should be lazy):", ", ".join(eager))
    print("modules loaded beyond the baseline's (outside cocalc_widgets):",
          ", ".join(extra) or "none")
    path = save("import_time", {
        "runs": runs,
        "baseline": {"command": BASELINE, "seconds": base, "median": median(base)},
        "package": {"command": PACKAGE, "seconds": pkg, "median": median(pkg)},
        "ratio_of_medians": ratio,
        "median_paired_ratio": median(paired),
        "target_ratio": TARGET,
        "met": ratio <= TARGET,
        "modules_loaded_at_import": loaded,
        "extra_modules_beyond_baseline": extra,
    }, quick=args.quick)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
