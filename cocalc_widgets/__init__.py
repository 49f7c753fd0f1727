"""cocalc_widgets: CoCalc in Jupyter.

- :class:`CoCalcClient`: CoCalc's HTTP API (v1 of the docs, v2 and the conat bridges of current
  servers).
- :class:`CoCalcFrame`: a CoCalc page in a notebook cell, driven over its IFrame protocol.
- ``%load_ext cocalc_widgets``: the ``%cocalc_copy`` magics.
- ``cocalc_widgets.emulator``: a local CoCalc stand-in for offline use and tests.
"""

from ._commands import CommandHandle
from ._version import __version__
from .client import CoCalcClient
from .copyjob import CopyJob, CopyStatus
from .errors import (
    AuthenticationError,
    BadInput,
    CoCalcConnectionError,
    CoCalcError,
    CoCalcTimeout,
    CommandError,
    CommandTimeout,
    CopyFailed,
    CopyKeyRefused,
    CopyNotFound,
    CopyRefused,
    FrameNotReady,
    JournalError,
    NotADirectory,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
)
from .frame import CoCalcFrame, kiosk_url
from .handout import CopyResult, CopyResults, copy_to_many, wait_all
from .results import AuthLink, AuthToken, ExecResult, FileEntry, OrgToken, Pong

__all__ = [
    "AuthLink",
    "AuthToken",
    "AuthenticationError",
    "BadInput",
    "CoCalcClient",
    "CoCalcConnectionError",
    "CoCalcError",
    "CoCalcFrame",
    "CoCalcTimeout",
    "CommandError",
    "CommandHandle",
    "CommandTimeout",
    "CopyFailed",
    "CopyJob",
    "CopyKeyRefused",
    "CopyNotFound",
    "CopyRefused",
    "CopyResult",
    "CopyResults",
    "CopyStatus",
    "ExecResult",
    "FileEntry",
    "FrameNotReady",
    "JournalError",
    "NotADirectory",
    "NotFound",
    "OrgToken",
    "OutcomeUnknown",
    "PermissionDenied",
    "Pong",
    "RateLimited",
    "ServerError",
    "__version__",
    "copy_to_many",
    "kiosk_url",
    "load_ipython_extension",
    "unload_ipython_extension",
    "wait_all",
]


def load_ipython_extension(ipython) -> None:
    """``%load_ext cocalc_widgets``: register the ``%cocalc_*`` magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    """``%unload_ext cocalc_widgets``: remove the ``%cocalc_*`` magics."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)
