"""The emulator's shared state: projects on disk, the API key, auth tokens and site settings.

Both halves of the emulator use it: the HTTP API (``_api.py``) and the kiosk pages
(``_kiosk.py``). It never imports cocalc_widgets' client.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TOKEN_TTL = 12 * 3600.0
_META = ".cocalc-emulator.json"


class PathError(ValueError):
    """A path that is not allowed (leaves the project folder, absolute, NUL, ...)."""


class UnknownProject(KeyError):
    """No project with that id."""

    def __str__(self) -> str:
        return f"no project with id '{self.args[0]}'"


@dataclass
class Project:
    project_id: str
    title: str = ""
    description: str = ""
    created: float = field(default_factory=time.time)


class EmulatorState:
    """Projects (one folder per project UUID under ``data_dir``), credentials and settings.

    Thread-safe: the HTTP server runs each request in its own thread.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        api_key: str | None = None,
        account_id: str | None = None,
        password: str | None = None,
        iframe_comm_hosts: list[str] | str = (),
        dev_http_origins: list[str] | str = (),
        require_sign_in: bool = True,
        samesite_remember_me: str = "lax",
        kiosk_startup_delay: float = 0.1,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.api_key = api_key or "sk-" + secrets.token_urlsafe(16)[:22]
        self.account_id = account_id or str(uuid.uuid4())
        self.password = password or secrets.token_urlsafe(12)
        self.iframe_comm_hosts = split_hosts(iframe_comm_hosts)
        self.dev_http_origins = _split_words(dev_http_origins)
        self.require_sign_in = require_sign_in
        self.lock = threading.RLock()
        self._tokens: dict[str, float] = {}
        # Kiosk pages (``_kiosk.py``): sign-in required for pages; the remember_me cookie's
        # SameSite ("strict" | "lax" | "none", like CoCalc's site setting of that name; "none"
        # also marks it Secure); seconds the page waits after loading before it listens.
        self.require_sign_in = require_sign_in
        self.samesite_remember_me = samesite_remember_me
        self.kiosk_startup_delay = kiosk_startup_delay
        self._sessions: dict[str, float] = {}
        self.projects: dict[str, Project] = {}
        self._load()

    # -- projects ----------------------------------------------------------------------------
    def _meta_path(self) -> Path:
        return self.data_dir / _META

    def _load(self) -> None:
        meta: dict[str, dict] = {}
        if self._meta_path().is_file():
            try:
                meta = json.loads(self._meta_path().read_text()).get("projects", {})
            except (OSError, ValueError):
                meta = {}
        for child in sorted(self.data_dir.iterdir()):
            if child.is_dir() and not child.is_symlink() and UUID_RE.match(child.name):
                info = meta.get(child.name, {})
                self.projects[child.name] = Project(
                    child.name,
                    title=info.get("title", ""),
                    description=info.get("description", ""),
                    created=info.get("created", child.stat().st_mtime),
                )

    def _save(self) -> None:
        data = {
            "projects": {
                p.project_id: {"title": p.title, "description": p.description, "created": p.created}
                for p in self.projects.values()
            }
        }
        tmp = self._meta_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self._meta_path())

    def create_project(
        self, title: str = "", description: str = "", project_id: str | None = None
    ) -> str:
        """Create a project folder and return its id."""
        pid = project_id or str(uuid.uuid4())
        if not UUID_RE.match(pid):
            raise ValueError(f"invalid project_id '{pid}'")
        with self.lock:
            (self.data_dir / pid).mkdir(exist_ok=True)
            self.projects.setdefault(pid, Project(pid))
            self.projects[pid].title = title or self.projects[pid].title
            self.projects[pid].description = description or self.projects[pid].description
            self._save()
        return pid

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
        target = (root / path).resolve()
        real_root = root.resolve()
        if target != real_root and real_root not in target.parents:
            raise PathError(f"path leaves the project: '{path}'")
        return target

    # -- auth ----------------------------------------------------------------------------------
    def check_api_key(self, key: str | None) -> bool:
        return key is not None and secrets.compare_digest(key, self.api_key)

    def issue_token(self) -> str:
        """A new 24-character auth token, valid 12 hours (what ``user_auth`` returns)."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        token = "".join(secrets.choice(alphabet) for _ in range(24))
        with self.lock:
            self._tokens[token] = time.time() + TOKEN_TTL
        return token

    def check_token(self, token: str | None) -> bool:
        if not token:
            return False
        with self.lock:
            expires = self._tokens.get(token)
        return expires is not None and expires > time.time()

    def create_session(self) -> str:
        """A new opaque sign-in session id (the ``remember_me`` cookie value), valid 12 hours."""
        sid = secrets.token_urlsafe(32)
        with self.lock:
            self._sessions[sid] = time.time() + TOKEN_TTL
        return sid

    def check_session(self, sid: str | None) -> bool:
        if not sid:
            return False
        with self.lock:
            expires = self._sessions.get(sid)
        return expires is not None and expires > time.time()

    # -- iframe allow-list ---------------------------------------------------------------------
    def origin_allowed(self, origin: str) -> bool:
        """CoCalc's ``block_origin`` rule, negated (plus the development http switch)."""
        return origin_allowed(origin, self.iframe_comm_hosts, self.dev_http_origins)


def _split_words(value: list[str] | str) -> list[str]:
    if isinstance(value, str):
        return [w for w in re.split(r"[\s,]+", value) if w]
    return [w for w in value if w]


def split_hosts(value: list[str] | str) -> list[str]:
    """CoCalc's ``split_iframe_comm_hosts``: lowercase ``[a-z0-9.-]+`` tokens."""
    text = value if isinstance(value, str) else " ".join(value)
    return re.findall(r"[a-z0-9.-]+", text)


def origin_allowed(origin: str, hosts: list[str], dev_http_origins: list[str] = ()) -> bool:
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
