"""Auth tokens for embedding: issue one for an account (password rule, bans), for a member of
an organisation (its admins), and revoke one (v1 ``user_auth``, conat
``system.generateUserAuthToken`` / ``system.revokeUserAuthToken`` / ``org.createToken`` /
``org.expireToken``). Every token signs in through ``/auth/impersonate``.
"""

from __future__ import annotations

import secrets
import threading
import time

from ._ops import Banned, OpFailed, UnknownAccount, WrongPassword
from ._state import EmulatorState

CONAT_TOKEN_TTL = 24 * 3600.0  # createAuthTokenNoCheck's default


class Bans:
    """Wrong-password bans of (caller, user) pairs, each ``seconds`` long (settable)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._until: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def active(self, caller: str, user: str) -> bool:
        return self._until.get((caller, user), 0.0) > time.monotonic()

    def ban(self, caller: str, user: str) -> None:
        self._until[(caller, user)] = time.monotonic() + self.seconds


def user_token(
    state: EmulatorState,
    bans: Bans,
    caller: str,
    user: str,
    password: str,
    ttl: float,
) -> str:
    """A token that signs in as ``user``, asked for by ``caller`` (the key's owner).

    A site admin with an empty password gets one for any existing account; any non-empty
    password must be the user's; anyone else always needs the user's password. A wrong password
    bans the pair for ``bans.seconds``. Raises :class:`Banned`, :class:`WrongPassword` or (a site
    admin asking for an account that does not exist) :class:`UnknownAccount`.
    """
    with bans.lock:
        if bans.active(caller, user):
            raise Banned()
        admin = state.is_site_admin(caller)
        account = state.accounts.get(user)
        if admin and account is None:
            raise UnknownAccount(user)
        if not (admin and password == ""):
            known = account.password if account is not None else None
            if known is None or not secrets.compare_digest(password.encode(), known.encode()):
                bans.ban(caller, user)
                raise WrongPassword()
    return state.issue_token(user, ttl=ttl, created_by=caller)


def org_token(state: EmulatorState, caller: str, user: str, ttl: float) -> str:
    """A token for ``user`` (account id or email address), who must be in an organisation that
    ``caller`` administers (or ``caller`` is a site admin)."""
    account = state.find_account(user)
    if account is None or account.org is None:
        raise OpFailed("user is not in an org")
    org = state.orgs.get(account.org)
    admins = org.admin_account_ids if org is not None else []
    if caller not in admins and not state.is_site_admin(caller):
        raise OpFailed("user must be an admin of the organization or site-admin")
    return state.issue_token(account.account_id, ttl=ttl, created_by=caller)
