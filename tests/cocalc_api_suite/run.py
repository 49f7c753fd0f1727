"""Run CoCalc's own ``cocalc-api`` test suite, unchanged, against the emulator.

    python3 tests/cocalc_api_suite/run.py            # CI=true: upstream skips its Jupyter tests
    CI= python3 tests/cocalc_api_suite/run.py        # with them (real kernels)

Downloads the sdist of the cocalc-api version installed (the test extra's; or ``--version``)
from PyPI with ``pip download --no-deps --no-binary :all:``, unpacks it in a temporary folder,
puts ``conftest.py`` from this folder beside its tests (the sdist ships none; an empty
``__init__.py`` makes ``tests`` the package their ``from .conftest import`` needs), and runs
pytest on its ``tests/`` there. Nothing of cocalc-api's is kept in this repository. Prints the
counts and exits with pytest's status (non-zero if any test failed or errored).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def download(version: str, into: Path) -> Path:
    """The unpacked sdist of ``cocalc-api==version`` (its top folder)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"cocalc-api=={version}",
            "-d",
            str(into),
        ],
        check=True,
    )
    (archive,) = into.glob("cocalc_api-*.tar.gz")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+: refuse links and paths out
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - older Pythons
            for member in tar.getmembers():
                if member.issym() or member.islnk() or ".." in Path(member.name).parts:
                    raise RuntimeError(f"unexpected member in {archive.name}: {member.name}")
            tar.extractall(into)
    return into / archive.name.removesuffix(".tar.gz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version",
        default=importlib.metadata.version("cocalc-api"),
        help="cocalc-api version whose tests to run (default: the installed one)",
    )
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cocalc-api-suite-"))
    try:
        root = download(args.version, work)
        tests = root / "tests"
        shutil.copy(HERE / "conftest.py", tests / "conftest.py")
        (tests / "__init__.py").touch()
        (root / "pytest.ini").write_text("[pytest]\n")  # this run's own, empty configuration
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests",
                "-p",
                "no:cacheprovider",
                "-q",
                "-rfEs",
                "--rootdir",
                str(root),
                *args.pytest_args,
            ],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        print(proc.stdout, end="")
        last = [line for line in proc.stdout.splitlines() if line.strip()][-1:]
        counts = dict((k, int(n)) for n, k in re.findall(r"(\d+) (\w+)", "".join(last)))
        print(f"cocalc-api {args.version}'s own tests against the emulator: {counts}")
        return proc.returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
