"""The emulator's shared state: projects on disk, accounts and organisations, the API key,
auth tokens and site settings.

Both halves of the emulator use it: the HTTP API (``_api.py``) and the kiosk pages
(``_kiosk.py``). It never imports cocalc_widgets' client.

Projects, the accounts other than the key's owner, and the organisations are kept in the data
folder's metadata file, so their ids stay the same when the emulator restarts over it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import threading
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal, cast

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TOKEN_TTL = 12 * 3600.0
_META = ".cocalc-emulator.json"
KioskSetting = Literal["ok", "broken", "no-bridge", "stuck"]
KIOSK_SETTINGS: dict[KioskSetting, str] = {
    "ok": "kiosk pages show the file and answer IFrame messages",
    "broken": 'kiosk pages show only "CoCalc:" and never answer, as cocalc.com (issue #8527)',
    "no-bridge": "kiosk pages show the file but never answer IFrame messages",
    "stuck": "kiosk pages ignore the URL's file (a banner) but answer IFrame messages, whose "
    "open shows it, as CoCalc master 5cb3315c (issue #8527)",
}
"""What a page with ``?fullscreen=kiosk`` does under each ``kiosk`` setting."""


def check_kiosk_setting(value: object) -> KioskSetting:
    """``value`` if it names a kiosk setting (:data:`KIOSK_SETTINGS`); else ``ValueError``."""
    if not isinstance(value, str) or value not in KIOSK_SETTINGS:
        choices = ", ".join(KIOSK_SETTINGS)
        raise ValueError(f"unknown kiosk setting {value!r}: choose one of {choices}")
    return cast(KioskSetting, value)


class PathError(ValueError):
    """A path that is not allowed (leaves the project folder, absolute, NUL, ...)."""


class UnknownProject(KeyError):
    """No project with that id."""

    def __str__(self) -> str:
        return f"no project with id '{self.args[0]}'"


@dataclass
class Project:
    """A project; the key's owner is its owner, ``collaborators`` are further accounts."""

    project_id: str
    title: str = ""
    description: str = ""
    created: float = field(default_factory=time.time)
    collaborators: list[str] = field(default_factory=list)
    state: str = "running"
    state_time: float = field(default_factory=time.time)
    last_edited: float | None = None
    deleted: bool = False


PROJECT_STATES = ("opened", "starting", "running", "stopping")
"""The states a project moves through (CoCalc's single-user ``opened`` is "stopped")."""


@dataclass
class ApiKey:
    """An API key: of an account (``project_id`` ``None``) or of one project."""

    account_id: str | None
    project_id: str | None = None


@dataclass
class Account:
    """A CoCalc account; ``org`` is the organisation it belongs to (at most one)."""

    account_id: str
    first_name: str
    last_name: str = ""
    email_address: str | None = None
    password: str | None = None
    org: str | None = None
    created: float = field(default_factory=time.time)


@dataclass
class Org:
    """An organisation: its name, the accounts that administer it, and what ``org.set``
    changes."""

    name: str
    admin_account_ids: list[str] = field(default_factory=list)
    organization_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    title: str | None = None
    description: str | None = None
    link: str | None = None
    email_address: str | None = None


@dataclass
class Message:
    """An internal message (``messages.send``, ``org.message``)."""

    id: int
    from_id: str
    to_ids: list[str]
    subject: str
    body: str
    sent: float
    thread_id: int | None = None


@dataclass
class AuthToken:
    """An auth token: the account it signs in as, who made it, when it expires."""

    account_id: str
    expires: float
    created_by: str | None = None


_ACCOUNT_FIELDS = frozenset(f.name for f in fields(Account)) - {"account_id"}
_ORG_FIELDS = frozenset(f.name for f in fields(Org)) - {"name"}
_PROJECT_FIELDS = frozenset(f.name for f in fields(Project)) - {"project_id"}


class EmulatorState:
    """Projects (one folder per project UUID under ``data_dir``), accounts, organisations,
    credentials and settings.

    The API key belongs to the account ``account_id`` (a site admin unless ``site_admin`` is
    false). Thread-safe: the HTTP server runs each request in its own thread.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        api_key: str | None = None,
        account_id: str | None = None,
        password: str | None = None,
        site_admin: bool = True,
        iframe_comm_hosts: Iterable[str] | str = (),
        dev_http_origins: Iterable[str] | str = (),
        require_sign_in: bool = True,
        samesite_remember_me: str = "lax",
        kiosk_startup_delay: float = 0.1,
        kiosk: KioskSetting = "ok",
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.api_key = api_key or "sk-" + secrets.token_urlsafe(16)[:22]
        self.account_id = account_id or str(uuid.uuid4())
        self.site_admin = site_admin
        self.iframe_comm_hosts = split_hosts(iframe_comm_hosts)
        self.dev_http_origins = _split_words(dev_http_origins)
        self.lock = threading.RLock()
        self._tokens: dict[str, AuthToken] = {}
        # Kiosk pages (``_kiosk.py``): sign-in required for pages; the remember_me cookie's
        # SameSite ("strict" | "lax" | "none", like CoCalc's site setting of that name; "none"
        # also marks it Secure); seconds the page waits after loading before it listens; what a
        # kiosk page does (``kiosk``, one of KIOSK_SETTINGS). Each page request reads them.
        self.require_sign_in = require_sign_in
        self.samesite_remember_me = samesite_remember_me
        self.kiosk_startup_delay = kiosk_startup_delay
        self.kiosk = kiosk
        self._sessions: dict[str, tuple[float, str]] = {}
        self.projects: dict[str, Project] = {}
        self.accounts: dict[str, Account] = {
            self.account_id: Account(
                self.account_id,
                "Emulator",
                "User",
                "emulator@localhost",
                password or secrets.token_urlsafe(12),
            )
        }
        self.orgs: dict[str, Org] = {}
        self.messages: list[Message] = []
        # Further API keys (project-scoped ones): key -> its scope. The main key is api_key.
        self._api_keys: dict[str, ApiKey] = {}
        self._load()

    @property
    def password(self) -> str:
        """The password of the key's owner."""
        return self.accounts[self.account_id].password or ""

    @property
    def kiosk(self) -> KioskSetting:
        """What kiosk pages do: ``"ok"``, ``"broken"``, ``"no-bridge"`` or ``"stuck"`` (see
        :data:`KIOSK_SETTINGS`); setting another value raises ``ValueError``."""
        return self._kiosk

    @kiosk.setter
    def kiosk(self, value: KioskSetting) -> None:
        self._kiosk = check_kiosk_setting(value)

    # -- projects ----------------------------------------------------------------------------
    def _meta_path(self) -> Path:
        return self.data_dir / _META

    def _load(self) -> None:
        meta: dict[str, dict] = {}
        if self._meta_path().is_file():
            try:
                meta = json.loads(self._meta_path().read_text())
            except (OSError, ValueError):
                meta = {}
        projects = meta.get("projects", {})
        for child in sorted(self.data_dir.iterdir()):
            if child.is_dir() and not child.is_symlink() and UUID_RE.match(child.name):
                info = projects.get(child.name, {})
                known = {k: v for k, v in info.items() if k in _PROJECT_FIELDS}
                known.setdefault("created", child.stat().st_mtime)
                known["collaborators"] = list(known.get("collaborators", []))
                self.projects[child.name] = Project(child.name, **known)
        for account_id, info in meta.get("accounts", {}).items():
            if account_id != self.account_id and UUID_RE.match(account_id):
                known = {k: v for k, v in info.items() if k in _ACCOUNT_FIELDS}
                self.accounts[account_id] = Account(account_id, **known)
        for name, info in meta.get("orgs", {}).items():
            known = {k: v for k, v in info.items() if k in _ORG_FIELDS}
            known["admin_account_ids"] = list(known.get("admin_account_ids", []))
            self.orgs[name] = Org(name, **known)
        for info in meta.get("messages", []):
            try:
                self.messages.append(Message(**info))
            except TypeError:
                continue

    def _save(self) -> None:
        """Write the metadata file (readable by its owner only: it holds account passwords)."""
        data = {
            "projects": {
                p.project_id: {k: v for k, v in vars(p).items() if k != "project_id"}
                for p in self.projects.values()
            },
            "accounts": {
                a.account_id: {k: v for k, v in asdict(a).items() if k != "account_id"}
                for a in self.accounts.values()
                if a.account_id != self.account_id
            },
            "orgs": {
                o.name: {k: v for k, v in asdict(o).items() if k != "name"}
                for o in self.orgs.values()
            },
            "messages": [asdict(m) for m in self.messages],
        }
        tmp = self._meta_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))  # C encoder: 5,000 projects fast
        tmp.chmod(0o600)
        tmp.replace(self._meta_path())

    def create_project(
        self,
        title: str = "",
        description: str = "",
        project_id: str | None = None,
        state: str = "running",
    ) -> str:
        """Create a project folder and return its id; a new project starts in ``state``."""
        pid = project_id or str(uuid.uuid4())
        if not UUID_RE.match(pid):
            raise ValueError(f"invalid project_id '{pid}'")
        if state not in PROJECT_STATES:
            raise ValueError(f"unknown project state '{state}'")
        with self.lock:
            (self.data_dir / pid).mkdir(exist_ok=True)
            self.projects.setdefault(pid, Project(pid, state=state))
            self.projects[pid].title = title or self.projects[pid].title
            self.projects[pid].description = description or self.projects[pid].description
            self._save()
        return pid

    def create_projects(self, titles: Iterable[str]) -> list[str]:
        """Create one project per title (new ids, one metadata write); returns their ids."""
        ids: list[str] = []
        with self.lock:
            try:
                for title in titles:
                    pid = str(uuid.uuid4())
                    (self.data_dir / pid).mkdir()
                    self.projects[pid] = Project(pid, title=title)
                    ids.append(pid)
            finally:  # the folders made before a failure stay, and so do their titles
                if ids:
                    self._save()
        return ids

    def update_project(
        self, project_id: str, *, title: str | None = None, description: str | None = None
    ) -> None:
        """Change a project's title and/or description (``None`` keeps it); saved to disk."""
        with self.lock:
            if project_id not in self.projects:
                raise UnknownProject(project_id)
            if title is not None:
                self.projects[project_id].title = title
            if description is not None:
                self.projects[project_id].description = description
            self._save()

    def project_dir(self, project_id: str) -> Path:
        """The folder of a project; raises :class:`UnknownProject`."""
        with self.lock:
            if project_id not in self.projects:
                raise UnknownProject(project_id)
        return self.data_dir / project_id

    def resolve(self, project_id: str, path: str, *, allow_root: bool = False) -> Path:
        """The absolute location of ``path`` inside the project, which must stay inside it.

        Refuses absolute paths, NUL bytes, ``..`` that climbs out, and symlinks (anywhere along
        the path) that lead outside the project folder. The result may not exist yet.
        """
        root = self.project_dir(project_id)
        if not isinstance(path, str):
            raise PathError("path must be a string")
        if "\x00" in path:
            raise PathError("path must not contain NUL bytes")
        if path.startswith("/") or path.startswith("~"):
            raise PathError(f"path must be relative to the project's home: '{path}'")
        stripped = path.strip()
        if stripped in ("", ".", "./") and not allow_root:
            raise PathError("path must not be empty")
        real_root = str(self._real_root(root))
        target = _real_path_under(real_root, path)
        if target != real_root and not target.startswith(real_root + os.sep):
            raise PathError(f"path leaves the project: '{path}'")
        return Path(target)

    def real_root(self, project_id: str) -> Path:
        """The real location of a project's folder (no symlink in it); raises
        :class:`UnknownProject`."""
        return self._real_root(self.project_dir(project_id))

    @staticmethod
    def _real_root(root: Path) -> Path:
        # ``data_dir`` is resolved, so a project folder that is a plain directory (as the
        # emulator makes them) is its own real location: one lstat instead of a realpath.
        try:
            plain = stat.S_ISDIR(os.lstat(root).st_mode)
        except OSError:
            plain = False
        return root if plain else root.resolve()

    # -- accounts and organisations ------------------------------------------------------------
    def create_account(
        self,
        first_name: str,
        last_name: str = "",
        email_address: str | None = None,
        password: str | None = None,
        org: str | None = None,
        account_id: str | None = None,
        *,
        org_must_exist: bool = True,
    ) -> str:
        """Create an account and return its id; ``org`` must exist (unless not
        ``org_must_exist``: CoCalc's ``org.createUser`` by a site admin), the email be unused."""
        aid = account_id or str(uuid.uuid4())
        if not UUID_RE.match(aid):
            raise ValueError(f"invalid account_id '{aid}'")
        with self.lock:
            if aid in self.accounts:
                raise ValueError(f"an account with id '{aid}' exists")
            if email_address is not None and self.find_account(email_address) is not None:
                raise ValueError(f"an account with email address '{email_address}' exists")
            if org is not None and org_must_exist and org not in self.orgs:
                raise ValueError(f"no organization named '{org}'")
            self.accounts[aid] = Account(aid, first_name, last_name, email_address, password, org)
            self._save()
        return aid

    def create_org(self, name: str, admins: Iterable[str] = ()) -> str:
        """Create an organisation administered by ``admins`` (account ids); returns its name."""
        with self.lock:
            if not name or name in self.orgs:
                raise ValueError(f"an organization named '{name}' exists" if name else "no name")
            admin_ids = list(admins)
            unknown = [a for a in admin_ids if a not in self.accounts]
            if unknown:
                raise ValueError(f"no account with id '{unknown[0]}'")
            self.orgs[name] = Org(name, admin_ids)
            self._save()
        return name

    def add_org_admin(self, name: str, account_id: str) -> None:
        """Make an account an admin of the organisation ``name`` (if it is not already)."""
        with self.lock:
            admins = self.orgs[name].admin_account_ids
            if account_id not in admins:
                admins.append(account_id)
                self._save()

    def add_collaborator(self, project_id: str, account_id: str) -> None:
        """Make an account a collaborator of a project (the key's owner always is one)."""
        with self.lock:
            project = self.projects.get(project_id)
            if project is None:
                raise UnknownProject(project_id)
            if account_id != self.account_id and account_id not in project.collaborators:
                project.collaborators.append(account_id)
                self._save()

    def remove_collaborator(self, project_id: str, account_id: str) -> None:
        """Take an account off a project: from now on no API and no page lets it in."""
        with self.lock:
            project = self.projects.get(project_id)
            if project is None:
                raise UnknownProject(project_id)
            if account_id in project.collaborators:
                project.collaborators.remove(account_id)
                self._save()

    def set_project_state(self, project_id: str, state: str) -> None:
        """Move a project to one of :data:`PROJECT_STATES` (saved to disk)."""
        if state not in PROJECT_STATES:
            raise ValueError(f"unknown project state '{state}'")
        with self.lock:
            project = self.projects.get(project_id)
            if project is None:
                raise UnknownProject(project_id)
            if project.state != state:
                project.state, project.state_time = state, time.time()
                self._save()

    def touch_project(self, project_id: str) -> None:
        """Record that the project is in use now (``last_edited``)."""
        with self.lock:
            project = self.projects.get(project_id)
            if project is None:
                raise UnknownProject(project_id)
            project.last_edited = time.time()
            self._save()

    def set_project_deleted(self, project_id: str, deleted: bool = True) -> None:
        """Set a project's ``deleted`` flag (its files stay, as in CoCalc)."""
        with self.lock:
            project = self.projects.get(project_id)
            if project is None:
                raise UnknownProject(project_id)
            project.deleted = deleted
            self._save()

    def update_org(self, name: str, **values: str | None) -> None:
        """Change an organisation's fields (``None`` keeps one); nothing if there is none."""
        with self.lock:
            org = self.orgs.get(name)
            if org is None:
                return
            for key, value in values.items():
                if value is not None and key in _ORG_FIELDS:
                    setattr(org, key, value)
            self._save()

    def remove_org_admin(self, name: str, account_id: str) -> None:
        """Take an account off an organisation's admins (nothing if it is not one)."""
        with self.lock:
            org = self.orgs.get(name)
            if org is not None and account_id in org.admin_account_ids:
                org.admin_account_ids.remove(account_id)
                self._save()

    def set_account_org(self, account_id: str, org: str | None) -> None:
        """Put an account in an organisation (by name; ``None``: in none)."""
        with self.lock:
            self.accounts[account_id].org = org
            self._save()

    def add_message(
        self, from_id: str, to_ids: list[str], subject: str, body: str, thread_id: int | None
    ) -> int:
        """Store a sent message; returns its id (1, 2, ...)."""
        with self.lock:
            next_id = max((m.id for m in self.messages), default=0) + 1
            self.messages.append(
                Message(next_id, from_id, list(to_ids), subject, body, time.time(), thread_id)
            )
            self._save()
        return next_id

    def update_account(self, account_id: str, **values: str) -> None:
        """Change an account's fields (e.g. ``first_name``); saved to disk."""
        with self.lock:
            account = self.accounts[account_id]
            for name, value in values.items():
                setattr(account, name, value)
            self._save()

    def find_account(self, user: str) -> Account | None:
        """The account with this id or email address, or ``None``."""
        with self.lock:
            if user in self.accounts:
                return self.accounts[user]
            for account in self.accounts.values():
                if account.email_address is not None and account.email_address == user:
                    return account
        return None

    def is_site_admin(self, account_id: str) -> bool:
        """Only the key's owner can be a site admin (unless ``site_admin`` is false)."""
        return self.site_admin and account_id == self.account_id

    def is_collaborator(self, account_id: str, project_id: object) -> bool:
        """Whether the account may use the project (it exists and the account is on it; a
        project-scoped key acts as its project, which may use itself, as in CoCalc)."""
        if account_id == project_id and isinstance(project_id, str):
            return project_id in self.projects
        with self.lock:
            project = self.projects.get(project_id) if isinstance(project_id, str) else None
            return project is not None and (
                account_id == self.account_id or account_id in project.collaborators
            )

    # -- auth ----------------------------------------------------------------------------------
    def check_api_key(self, key: str | None) -> bool:
        """Whether ``key`` is the account key (the one of :attr:`account_id`)."""
        return key is not None and secrets.compare_digest(key, self.api_key)

    def key_scope(self, key: str | None) -> ApiKey | None:
        """Whom a key speaks for: the account key, a project-scoped key, or ``None``."""
        if self.check_api_key(key):
            return ApiKey(self.account_id)
        if not key:
            return None
        with self.lock:
            for known, scope in self._api_keys.items():
                if secrets.compare_digest(known.encode(), key.encode()):
                    return scope
        return None

    def create_account_key(self, account_id: str) -> str:
        """A new API key of an account (other than the key's owner's :attr:`api_key`)."""
        with self.lock:
            if account_id not in self.accounts:
                raise ValueError(f"no account with id '{account_id}'")
            key = "sk-" + secrets.token_urlsafe(16)[:22]
            self._api_keys[key] = ApiKey(account_id)
        return key

    def create_project_key(self, project_id: str) -> str:
        """A new API key that works for this one project only (on the project bridge)."""
        with self.lock:
            if project_id not in self.projects:
                raise UnknownProject(project_id)
            key = "sk-" + secrets.token_urlsafe(16)[:22]
            self._api_keys[key] = ApiKey(None, project_id)
        return key

    def issue_token(
        self,
        account_id: str | None = None,
        ttl: float = TOKEN_TTL,
        created_by: str | None = None,
    ) -> str:
        """A new 24-character auth token that signs in as ``account_id`` (default: the key's
        owner), valid ``ttl`` seconds (12 hours: what v1 ``user_auth`` returns)."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        token = "".join(secrets.choice(alphabet) for _ in range(24))
        with self.lock:
            self._tokens[token] = AuthToken(
                account_id or self.account_id, time.time() + ttl, created_by
            )
        return token

    def token_account(self, token: str | None) -> str | None:
        """The account a valid (known, unexpired, not revoked) token signs in as, or ``None``."""
        if not token:
            return None
        with self.lock:
            found = self._tokens.get(token)
        return found.account_id if found is not None and found.expires > time.time() else None

    def check_token(self, token: str | None) -> bool:
        return self.token_account(token) is not None

    def revoke_token(self, token: str) -> None:
        """Forget a token (sessions it already made stay, as in CoCalc)."""
        with self.lock:
            self._tokens.pop(token, None)

    def create_session(self, account_id: str | None = None) -> str:
        """A new opaque sign-in session id (the ``remember_me`` cookie value), valid 12 hours,
        signed in as ``account_id`` (default: the key's owner)."""
        sid = secrets.token_urlsafe(32)
        with self.lock:
            self._sessions[sid] = (time.time() + TOKEN_TTL, account_id or self.account_id)
        return sid

    def session_account(self, sid: str | None) -> str | None:
        """The account a valid session is signed in as, or ``None``."""
        if not sid:
            return None
        with self.lock:
            found = self._sessions.get(sid)
        return found[1] if found is not None and found[0] > time.time() else None

    def check_session(self, sid: str | None) -> bool:
        return self.session_account(sid) is not None

    # -- iframe allow-list ---------------------------------------------------------------------
    def origin_allowed(self, origin: str) -> bool:
        """CoCalc's ``block_origin`` rule, negated (plus the development http switch)."""
        return origin_allowed(origin, self.iframe_comm_hosts, self.dev_http_origins)


def _real_path_under(root: str, rel: str) -> str:
    """``os.path.realpath(root/rel)`` for a ``root`` that is its own real path, with one
    ``lstat`` per part of ``rel``; past a symlink or a ``..`` above ``root``, realpath does it."""
    path = root
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if path == root:
                return os.path.realpath(os.path.join(root, rel))
            path = os.path.dirname(path)
            continue
        path = os.path.join(path, part)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return os.path.realpath(os.path.join(root, rel))
        except OSError:
            pass  # as realpath does: a part that does not exist is taken as it is
    return path


def _split_words(value: Iterable[str] | str) -> list[str]:
    if isinstance(value, str):
        return [w for w in re.split(r"[\s,]+", value) if w]
    return [w for w in value if w]


def split_hosts(value: Iterable[str] | str) -> list[str]:
    """CoCalc's ``split_iframe_comm_hosts``: lowercase ``[a-z0-9.-]+`` tokens."""
    text = value if isinstance(value, str) else " ".join(value)
    return re.findall(r"[a-z0-9.-]+", text)


def origin_allowed(
    origin: str, hosts: Iterable[str], dev_http_origins: Collection[str] = ()
) -> bool:
    """True if CoCalc would answer a message from ``origin`` (see PROTOCOL.md §4)."""
    if not isinstance(origin, str):
        return False
    if origin.startswith("http://"):
        return origin in dev_http_origins
    for allowed in hosts:
        if allowed.startswith("."):
            if origin.endswith(allowed) or origin.endswith("https://" + allowed[1:]):
                return True
        elif origin.endswith("https://" + allowed):
            return True
    return False
