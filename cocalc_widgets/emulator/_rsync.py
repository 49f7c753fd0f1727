"""Copy files the way CoCalc's ``rsync -a`` call does, confined to project folders.

CoCalc runs ``rsync -zaxs --omit-link-times [--exclude P]... [--update] [--backup] [--delete]
[--timeout=T] SRC[/] TARGET[/]`` (``src/packages/server/projects/control/util.ts``): a directory
source gets a trailing slash on both sides, so its *contents* are merged into the target folder;
a file source is copied to the target path (into it, if the target is an existing folder).

Options, as rsync has them:

- ``update`` (``--update``, i.e. ``overwrite_newer`` false): a target file newer than the source
  file is kept.
- ``backup`` (``--backup``): a replaced or deleted file is first renamed to ``name~``.
- ``delete`` (``--delete``): target files missing from the source are removed; excluded names
  and (with ``backup``) ``*~`` files are protected, as in rsync.
- ``exclude``: rsync patterns; without ``/`` a pattern matches a name at any depth, a leading
  ``/`` anchors it at the top of the transfer, a trailing ``/`` matches folders only, ``*`` and
  ``?`` stop at ``/``, ``**`` does not.

Symlinks: a symlink inside the copied tree is copied *as a symlink* only if its text is relative
and it points inside the project both where it is and where it will be. Any other symlink makes
the whole copy fail before anything is written. Symlinks already in the target are never
followed: where a folder or file must go, the link itself is replaced.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ._state import PathError


class CopyError(RuntimeError):
    """The copy ran and failed (the text goes into the copy operation's ``error``)."""


@dataclass
class RsyncOptions:
    update: bool = True
    delete: bool = False
    backup: bool = False
    exclude: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    rel: str
    kind: str  # "dir" | "file" | "link"
    link: str = ""


# -- exclude patterns ----------------------------------------------------------------------------
def _translate(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class ExcludeRule:
    """One rsync ``--exclude`` pattern."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        text = pattern
        self.dir_only = text.endswith("/")
        text = text.rstrip("/")
        self.anchored = text.startswith("/")
        text = text.lstrip("/")
        self.full_path = "/" in text or "**" in text
        self.regex = re.compile(_translate(text), re.DOTALL)

    def matches(self, rel: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.anchored:
            return bool(self.regex.fullmatch(rel))
        parts = rel.split("/")
        if not self.full_path:
            return bool(self.regex.fullmatch(parts[-1]))
        return any(self.regex.fullmatch("/".join(parts[i:])) for i in range(len(parts)))


def excluded(rel: str, is_dir: bool, rules: list[ExcludeRule]) -> bool:
    return any(rule.matches(rel, is_dir) for rule in rules)


# -- helpers -------------------------------------------------------------------------------------
def _inside(path: str | Path, root: Path) -> bool:
    path = os.path.normpath(str(path))
    root_s = str(root)
    return path == root_s or path.startswith(root_s.rstrip("/") + "/")


def _check_link(
    src_entry: Path, link: str, dst_entry: Path, src_root: Path, dst_root: Path, rel: str
) -> None:
    if os.path.isabs(link):
        raise PathError(f"symlink '{rel}' points to an absolute path; refusing to copy it")
    here = os.path.normpath(os.path.join(os.path.dirname(src_entry), link))
    real = os.path.realpath(src_entry)
    there = os.path.normpath(os.path.join(os.path.dirname(dst_entry), link))
    if not (
        _inside(here, src_root)
        and _inside(real, src_root)
        and _inside(there, dst_root)
        and _inside(os.path.realpath(there), dst_root)
    ):
        raise PathError(f"symlink '{rel}' points outside the project; refusing to copy it")


def _scan(
    src: Path, dst: Path, src_root: Path, dst_root: Path, rules: list[ExcludeRule]
) -> list[_Entry]:
    """The file list (pre-order), excludes applied, symlinks checked; touches nothing."""
    entries: list[_Entry] = []
    skip = os.path.realpath(dst)

    def walk(folder: Path, rel: str) -> None:
        with os.scandir(folder) as it:
            items = sorted(it, key=lambda e: e.name)
        for item in items:
            sub_rel = f"{rel}{item.name}"
            path = Path(item.path)
            is_link = item.is_symlink()
            is_dir = item.is_dir(follow_symlinks=False)
            if excluded(sub_rel, is_dir, rules):
                continue
            if is_dir and os.path.realpath(path) == skip:
                continue  # the target lies inside the source: rsync's file list predates it
            if is_link:
                link = os.readlink(path)
                _check_link(path, link, dst / sub_rel, src_root, dst_root, sub_rel)
                entries.append(_Entry(sub_rel, "link", link))
            elif is_dir:
                entries.append(_Entry(sub_rel, "dir"))
                walk(path, sub_rel + "/")
            elif item.is_file(follow_symlinks=False):
                entries.append(_Entry(sub_rel, "file"))

    walk(src, "")
    return entries


def _backup_or_remove(path: Path, backup: bool) -> None:
    """Remove a target entry; with ``backup`` rename it to ``name~`` instead (folders too)."""
    is_dir = path.is_dir() and not path.is_symlink()
    spare = path.with_name(path.name + "~")
    if backup and not (is_dir and os.path.lexists(spare)):
        if os.path.lexists(spare) and spare.is_dir() and not spare.is_symlink():
            shutil.rmtree(spare)
        os.replace(path, spare)
    elif is_dir:
        shutil.rmtree(path)
    else:
        path.unlink()


def _ensure_dir(path: Path, dst_root: Path, backup: bool) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        _backup_or_remove(path, backup)
    path.mkdir(exist_ok=True)
    if not _inside(os.path.realpath(path), dst_root):
        raise PathError(f"target folder '{path.name}' leaves the project")


def _same(src: Path, dst: Path) -> bool:
    a, b = src.stat(), dst.stat()
    return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)


def _copy_file(src: Path, dst: Path, opts: RsyncOptions) -> bool:
    """Copy one file; ``False`` if rsync would have skipped it."""
    if dst.is_symlink() or dst.exists():
        if dst.is_dir() and not dst.is_symlink():
            raise CopyError(f"cannot overwrite directory '{dst.name}' with a non-directory")
        if not dst.is_symlink():
            if opts.update and dst.stat().st_mtime > src.stat().st_mtime:
                return False
            if _same(src, dst):
                return False
        if opts.backup:
            os.replace(dst, dst.with_name(dst.name + "~"))
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        shutil.copystat(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    return True


def _copy_link(link: str, dst: Path, opts: RsyncOptions) -> bool:
    if dst.is_symlink() and os.readlink(dst) == link:
        return False
    if dst.is_symlink() or dst.exists():
        if dst.is_dir() and not dst.is_symlink():
            raise CopyError(f"cannot overwrite directory '{dst.name}' with a symlink")
        _backup_or_remove(dst, opts.backup)
    os.symlink(link, dst)
    return True


def check_copy(src: Path, dst: Path, src_root: Path, dst_root: Path, opts: RsyncOptions) -> None:
    """Raise :class:`PathError` if the copy would involve an unsafe symlink (touches nothing)."""
    if src.is_dir():
        _scan(src, dst, src_root, dst_root, [ExcludeRule(p) for p in opts.exclude])


def rsync_copy(src: Path, dst: Path, src_root: Path, dst_root: Path, opts: RsyncOptions) -> int:
    """Copy ``src`` to ``dst`` (both already resolved inside their project roots).

    Returns the number of files, links and folders written. Raises :class:`CopyError` (the
    rsync-like failure text) or :class:`PathError` (an unsafe path); nothing outside
    ``dst_root`` is ever written.
    """
    src_root, dst_root = Path(os.path.realpath(src_root)), Path(os.path.realpath(dst_root))
    if not os.path.lexists(src):
        raise CopyError(
            f'rsync: link_stat "{src}" failed: No such file or directory (2)\n'
            "rsync error: some files/attrs were not transferred (see previous errors) (code 23)"
        )
    if os.path.realpath(src) == os.path.realpath(dst):
        return 0
    rules = [ExcludeRule(p) for p in opts.exclude]
    if not src.is_dir():
        if excluded(src.name, False, rules):
            return 0
        if dst.is_dir() and not dst.is_symlink():
            dst = dst / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not _inside(os.path.realpath(dst.parent), dst_root):
            raise PathError("target path leaves the target project")
        return int(_copy_file(src, dst, opts))
    entries = _scan(src, dst, src_root, dst_root, rules)
    dst.parent.mkdir(parents=True, exist_ok=True)
    _ensure_dir(dst, dst_root, opts.backup)
    written = 0
    names: dict[str, set[str]] = {"": set()}
    for entry in entries:
        parent, _, name = entry.rel.rpartition("/")
        names.setdefault(parent, set()).add(name)
        target = dst / entry.rel
        if entry.kind == "dir":
            names.setdefault(entry.rel, set())
            _ensure_dir(target, dst_root, opts.backup)
        elif entry.kind == "link":
            written += _copy_link(entry.link, target, opts)
        else:
            written += _copy_file(src / entry.rel, target, opts)
    if opts.delete:
        for folder, keep in names.items():
            _delete_extra(dst, folder, keep, rules, opts.backup)
    return written


def _delete_extra(
    dst: Path, folder: str, keep: set[str], rules: list[ExcludeRule], backup: bool
) -> None:
    base = dst / folder if folder else dst
    if base.is_symlink() or not base.is_dir():
        return
    for item in sorted(os.listdir(base)):
        if item in keep:
            continue
        path = base / item
        rel = f"{folder}/{item}" if folder else item
        if excluded(rel, path.is_dir() and not path.is_symlink(), rules):
            continue
        if backup and item.endswith("~"):
            continue
        _backup_or_remove(path, backup)
