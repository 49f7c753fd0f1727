"""cocalc_widgets: CoCalc in Jupyter.

- :class:`CoCalcClient`: CoCalc's HTTP API (v1 of the docs and v2 of current servers).
- :class:`CoCalcFrame`: a CoCalc page in a notebook cell, driven over its IFrame protocol.
- ``%load_ext cocalc_widgets``: the ``%cocalc_copy`` magics.
- ``cocalc_widgets.emulator``: a local CoCalc stand-in for offline use and tests.
"""

from ._version import __version__
from .client import AuthToken, CoCalcClient, ExecResult, Pong
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
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
)

__all__ = [
    "AuthToken",
    "AuthenticationError",
    "BadInput",
    "CoCalcClient",
    "CoCalcConnectionError",
    "CoCalcError",
    "CoCalcTimeout",
    "CommandError",
    "CommandTimeout",
    "CopyFailed",
    "CopyJob",
    "CopyStatus",
    "ExecResult",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "Pong",
    "RateLimited",
    "ServerError",
    "__version__",
]
