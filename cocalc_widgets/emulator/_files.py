"""File operations inside a project folder: write text, read text, list a folder.

Paths are relative to the project's home and never leave it (``EmulatorState.resolve``).
Errors are :class:`OpFailed` with node's texts (``ENOENT: no such file or directory, ...``).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ._ops import OpFailed, require_collaborator
from ._state import EmulatorState, PathError
from ._values import js_str

_NODE_TEXTS = {
    errno.ENOENT: ("ENOENT", "no such file or directory"),
    errno.EISDIR: ("EISDIR", "illegal operation on a directory"),
    errno.ENOTDIR: ("ENOTDIR", "not a directory"),
}


@contextmanager
def _node_errors(path: object, syscall: str, **syscall_by_code: str) -> Iterator[None]:
    """Raise a refused path, and an OS error as node words it (``ENOENT: no such file or
    directory, open 'x.txt'``), as :class:`OpFailed`; ``syscall_by_code`` names another
    syscall for a code (``EISDIR="read"``)."""
    try:
        yield
    except PathError as err:
        raise OpFailed(str(err)) from None
    except OSError as err:
        if err.errno not in _NODE_TEXTS:
            raise OpFailed(f"{type(err).__name__}: {err.strerror or err}") from None
        code, what = _NODE_TEXTS[err.errno]
        call = syscall_by_code.get(code, syscall)
        raise OpFailed(f"{code}: {what}, {call} '{js_str(path)}'") from None


def write_text(
    state: EmulatorState, account_id: str, project_id: object, path: object, content: object
) -> None:
    """Write ``content`` to ``path`` (folders are created, the file is replaced)."""
    require_collaborator(state, account_id, project_id, "write")
    if not isinstance(content, str):
        raise OpFailed("content must be a string")
    with _node_errors(path, "open"):
        target = state.resolve(project_id, path)  # type: ignore[arg-type]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")


def read_text(state: EmulatorState, account_id: str, project_id: object, path: object) -> str:
    """The text of the file at ``path`` (undecodable bytes replaced)."""
    require_collaborator(state, account_id, project_id, "read")
    with _node_errors(path, "open", EISDIR="read"):
        target = state.resolve(project_id, path)  # type: ignore[arg-type]
        return target.read_bytes().decode("utf-8", "replace")


def listing(
    state: EmulatorState, account_id: str, project_id: object, path: object, hidden: bool = False
) -> list[dict]:
    """The folder's entries as CoCalc's ``get-listing`` gives them, in the folder's own order
    (the file system's, as CoCalc's ``opendir``: not sorted).

    ``{name, issymlink?, link_target?, mtime, isdir?, size}``: ``issymlink`` and ``isdir`` only
    when true; ``link_target`` the text of a symlink; ``size`` in bytes for a file and the number
    of (non-hidden unless ``hidden``) entries for a folder; ``mtime`` in seconds since the epoch.
    Names starting with ``.`` are left out unless ``hidden``. ``""`` is the home.
    """
    require_collaborator(state, account_id, project_id, "read")
    with _node_errors(path, "opendir"):
        folder = state.resolve(project_id, path, allow_root=True)  # type: ignore[arg-type]
        names = os.listdir(folder)
    root = state.project_dir(project_id).resolve()  # type: ignore[arg-type]
    entries = []
    for name in names:
        if hidden or not name.startswith("."):
            try:
                entries.append(_entry(folder / name, root, hidden))
            except FileNotFoundError:
                continue  # removed while we looked
    return entries


def _entry(path: Path, root: Path, hidden: bool) -> dict:
    """One listing entry; a symlink is followed only while it stays inside the project."""
    info = path.lstat()
    entry: dict = {"name": path.name}
    if stat.S_ISLNK(info.st_mode):
        entry["issymlink"] = True
        with suppress(OSError):
            entry["link_target"] = os.readlink(path)
        try:
            real = path.resolve(strict=True)
            if real == root or root in real.parents:
                info = real.stat()
        except OSError:
            pass  # a broken link: its own lstat, as CoCalc does
    entry["mtime"] = info.st_mtime
    if stat.S_ISDIR(info.st_mode):
        entry["isdir"] = True
        try:
            children = os.listdir(path)
        except OSError:
            children = []
        entry["size"] = sum(1 for c in children if hidden or not c.startswith("."))
    else:
        entry["size"] = info.st_size
    return entry
