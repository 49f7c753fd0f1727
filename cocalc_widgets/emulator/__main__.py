"""``python -m cocalc_widgets.emulator``: same flags as ``cocalc-widgets emulator``."""

from __future__ import annotations

import argparse
import sys

from .cli import add_emulator_arguments, run_emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cocalc_widgets.emulator",
        description="run a local CoCalc emulator over real folders",
    )
    add_emulator_arguments(parser)
    return run_emulator(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
