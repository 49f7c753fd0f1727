"""A griffe extension for the API reference: the docstrings' Sphinx roles as Markdown.

The package's docstrings name other objects the Sphinx way (``:class:`CopyJob```,
``:meth:`CopyJob.wait```, ``:func:`frame_state```). mkdocstrings renders Markdown, where those
would show as ``:class:`` followed by code. This extension rewrites each role once the package
is loaded: to a cross-reference when the object is documented on one of the reference pages
(every name of ``cocalc_widgets.__all__``, and the few others in ``DOCUMENTED``), else to plain
code. So a role never becomes a broken link (``mkdocs build --strict`` would fail on one).

``mkdocs.yml`` loads it (mkdocstrings' python handler, ``extensions``); ``docs/_hooks.py``
uses :func:`rewrite_roles` for the magics' help texts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# Without the docs extra, rewrite_roles (docs/_hooks.py, tests/scenarios/test_docs.py) still works.
try:
    from griffe import Extension
except ImportError:
    Extension = object  # type: ignore[assignment,misc]

#: Objects documented on the reference pages besides ``cocalc_widgets.__all__``:
#: short name -> the path its ``::: path`` block uses (the anchor).
DOCUMENTED = {
    "Emulator": "cocalc_widgets.emulator.Emulator",
    "Faults": "cocalc_widgets.emulator.Faults",
    "frame_state": "cocalc_widgets.marimo.frame_state",
    "plain_url": "cocalc_widgets.frame.plain_url",
    "CoCalcMagics": "cocalc_widgets.magics.CoCalcMagics",
    "MagicError": "cocalc_widgets.magics.MagicError",
    "CopyStatusTable": "cocalc_widgets.magics.CopyStatusTable",
}

_ROLE = re.compile(r":(class|func|meth|attr|data|exc|mod|obj):`(~?)([^`]+)`")
_LINKED = {"class", "func", "meth", "exc", "obj"}

#: ``resolve(name, context) -> anchor or None``: where a role's target is documented.
Resolver = Callable[[str, Any], "str | None"]


def rewrite_roles(text: str, resolve: Resolver | None = None, context: Any = None) -> str:
    """``text`` with every Sphinx role as Markdown: ``[`X`][anchor]`` where ``resolve`` finds
    the target's anchor, else `` `X` ``."""

    def replace(match: re.Match[str]) -> str:
        kind, tilde, target = match.groups()
        shown = target.rsplit(".", 1)[-1] if tilde else target
        if kind in ("func", "meth"):
            shown += "()"
        anchor = resolve(target.lstrip("."), context) if resolve and kind in _LINKED else None
        return f"[`{shown}`][{anchor}]" if anchor else f"`{shown}`"

    return _ROLE.sub(replace, text)


def _public_names(package: Any) -> dict[str, str]:
    """Short name -> documented path, from ``__all__`` of the package and ``DOCUMENTED``."""
    names: dict[str, str] = {}
    exported = package.members.get("__all__")
    value = getattr(exported, "value", None)
    for item in getattr(value, "elements", None) or []:
        name = str(item).strip("'\"")
        names[name] = f"{package.path}.{name}"
    names.update(DOCUMENTED)
    return names


def _target(obj: Any) -> Any:
    try:
        return obj.final_target if obj.is_alias else obj
    except Exception:  # an alias griffe cannot resolve: not a link
        return None


class SphinxRolesToMarkdown(Extension):
    """Rewrite the roles of every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: Any, **kwargs: Any) -> None:
        names = _public_names(pkg)

        def documented_member(owner_anchor: str, member: str) -> str | None:
            owner = _lookup(pkg, owner_anchor)
            found = owner.members.get(member) if owner is not None else None
            found = _target(found) if found is not None else None
            if found is None or member.startswith("_") or not found.docstring:
                return None
            return f"{owner_anchor}.{member}"

        def resolve(target: str, context: Any) -> str | None:
            parts = target.split(".")
            if parts[0] == pkg.path and len(parts) > 1:  # cocalc_widgets.X, cocalc_widgets.m.X
                parts = parts[-2:] if len(parts) > 2 and parts[-2][:1].isupper() else parts[-1:]
            if len(parts) == 1:
                if parts[0] in names:
                    return names[parts[0]]
                # A method or attribute of the class whose docstring names it.
                cls = context if context is not None and context.is_class else None
                if cls is None and context is not None and context.parent is not None:
                    cls = context.parent if context.parent.is_class else None
                if cls is not None and cls.name in names:
                    return documented_member(names[cls.name], parts[0])
                return None
            if len(parts) == 2 and parts[0] in names:
                return documented_member(names[parts[0]], parts[1])
            return None

        for obj in _walk(pkg):
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = rewrite_roles(obj.docstring.value, resolve, obj)


def _lookup(pkg: Any, anchor: str) -> Any:
    """The object an anchor like ``cocalc_widgets.emulator.Emulator`` names, aliases followed."""
    obj = pkg
    for part in anchor.split(".")[1:]:
        member = obj.members.get(part) if obj is not None else None
        obj = _target(member) if member is not None else None
    return obj


def _walk(obj: Any) -> Any:
    """Every object of a module tree (not aliases: each object is visited where it lives)."""
    yield obj
    for member in list(obj.members.values()):
        if member.is_alias:
            continue
        if member.is_module or member.is_class or member.is_function or member.is_attribute:
            yield from _walk(member)
