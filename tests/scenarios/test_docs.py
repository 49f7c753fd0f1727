"""The documentation site (mkdocs.yml, docs/): the API reference covers every public name, the
generated help and the included texts resolve, the pictures exist and are used, no page holds a
key, and ``mkdocs build --strict`` passes (when the ``docs`` extra is installed; .ci/run
installs it)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cocalc_widgets
from cocalc_widgets.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))


def _hooks():
    spec = importlib.util.spec_from_file_location("_docs_hooks", DOCS / "_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_reference_documents_every_public_name():
    blocks = set()
    for page in (DOCS / "reference").glob("*.md"):
        blocks |= set(re.findall(r"^::: (cocalc_widgets\.[\w.]+)", _text(page), re.MULTILINE))
    missing = [name for name in cocalc_widgets.__all__ if f"cocalc_widgets.{name}" not in blocks]
    assert not missing, (
        f"names of cocalc_widgets.__all__ without a ::: block in docs/reference/: {missing}"
    )


def test_every_page_is_in_the_navigation():
    config = _text(ROOT / "mkdocs.yml")
    nav = re.search(r"^nav:\n((?:[ \t].*\n)+)", config, re.MULTILINE).group(1)
    listed = set(re.findall(r"(\S+\.md)\s*$", nav, re.MULTILINE))
    pages = {str(p.relative_to(DOCS)) for p in PAGES}
    assert pages == listed, (
        f"pages not in mkdocs.yml's nav: {pages - listed}; missing: {listed - pages}"
    )


def test_every_help_marker_and_include_renders():
    hooks = _hooks()
    markers = 0
    for page in PAGES:
        text = _text(page)
        for m in hooks._MARKER.finditer(text):
            markers += 1
            out = hooks.render(m.group(1), m.group(2))
            assert "|" in out, f"{page.name}: {m.group(0)} rendered no table"
        # Includes: the file (or its section) exists and yields text.
        assert hooks._includes(text).count("<!-- include:") == 0
    assert markers >= 7  # the three magics, %config, the CLI and its two subcommands


def test_the_magics_reference_shows_every_option_of_each_magic():
    from cocalc_widgets.magics import CoCalcMagics

    hooks = _hooks()
    for name in ("cocalc_copy", "cocalc_copy_status", "cocalc_embed"):
        parser = getattr(CoCalcMagics, name).parser
        out = hooks.render("magic", name)
        assert f"%{name}" in out
        for action in parser._actions:
            for flag in action.option_strings or [action.dest]:
                assert flag in out, f"%{name}: {flag} is not in its reference"


def test_the_emulator_guide_and_reference_cover_every_flag():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    emulator = sub.choices["emulator"]
    flags = [f for a in emulator._actions for f in a.option_strings if f.startswith("--")]
    flags.remove("--help")
    guide = _text(DOCS / "guides" / "emulator.md")
    missing = [f for f in flags if not re.search(re.escape(f) + r"\b", guide)]
    assert not missing, f"flags of `cocalc-widgets emulator` the guide does not describe: {missing}"
    reference = _hooks().render("cli", "emulator")
    assert all(f in reference for f in flags)
    assert "`127.0.0.1`" in reference  # defaults come from the parser


def test_the_pictures_exist_are_used_and_are_made_by_the_script():
    used = set()
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", _text(page)):
            used.add((page.parent / target).resolve())
    images = {p.resolve() for p in (DOCS / "images").glob("*.png")}
    assert used, "no page shows a picture"
    assert used <= images, f"pictures shown but missing: {sorted(map(str, used - images))}"
    assert images <= used, f"pictures no page shows: {sorted(map(str, images - used))}"
    script = _text(DOCS / "screenshots.py")
    for image in images:
        assert f'"{image.stem}"' in script, f"{image.name} is not made by docs/screenshots.py"


def test_no_page_holds_an_api_key():
    for page in [*PAGES, ROOT / "mkdocs.yml"]:
        assert not re.search(r"sk[-_][A-Za-z0-9]{12,}", _text(page)), page


@pytest.mark.must_run("COCALC_REQUIRE_DOCS_TEST")  # .ci/run, after installing the docs extra
def test_mkdocs_build_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason='the docs extra: pip install -e ".[docs]"')
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    client = _text(site / "reference" / "client" / "index.html")
    assert "copy_path_between_projects" in client and ":class:" not in client
    magics = _text(site / "reference" / "magics" / "index.html")
    assert "--resend-unknown" in magics
    assert (site / "images" / "copy-summary.png").is_file()
    performance = _text(site / "guides" / "performance" / "index.html")
    assert performance.count("<h1") == 1 and "What the numbers mean" in performance
