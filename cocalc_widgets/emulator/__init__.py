"""A local CoCalc stand-in over real folders (like moto for AWS).

It speaks CoCalc's HTTP API v1 and v2 and the conat bridges (``/api/conat/hub`` and
``/api/conat/project``, what CoCalc's own ``cocalc-api`` client uses; see PROTOCOL.md) on
loopback, copies files between project folders on disk with rsync's semantics, serves kiosk
pages, keeps accounts and organisations for auth tokens, and can inject faults::

    from cocalc_widgets.emulator import Emulator

    with Emulator(copy_delay=0.2) as emu:
        a, b = emu.create_project("A"), emu.create_project("B")
        requests.post(f"{emu.url}/api/v1/ping", auth=(emu.api_key, ""))

Over https (``tls=True``: a throwaway certificate for loopback, needs ``trustme``)::

    with Emulator(tls=True) as emu:
        requests.post(f"{emu.url}/api/v1/ping", auth=(emu.api_key, ""), verify=emu.ca_file)

Projects are folders named by their UUID under ``data_dir``. Command line:
``cocalc-widgets emulator --help``.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._faults import Faults
from ._ratelimit import check_rate_limit
from ._state import KIOSK_SETTINGS, EmulatorState, KioskSetting, check_kiosk_setting
from ._tls import TlsFiles, TlsSetting, resolve_tls, server_context
from ._versions import API_VERSIONS

DEMO_ORG = "demo"
DEMO_STUDENTS = 5
"""Student projects (and, at most, student accounts) :meth:`Emulator.seed_demo` makes."""


def student_titles(count: int) -> list[str]:
    """``["Student 1", ..., "Student <count>"]``: the demo's student project titles."""
    return [f"Student {i}" for i in range(1, count + 1)]


if TYPE_CHECKING:
    from ._api import ApiContext
    from ._app import ServerThread
    from ._copy import CopyManager

__all__ = [
    "API_VERSIONS",
    "KIOSK_SETTINGS",
    "Emulator",
    "EmulatorState",
    "Faults",
    "KioskSetting",
    "TlsFiles",
]

MiB = 1024 * 1024

_DEMO_FILES = {
    "handout/README.md": "# Homework 1\n\nSolve the exercises in `homework1.ipynb`.\n",
    "handout/data.csv": "x,y\n1,2\n2,4\n3,6\n",
}


def _demo_notebook() -> str:
    import json

    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Homework 1\n", "Fit a line."]},
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": ["import csv\n", "rows = list(csv.DictReader(open('data.csv')))\n", "rows"],
        },
    ]
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1)


class Emulator:
    """A CoCalc emulator serving from a background thread (``start``/``stop`` or ``with``).

    Args mirror the command line: ``copy_delay`` makes every copy take at least that many
    seconds; ``allow_exec`` enables ``project_exec`` (v1), ``exec`` (v2) and ``system.exec``
    (conat); ``faults`` is a :class:`Faults` (or a dict of its fields); ``api_versions`` lists
    the APIs served, any of ``v1``, ``v2``, ``conat`` (default all three; ``("v2", "conat")``
    acts like current cocalc.com, ``("v1",)`` like an old server); ``max_body`` bodies above it
    get HTTP 413. The API key belongs to ``account_id`` (password ``password``), a site admin
    unless ``site_admin=False``.
    Kiosk pages: ``require_sign_in`` (an auth token or the sign-in cookie is needed),
    ``samesite_remember_me`` (CoCalc's cookie setting; ``"none"`` for cross-site embedding),
    ``kiosk_startup_delay`` (seconds before a page answers IFrame messages),
    ``iframe_comm_hosts`` / ``dev_http_origins`` (who may talk to them), and ``kiosk``: what a
    kiosk page (``?fullscreen=kiosk``) does, ``"ok"`` (shows the file, answers), ``"broken"``
    (shows only "CoCalc:" and never answers, as cocalc.com in upstream issue #8527),
    ``"no-bridge"`` (shows the file, never answers) or ``"stuck"`` (ignores the URL's file but
    answers, and its ``open`` shows the file: CoCalc master 5cb3315c, built here). Plain file pages
    (``/projects/<id>/files/<path>`` without ``fullscreen=kiosk``) show the file whatever it is.
    https: ``tls=True`` makes a throwaway certificate for loopback (``127.0.0.1``, ``localhost``,
    ``::1``; needs ``trustme``), ``tls=(certfile, keyfile)`` serves given PEM files (``keyfile``
    may be ``None`` when the key is in ``certfile``), ``tls=TlsFiles(...)`` likewise; clients trust
    :attr:`ca_file`. Over https the sign-in cookie is ``Secure``, as CoCalc's is.
    ``single_user``: copies as single-user CoCalc makes them (see :attr:`single_user`).
    ``rate_limit``: at most that many API requests (``/api/v1``, ``/api/v2``, the conat bridges)
    in any one-second window, a sliding window over the whole server; a request above it gets
    HTTP 429 with ``Retry-After`` and does nothing (:attr:`rate_limit`, :attr:`rate_limited`).
    What CoCalc's own ``cocalc-api`` calls is served with CoCalc's texts: projects' life cycle
    and collaborators, organisations, messages, sync history and (with ``allow_exec``) real
    Jupyter kernels, one per project, ended by :meth:`stop`. :meth:`create_api_key` makes a key
    of another account, :meth:`create_project_key` a project-scoped one.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        account_id: str | None = None,
        password: str | None = None,
        site_admin: bool = True,
        iframe_comm_hosts: Iterable[str] | str = (),
        dev_http_origins: Iterable[str] | str = (),
        copy_delay: float = 0.0,
        allow_exec: bool = False,
        faults: Faults | dict | None = None,
        max_body: int = 16 * MiB,
        require_sign_in: bool = True,
        api_versions: Iterable[str] = API_VERSIONS,
        quiet: bool = True,
        samesite_remember_me: str = "lax",
        kiosk_startup_delay: float = 0.1,
        tls: TlsSetting = None,
        kiosk: KioskSetting = "ok",
        rate_limit: int | str | None = None,
        single_user: bool = False,
    ) -> None:
        check_kiosk_setting(kiosk)
        rate_limit = check_rate_limit(rate_limit)
        self._tls, self._tls_tmp = resolve_tls(tls)
        try:
            self._ssl_context = server_context(self._tls) if self._tls is not None else None
        except BaseException:
            self._remove_tls_tmp()
            raise
        self._tmp: str | None = None
        if data_dir is None:
            self._tmp = data_dir = tempfile.mkdtemp(prefix="cocalc-emulator-")
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self._port = port
        self.quiet = quiet
        self.state = EmulatorState(
            self.data_dir,
            api_key=api_key,
            account_id=account_id,
            password=password,
            site_admin=site_admin,
            iframe_comm_hosts=list(iframe_comm_hosts)
            if not isinstance(iframe_comm_hosts, str)
            else iframe_comm_hosts,
            dev_http_origins=list(dev_http_origins)
            if not isinstance(dev_http_origins, str)
            else dev_http_origins,
            require_sign_in=require_sign_in,
            samesite_remember_me=samesite_remember_me,
            kiosk_startup_delay=kiosk_startup_delay,
            kiosk=kiosk,
        )
        from ._api import ApiContext
        from ._copy import CopyManager

        self.copies: CopyManager = CopyManager(self.state, copy_delay=copy_delay)
        self.ctx: ApiContext = ApiContext(
            self.state,
            self.copies,
            faults=Faults.from_value(faults),
            allow_exec=allow_exec,
            api_versions=api_versions,
            max_body=max_body,
            rate_limit=rate_limit,
            single_user=single_user,
        )
        self._server: ServerThread | None = None
        self.demo_accounts: dict[str, str] = {}
        """``{name: account_id}`` of the accounts :meth:`seed_demo` made (in org ``demo``)."""

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Serve in a background thread (threaded server); returns ``self``."""
        if self._server is not None:
            return self
        from ._app import EmulatorApp, ServerThread

        self._server = ServerThread(
            EmulatorApp(self.ctx),
            self.host,
            self._port,
            quiet=self.quiet,
            ssl_context=self._ssl_context,
        )
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving, end background copies, and remove a temporary data folder and a
        throwaway certificate."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.copies.shutdown()
        self.ctx.jupyter.shutdown()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._remove_tls_tmp()

    def _remove_tls_tmp(self) -> None:
        if self._tls_tmp is not None:
            shutil.rmtree(self._tls_tmp, ignore_errors=True)
            self._tls_tmp = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (the command line uses this)."""
        self.start()
        assert self._server is not None
        self._server.thread.join()

    # -- addresses and credentials -------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._server.port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (``https://`` with ``tls``) of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def scheme(self) -> str:
        """``"https"`` when serving with ``tls``, else ``"http"``."""
        return "http" if self._tls is None else "https"

    @property
    def tls(self) -> TlsFiles | None:
        """The certificate, key and authority files served (``None`` over plain http)."""
        return self._tls

    @property
    def ca_file(self) -> Path | None:
        """The authority's certificate (PEM) for clients to trust: ``requests.get(...,
        verify=emu.ca_file)``, ``curl --cacert``, a browser's authorities. Set for ``tls=True``
        and for a ``TlsFiles`` that names it; ``None`` otherwise."""
        return None if self._tls is None else self._tls.ca_file

    @property
    def cert_file(self) -> Path | None:
        """The server certificate file (PEM) served over https, or ``None``."""
        return None if self._tls is None else self._tls.cert_file

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def account_id(self) -> str:
        return self.state.account_id

    @property
    def password(self) -> str:
        return self.state.password

    def client_env(self) -> dict[str, str]:
        """The environment variables a client of this emulator reads: ``COCALC_HOST``,
        ``COCALC_API_KEY``, ``COCALC_ACCOUNT_ID`` (the notebooks' sign-in), and over https with
        a throwaway authority ``REQUESTS_CA_BUNDLE`` (so ``requests`` trusts it)."""
        env = {
            "COCALC_HOST": self.url,
            "COCALC_API_KEY": self.api_key,
            "COCALC_ACCOUNT_ID": self.account_id,
        }
        if self.ca_file is not None:
            env["REQUESTS_CA_BUNDLE"] = str(self.ca_file)
        return env

    def export_line(self) -> str:
        """``export COCALC_HOST=... COCALC_API_KEY=... ...``: :meth:`client_env` for a shell."""
        return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in self.client_env().items())

    @property
    def site_admin(self) -> bool:
        """Whether the key's account is a site admin (it may get any user's auth token)."""
        return self.state.site_admin

    # -- runtime switches ----------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The fault switches; change them at any time (``emu.faults.drop_rate = 0.1``)."""
        return self.ctx.faults

    @faults.setter
    def faults(self, value: Faults | dict | None) -> None:
        self.ctx.faults = Faults.from_value(value)

    @property
    def rate_limit(self) -> int | None:
        """API requests allowed in any one-second window (sliding), or ``None`` (no limit);
        change it at any time (``emu.rate_limit = 200``; ``"200/s"`` works too)."""
        return self.ctx.rate_limiter.limit

    @rate_limit.setter
    def rate_limit(self, value: int | str | None) -> None:
        self.ctx.rate_limiter.limit = check_rate_limit(value)

    @property
    def rate_limited(self) -> int:
        """How many API requests the rate limit refused (HTTP 429); each is also in
        :attr:`requests` with ``fault`` ``"rate_limit"`` and ``status`` 429."""
        return self.ctx.rate_limiter.refused

    @property
    def copy_delay(self) -> float:
        return self.copies.copy_delay

    @copy_delay.setter
    def copy_delay(self, seconds: float) -> None:
        self.copies.copy_delay = seconds

    @property
    def single_user(self) -> bool:
        """Copies as single-user CoCalc (a server built from source, a self-hosted docker)
        makes them: API v2's ``copy-path`` answers after the copy, with ``copy_id`` ``""``, even
        when asked not to wait. ``False`` (the default): as cocalc.com (KuCalc), an id at once."""
        return self.ctx.single_user

    @single_user.setter
    def single_user(self, value: bool) -> None:
        self.ctx.single_user = bool(value)

    @property
    def allow_exec(self) -> bool:
        return self.ctx.allow_exec

    @allow_exec.setter
    def allow_exec(self, value: bool) -> None:
        self.ctx.allow_exec = bool(value)

    @property
    def kiosk(self) -> KioskSetting:
        """What kiosk pages do: ``"ok"``, ``"broken"``, ``"no-bridge"`` or ``"stuck"``; change it
        at any time (``emu.kiosk = "broken"``), the next page request follows it."""
        return self.state.kiosk

    @kiosk.setter
    def kiosk(self, value: KioskSetting) -> None:
        self.state.kiosk = value

    @property
    def api_versions(self) -> tuple[str, ...]:
        return self.ctx.api_versions

    @api_versions.setter
    def api_versions(self, value: Iterable[str]) -> None:
        self.ctx.api_versions = value

    # -- inspection ----------------------------------------------------------------------------
    @property
    def ledger(self) -> list[dict]:
        """Every copy actually performed (one entry per run, failed runs included with
        ``error`` set); scheduled copies deleted before their time never appear."""
        return self.copies.ledger

    @property
    def requests(self) -> list[dict]:
        """Every API request received: ``{time, method, path, api, endpoint, fault, status}``
        (``fault`` ``"rate_limit"`` and ``status`` 429 for one refused by :attr:`rate_limit`)."""
        return self.ctx.requests

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no copy is running (scheduled ones aside); ``False`` on timeout."""
        return self.copies.wait_idle(timeout)

    def request_count(self, endpoint: str | None = None, api: str | None = None) -> int:
        """How many API requests (optionally for one endpoint / API version) arrived."""
        return sum(
            1
            for r in self.ctx.requests
            if (endpoint is None or r["endpoint"] == endpoint) and (api is None or r["api"] == api)
        )

    # -- projects ------------------------------------------------------------------------------
    def create_project(
        self, title: str = "", project_id: str | None = None, description: str = ""
    ) -> str:
        """Create a project folder and return its id."""
        return self.state.create_project(
            title=title, description=description, project_id=project_id
        )

    def create_projects(self, titles: Iterable[str]) -> list[str]:
        """Create one project per title (always new, even for a title in use) and return their
        ids in order, with one write of the metadata file: 5,000 take well under a second,
        where as many :meth:`create_project` calls rewrite the file each time."""
        return self.state.create_projects(titles)

    def ensure_projects(self, titles: Iterable[str]) -> dict[str, str]:
        """``{title: project_id}``: a project with each title, the missing ones created in one
        batch (:meth:`create_projects`)."""
        wanted = list(dict.fromkeys(titles))
        with self.state.lock:
            by_title = {p.title: p.project_id for p in self.state.projects.values()}
            missing = [title for title in wanted if title not in by_title]
            by_title.update(zip(missing, self.state.create_projects(missing), strict=True))
        return {title: by_title[title] for title in wanted}

    def create_api_key(self, account_id: str) -> str:
        """A new API key of another account (``create_account``'s id), to call the API as that
        account: a collaborator, an organisation's admin, a stranger. Raises ``ValueError`` for
        an unknown account."""
        return self.state.create_account_key(account_id)

    def create_project_key(self, project: str) -> str:
        """A new API key for one project (its id or title), as CoCalc's project-scoped keys:
        it works on ``/api/conat/project`` for that project only (``project_id`` may be left
        out there); the hub bridge, API v1 and v2 refuse it. Raises ``ValueError`` for an
        unknown project."""
        with self.state.lock:
            if project in self.state.projects:
                project_id = project
            else:
                found = [p.project_id for p in self.state.projects.values() if p.title == project]
                if len(found) != 1:
                    raise ValueError(
                        f"no project with id or title {project!r}"
                        if not found
                        else f"{len(found)} projects have the title {project!r}: give its id"
                    )
                project_id = found[0]
        return self.state.create_project_key(project_id)

    def project_path(self, project_id: str) -> Path:
        """The folder of a project."""
        return self.state.project_dir(project_id)

    # -- accounts and organisations ------------------------------------------------------------
    def create_account(
        self,
        first_name: str,
        last_name: str = "",
        email_address: str | None = None,
        password: str | None = None,
        org: str | None = None,
    ) -> str:
        """Create an account (``password=None``: it cannot sign in with a password; ``org``: an
        existing organisation's name) and return its id."""
        return self.state.create_account(first_name, last_name, email_address, password, org)

    def create_org(self, name: str, admins: Iterable[str] = ()) -> str:
        """Create an organisation whose admins (account ids) may get auth tokens for its
        members with ``org.createToken``; returns its name."""
        return self.state.create_org(name, admins)

    def seed_demo(self, students: int = DEMO_STUDENTS) -> dict[str, str]:
        """Create "Instructor" (with a ``handout`` folder) and "Student 1".."Student N"
        (``students``, default 5; each with a ``welcome.md``) unless projects with those titles
        exist; returns ``{title: project_id}``. The missing projects are made in one batch
        (:meth:`ensure_projects`), so ``students=5000`` takes a second or so.

        Also creates the accounts "Student 1".."Student 5" (at most five, whatever
        ``students``; ``student<i>@example.com``, no password, each a collaborator of its
        project) in the organisation ``demo``, which the key's account administers; they are in
        :attr:`demo_accounts`.
        """
        if isinstance(students, bool) or not isinstance(students, int) or students < 0:
            raise ValueError(f"students={students!r}: give a whole number, at least 0")
        out = self.ensure_projects(["Instructor", *student_titles(students)])
        root = self.project_path(out["Instructor"])
        files: dict[str, Any] = {**_DEMO_FILES, "handout/homework1.ipynb": _demo_notebook()}
        for rel, text in files.items():
            path = root / rel
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        for i in range(1, students + 1):
            note = self.project_path(out[f"Student {i}"]) / "welcome.md"
            if not note.exists():
                note.write_text(f"# Welcome, student {i}\n")
        self._seed_demo_accounts(out, min(students, DEMO_STUDENTS))
        return out

    def _seed_demo_accounts(self, projects: dict[str, str], count: int) -> None:
        if DEMO_ORG in self.state.orgs:
            self.state.add_org_admin(DEMO_ORG, self.account_id)
        else:
            self.create_org(DEMO_ORG, admins=[self.account_id])
        for i in range(1, count + 1):
            name, email = f"Student {i}", f"student{i}@example.com"
            found = self.state.find_account(email)
            account_id = (
                found.account_id
                if found is not None
                else self.create_account("Student", str(i), email, org=DEMO_ORG)
            )
            self.state.add_collaborator(projects[name], account_id)
            self.demo_accounts[name] = account_id

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<Emulator {where} data_dir={str(self.data_dir)!r}>"
