"""File operations inside a project folder: write text, read text, list a folder.

Paths are relative to the project's home and never leave it (``EmulatorState.resolve``).
Errors are :class:`OpFailed` with node's texts (``ENOENT: no such file or directory, ...``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ._ops import OpFailed, require_collaborator
from ._state import EmulatorState, PathError
from ._values import js_str


def _os_error(err: OSError) -> OpFailed:
    return OpFailed(f"{type(err).__name__}: {err.strerror or err}")


def write_text(
    state: EmulatorState, account_id: str, project_id: object, path: object, content: object
) -> None:
    """Write ``content`` to ``path`` (folders are created, the file is replaced)."""
    require_collaborator(state, account_id, project_id, "write")
    if not isinstance(content, str):
        raise OpFailed("content must be a string")
    try:
        target = state.resolve(project_id, path)  # type: ignore[arg-type]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    except PathError as err:
        raise OpFailed(str(err)) from None
    except IsADirectoryError:
        raise OpFailed(f"EISDIR: illegal operation on a directory, open '{path}'") from None
    except OSError as err:
        raise _os_error(err) from None


def read_text(state: EmulatorState, account_id: str, project_id: object, path: object) -> str:
    """The text of the file at ``path`` (undecodable bytes replaced)."""
    require_collaborator(state, account_id, project_id, "read")
    try:
        target = state.resolve(project_id, path)  # type: ignore[arg-type]
        return target.read_bytes().decode("utf-8", "replace")
    except PathError as err:
        raise OpFailed(str(err)) from None
    except FileNotFoundError:
        raise OpFailed(f"ENOENT: no such file or directory, open '{js_str(path)}'") from None
    except IsADirectoryError:
        raise OpFailed(f"EISDIR: illegal operation on a directory, read '{js_str(path)}'") from None
    except OSError as err:
        raise _os_error(err) from None


def listing(
    state: EmulatorState, account_id: str, project_id: object, path: object, hidden: bool = False
) -> list[dict]:
    """The folder's entries as CoCalc's ``get-listing`` gives them, sorted by name.

    ``{name, isdir?, size, mtime}``: ``isdir`` only when true; ``size`` in bytes for a file and
    the number of (non-hidden unless ``hidden``) entries for a folder; ``mtime`` in seconds since
    the epoch. Names starting with ``.`` are left out unless ``hidden``. ``""`` is the home.
    """
    require_collaborator(state, account_id, project_id, "read")
    try:
        folder = state.resolve(project_id, path, allow_root=True)  # type: ignore[arg-type]
        names = sorted(os.listdir(folder))
    except PathError as err:
        raise OpFailed(str(err)) from None
    except FileNotFoundError:
        raise OpFailed(f"ENOENT: no such file or directory, opendir '{js_str(path)}'") from None
    except NotADirectoryError:
        raise OpFailed(f"ENOTDIR: not a directory, opendir '{js_str(path)}'") from None
    except OSError as err:
        raise _os_error(err) from None
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
    if stat.S_ISLNK(info.st_mode):
        try:
            real = path.resolve(strict=True)
            if real == root or root in real.parents:
                info = real.stat()
        except OSError:
            pass  # a broken link: its own lstat, as CoCalc does
    entry: dict = {"name": path.name}
    if stat.S_ISDIR(info.st_mode):
        entry["isdir"] = True
        try:
            children = os.listdir(path)
        except OSError:
            children = []
        entry["size"] = sum(1 for c in children if hidden or not c.startswith("."))
    else:
        entry["size"] = info.st_size
    entry["mtime"] = info.st_mtime
    return entry
