"""MkDocs hooks (``mkdocs.yml``: ``hooks``): help texts rendered from the code itself.

A page asks for one with a marker line; the build replaces it with Markdown made from the
parser or the settings, so the reference never drifts from what the code accepts:

- ``<!-- help: cli -->``, ``<!-- help: cli emulator -->``, ``<!-- help: cli demo -->``: the
  ``cocalc-widgets`` command line (``cocalc_widgets.cli.build_parser()``): the usage line and a
  table of its flags with their defaults;
- ``<!-- help: magic cocalc_copy -->`` (or another ``%cocalc_*`` magic): the magic's docstring
  and its options, from the ``magic_arguments`` parser IPython builds for ``%cocalc_copy?``;
- ``<!-- help: config CoCalcMagics -->``: the ``%config CoCalcMagics.<name>`` settings.

And text kept elsewhere in the repository, so that figures live in one place:

- ``<!-- include: bench/README.md -->``: a whole file (a repository path) without its title;
- ``<!-- include: README.md#Performance -->``: one section of a file (its heading text), without
  the heading, up to the next heading of the same level or above.

An included text's headings are shifted to sit below the heading the marker is under; its links
to other files of the repository or to anchors of its own become plain text (they point nowhere
in the site), and links to web pages stay. A marker naming something that does not exist fails
the build.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_MARKER = re.compile(r"^<!-- help: (\w+)(?: ([\w-]+))? -->$", re.MULTILINE)
_WIDTH = 78


def _roles() -> Any:
    spec = importlib.util.spec_from_file_location("_docs_griffe_roles", _HERE / "_griffe_roles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(text: str) -> str:
    """Text for a Markdown table cell."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def _formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's own formatter (IPython's for magics adds reST around the usage), fixed width."""
    return argparse.HelpFormatter(prog=prog, width=_WIDTH)


def _usage(parser: argparse.ArgumentParser, prog: str) -> str:
    formatter = _formatter(prog)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _default(action: argparse.Action) -> str:
    value = action.default
    if value in (None, False, argparse.SUPPRESS) or isinstance(
        action, (argparse._StoreTrueAction, argparse._HelpAction)
    ):
        return ""
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    return f"`{value}`"


def _options_table(parser: argparse.ArgumentParser, prog: str) -> str:
    """One table per argument group: the flag, its default, and its help."""
    formatter = _formatter(prog)
    out = []
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
            and a.help is not argparse.SUPPRESS
        ]
        if not actions:
            continue
        rows = ["| argument | default | what it does |", "|---|---|---|"]
        for action in actions:
            invocation = formatter._format_action_invocation(action)
            help_text = formatter._expand_help(action) if action.help else ""
            rows.append(
                f"| <code>{_cell(invocation)}</code> | {_default(action)} | {_cell(help_text)} |"
            )
        title = group.title or ""
        out.append(f"**{title[:1].upper() + title[1:]}**\n\n" + "\n".join(rows))
    return "\n\n".join(out)


def _docstring_markdown(text: str) -> str:
    """A magic's docstring (reST-flavoured) as Markdown: ``Examples::`` blocks fenced, roles
    as code or links."""
    lines = inspect.cleandoc(text).splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            body = inspect.cleandoc("\n".join(block))
            out += ["", "```text", body, "```", ""]
            continue
        out.append(line)
        i += 1
    names = {
        "CopyJob": "cocalc_widgets.CopyJob",
        "CopyResults": "cocalc_widgets.CopyResults",
        "CoCalcFrame": "cocalc_widgets.CoCalcFrame",
        "CopyStatus": "cocalc_widgets.CopyStatus",
        "CopyStatusTable": "cocalc_widgets.magics.CopyStatusTable",
    }
    return _roles().rewrite_roles("\n".join(out), lambda target, _ctx: names.get(target))


def _cli(name: str | None) -> str:
    from cocalc_widgets.cli import build_parser

    parser = build_parser()
    prog = "cocalc-widgets"
    if name:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if name not in sub.choices:
            raise KeyError(f"no subcommand {name!r} in cocalc-widgets (have {list(sub.choices)})")
        parser = sub.choices[name]
        prog = f"cocalc-widgets {name}"
    parts = [f"```text\n{_usage(parser, prog)}\n```"]
    if name is None:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        rows = ["| command | what it does |", "|---|---|"]
        for choice in sub._choices_actions:
            rows.append(f"| `{choice.dest}` | {_cell(choice.help or '')} |")
        parts.append("\n".join(rows))
    else:
        if parser.description:
            parts.append(_cell(parser.description))
        parts.append(_options_table(parser, prog))
    return "\n\n".join(parts)


def _magic(name: str | None) -> str:
    from cocalc_widgets.magics import CoCalcMagics

    func = getattr(CoCalcMagics, name or "", None)
    parser = getattr(func, "parser", None)
    if parser is None:
        raise KeyError(f"CoCalcMagics has no magic {name!r} with magic_arguments")
    parts = [f"```text\n{_usage(parser, '%' + parser.prog)}\n```"]
    if parser.description:
        parts.append(_docstring_markdown(parser.description))
    parts.append(_options_table(parser, "%" + parser.prog))
    return "\n\n".join(parts)


def _config(name: str | None) -> str:
    from cocalc_widgets import magics

    cls = getattr(magics, name or "", None)
    if cls is None:
        raise KeyError(f"cocalc_widgets.magics has no {name!r}")
    rows = ["| setting | type | default | what it sets |", "|---|---|---|---|"]
    for trait_name, trait in cls.class_traits(config=True).items():
        default = trait.default_value
        shown = "" if default is None else f"`{default!r}`"
        rows.append(
            f"| `{name}.{trait_name}` | {type(trait).__name__} | {shown} | "
            f"{_cell(trait.help or '')} |"
        )
    return "\n".join(rows)


_RENDERERS = {"cli": _cli, "magic": _magic, "config": _config}


def render(kind: str, name: str | None) -> str:
    """The Markdown for one marker (also used by tests/scenarios/test_docs.py)."""
    if kind not in _RENDERERS:
        raise KeyError(f"unknown help marker kind {kind!r} (have {sorted(_RENDERERS)})")
    return _RENDERERS[kind](name)


def on_config(config: Any, **kwargs: Any) -> Any:
    """Import the package from this checkout (as mkdocstrings' ``paths: ["."]`` does)."""
    root = str(_HERE.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    return config


_INCLUDE = re.compile(r"^<!-- include: ([\w./-]+)(?:#([^>]+?))? -->$", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6}) +(.+?) *#*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")


def _headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """``(line index, level, text)`` of every Markdown heading outside code fences."""
    found, fenced = [], False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(line)):
            found.append((i, len(m.group(1)), m.group(2).strip()))
    return found


def include(path: str, section: str | None, below: int) -> str:
    """The Markdown of ``path`` (or of its ``section``) to sit under a heading of level
    ``below`` (also used by tests/scenarios/test_docs.py)."""
    source = _HERE.parent / path
    if not source.is_file():
        raise FileNotFoundError(f"include: no file {path} in the repository")
    lines = source.read_text(encoding="utf-8").splitlines()
    heads = _headings(lines)
    if section is None:
        start, end, level = 0, len(lines), 0
        if heads and heads[0][1] == 1 and not any(line.strip() for line in lines[: heads[0][0]]):
            start = heads[0][0] + 1  # the file's title: the page has its own
    else:
        match = [h for h in heads if h[2] == section.strip()]
        if not match:
            raise KeyError(f"include: {path} has no heading {section!r}")
        first, level, _ = match[0]
        start = first + 1
        end = next((i for i, lv, _ in heads if i > first and lv <= level), len(lines))
    body = lines[start:end]
    inner = [lv for i, lv, _ in heads if start <= i < end]
    shift = below + 1 - min(inner) if inner else 0
    out, fenced = [], False
    for line in body:
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            m = _HEADING.match(line)
            if m:
                line = "#" * min(6, max(1, len(m.group(1)) + shift)) + " " + m.group(2)
            else:
                line = _LINK.sub(_outside_link, line)
        out.append(line)
    return "\n".join(out).strip() + "\n"


def _outside_link(match: re.Match[str]) -> str:
    text, target = match.groups()
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # a web page: keep the link
        return match.group(0)
    return text if target.startswith("#") else f"{text} (`{target}`)"


def _includes(markdown: str) -> str:
    def replace(m: re.Match[str]) -> str:
        before = [lv for _, lv, _ in _headings(markdown[: m.start()].splitlines())]
        return include(m.group(1), m.group(2), before[-1] if before else 1)

    return _INCLUDE.sub(replace, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    markdown = _includes(markdown)
    return _MARKER.sub(lambda m: render(m.group(1), m.group(2)), markdown)
