"""The operations every API generation shares, and the errors they raise.

The wire modules (``_api_v1``, ``_api_v2``, ``_api_conat``) map their envelopes and field names
onto these operations (here and in ``_files``, ``_exec``, ``_query``, ``_tokens``, ``_copy``).
An operation raises :class:`OpFailed` whose text is what every generation answers (node-like,
e.g. ``ENOENT: no such file or directory, open 'x.txt'``), or one of its subclasses where the
generations answer different texts; a wire module catches those first and words them its way.
"""

from __future__ import annotations

import json

from ._state import EmulatorState
from ._values import js_str


class OpFailed(Exception):
    """An operation failed; ``str()`` is the text to answer. ``name``: the class name of
    CoCalc's error, which the conat bridge puts before the text (``OwnershipError: ...``;
    PostgreSQL's errors are named ``error``)."""

    def __init__(self, *args: object, name: str = "Error") -> None:
        super().__init__(*args)
        self.name = name


class NoAccess(OpFailed):
    """The account is not a collaborator of the project (``kind``: ``read`` or ``write``)."""

    def __init__(self, account_id: str, project_id: object, kind: str) -> None:
        super().__init__(
            f"User {account_id} does not have {kind} access to project {js_str(project_id)}"
        )
        self.account_id, self.project_id, self.kind = account_id, project_id, kind


class ExecDisabled(OpFailed):
    """Running commands is off (the emulator was started without ``--allow-exec``)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is disabled in the cocalc-widgets emulator: start it with --allow-exec "
            "(or Emulator(allow_exec=True)) to run commands in project folders"
        )


class WrongPassword(OpFailed):
    """The password does not sign in as the account (the pair is banned now)."""

    def __init__(self) -> None:
        super().__init__("incorrect password")


class Banned(OpFailed):
    """A wrong password was given for this (caller, user) pair a short while ago."""

    def __init__(self) -> None:
        super().__init__("banned -- please wait before trying again")


class UnknownAccount(OpFailed):
    """A site admin asked for a token of an account that does not exist."""

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account '{account_id}' does not exist")


def require_collaborator(
    state: EmulatorState, account_id: str, project_id: object, kind: str
) -> str:
    """The project id if the account may use the project; raises :class:`NoAccess`."""
    if not state.is_collaborator(account_id, project_id):
        raise NoAccess(account_id, project_id, kind)
    return project_id  # type: ignore[return-value]


def create_project(
    state: EmulatorState, account_id: str, title: str, description: str, start: bool = False
) -> str:
    """A new project owned by the key's owner (and ``account_id`` as collaborator), stopped
    (``opened``) unless ``start``."""
    try:
        project_id = state.create_project(
            title=title, description=description, state="running" if start else "opened"
        )
        state.add_collaborator(project_id, account_id)
    except (OSError, ValueError) as err:
        raise OpFailed(
            f"Failed to create new project '{title}' -- {json.dumps(str(err))}"
        ) from None
    return project_id
