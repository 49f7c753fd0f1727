"""The ``cocalc-widgets`` command line: ``cocalc-widgets <subcommand> ...``.

Each subcommand registers itself in :data:`SUBCOMMANDS` as ``name -> (add_arguments, run)``;
its flags and its running live with it (the emulator's in :mod:`cocalc_widgets.emulator.cli`,
the demo's in ``_demo``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import _demo
from ._version import __version__
from .emulator.cli import add_emulator_arguments, run_emulator

SUBCOMMANDS: dict[
    str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]
] = {
    "emulator": (
        add_emulator_arguments,
        run_emulator,
        "run a local CoCalc emulator over real folders",
    ),
    "demo": (
        _demo.add_demo_arguments,
        _demo.run_demo,
        "the emulator with demo projects, and JupyterLab on the demo notebooks "
        "(--voila: Voila on the dashboard)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cocalc-widgets", description="cocalc-widgets tools")
    parser.add_argument("--version", action="version", version=f"cocalc-widgets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (add_arguments, run, help_text) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(child)
        child.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
