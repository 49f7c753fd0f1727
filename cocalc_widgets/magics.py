"""IPython magics: ``%cocalc_copy``, ``%cocalc_copy_status`` and ``%cocalc_embed``.

Load them with ``%load_ext cocalc_widgets``. Settings come from the same places as
:class:`CoCalcClient` (``COCALC_HOST``, ``COCALC_API_KEY``, ``api.key``) and can be changed with
``%config CoCalcMagics.host = "https://..."`` (see ``%config CoCalcMagics``).
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Enum, Float, Int, Unicode, observe

from . import _validate as check
from .client import CoCalcClient
from .copyjob import CopyStatus
from .errors import AuthenticationError, BadInput, CoCalcError
from .handout import CopyResults, copy_to_many, wait_all
from .handout.tables import CopyStatusTable, HandoutTable, journal_status
from .handout.tables import titles as project_titles

__all__ = ["CoCalcMagics", "CopyStatusTable", "MagicError"]

_MASK = "***"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LIST_LITERAL = re.compile(r"[\[(][^\[\]()]*[\])]")


class MagicError(CoCalcError):
    """An error in a magic, shown as one line (no traceback)."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


def _one_line(err: CoCalcError, magic: str | None = None) -> MagicError:
    """``err`` as one line, named after the magic the user ran (``%cocalc_copy: query via v2
    user-query``) rather than only the client call it made on the way."""
    if isinstance(err, MagicError):
        return err
    if magic:
        err.endpoint = f"%{magic}: {err.endpoint}" if err.endpoint else f"%{magic}"
    return MagicError(f"{type(err).__name__}: {err}")


def _expand_lists(line: str) -> str:
    """Turn Python list or tuple reprs (what ``$targets`` or ``{targets}`` expand to) into
    shell-quoted words, so ``['a', 'b']`` reads as two arguments."""

    def replace(match: re.Match[str]) -> str:
        try:
            value = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError):
            return match.group(0)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return match.group(0)
        return " ".join(_quote(v) for v in value)

    return _LIST_LITERAL.sub(replace, line)


def _parse(magic: Any, line: str) -> Any:
    """Parse a magic's line with shell quoting (so ``"Student 1":work`` is one argument);
    ``None`` after printing the magic's help for ``-h`` or ``--help``."""
    try:
        words = shlex.split(line)
    except ValueError as err:
        raise UsageError(f"cannot read the arguments: {err}") from None
    if "-h" in words or "--help" in words:
        print(magic.parser.format_help().removeprefix("::\n\n"))  # IPython's reST marker
        return None
    return magic.parser.parse_args(words)


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\"'\"'") + "'"


def _split_ref(ref: str) -> tuple[str, str | None]:
    """``PROJECT[:PATH]``: a UUID or a title, then an optional path after the first colon."""
    ref = ref.strip()
    match = _UUID.match(ref)
    if match:
        rest = ref[match.end() :]
        if rest and not rest.startswith(":"):
            raise UsageError(f"cannot read {ref!r}: expected PROJECT[:PATH]")
        return match.group(0).lower(), rest[1:] or None
    project, _, path = ref.partition(":")
    if not project.strip():
        raise UsageError(f"cannot read {ref!r}: expected PROJECT[:PATH]")
    return project.strip(), path or None


def _projects(n: int) -> str:
    return f"{n} project{'s' if n != 1 else ''}"


def _no_title(name: str, names: list[str], titles: list[str]) -> str:
    """Why no project has the title ``name`` (a word of ``names``, the line's projects in
    order): a title split at its spaces (``Student 1`` unquoted) says to quote it."""
    at = names.index(name)
    for size in (2, 3, 4):
        for start in range(max(0, at - size + 1), at + 1):
            words = names[start : start + size]
            joined = " ".join(words)
            if len(words) == size and joined in titles:
                return (
                    f"no project titled {name!r}: the title {joined!r} has spaces, so the line "
                    f'read it as {len(words)} projects; quote it: "{joined}" (or '
                    f"'{joined}'), and each title with spaces"
                )
    close = difflib.get_close_matches(name, titles, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"no project titled {name!r}{hint}"


@magics_class
class CoCalcMagics(Magics):
    """The ``%cocalc_*`` magics. Configure with ``%config CoCalcMagics.<name> = value``."""

    host = Unicode(
        None, allow_none=True, help="CoCalc server URL (default: $COCALC_HOST or cocalc.com)"
    ).tag(config=True)
    api_key = Unicode(
        None, allow_none=True, help="API key (default: $COCALC_API_KEY or ./api.key); never shown"
    ).tag(config=True)
    api = Enum(
        ["auto", "v1", "v2", "conat"],
        "auto",
        help="CoCalc API generation (auto: the best one the server has, per call)",
    ).tag(config=True)
    timeout = Float(30.0, help="Seconds to wait for each HTTP reply").tag(config=True)
    wait_timeout = Float(
        0.0,
        help="Seconds %cocalc_copy waits for copies to finish (0: no limit; on a conat-only "
        "server, 0 means the client's copy_wait, 10 minutes)",
    ).tag(config=True)
    max_in_flight = Int(64, help="Most HTTP requests sent at once by %cocalc_copy").tag(config=True)
    progress = Bool(True, help="Show a progress bar while waiting").tag(config=True)
    account_id = Unicode(
        None,
        allow_none=True,
        help="Account that %cocalc_embed signs in as (default: $COCALC_ACCOUNT_ID)",
    ).tag(config=True)

    _client: CoCalcClient | None = None
    _secret_key: str | None = None  # the api_key setting; the trait itself only shows "***"
    _magic: str | None = None  # the magic running now: its errors are named after it

    @observe("api_key")
    def _hide_key(self, change: Any) -> None:
        """Keep the key out of ``%config CoCalcMagics`` (and so out of saved outputs)."""
        if change.new is None:
            self._secret_key = None
        elif change.new != _MASK:
            self._secret_key = change.new
            self.api_key = _MASK

    def __repr__(self) -> str:
        return f"<CoCalcMagics host={self.host!r} api={self.api!r}>"

    @observe("host", "api_key", "api", "timeout", "max_in_flight", "wait_timeout")
    def _settings_changed(self, change: Any) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    @property
    def client(self) -> CoCalcClient:
        """The client the magics use (made from the settings on first use)."""
        if self._client is None:
            try:
                self._client = CoCalcClient(
                    api_key=self._secret_key,
                    host=self.host,
                    api=self.api,  # type: ignore[arg-type]  # an Enum of the same names
                    timeout=(min(5.0, self.timeout), self.timeout),
                    pool_size=max(10, self.max_in_flight),
                )
                if self.wait_timeout > 0:  # a blocking (conat) copy may take that long
                    self._client.copy_wait = self.wait_timeout
            except AuthenticationError as err:
                no_key = self._secret_key is None and not os.environ.get("COCALC_API_KEY")
                if no_key and not os.path.isfile("api.key"):  # say the magics' own ways
                    raise MagicError(
                        "AuthenticationError: No CoCalc API key. Give the magics one with "
                        '%config CoCalcMagics.api_key = "sk-..." (never shown), or set the '
                        'environment variable COCALC_API_KEY (os.environ["COCALC_API_KEY"] = '
                        f'"sk-..." in a cell), or put it in a file api.key in {os.getcwd()}'
                    ) from None
                raise _one_line(err, self._magic) from None
            except CoCalcError as err:
                raise _one_line(err, self._magic) from None
        return self._client

    # -- helpers ----------------------------------------------------------------------------
    def _projects(self) -> list[dict[str, Any]]:
        """The project listing (ids and titles), or a one-line error."""
        try:
            return self.client.projects()
        except CoCalcError as err:
            raise _one_line(err, self._magic) from None

    def _resolve(
        self, names: list[str], projects: list[dict[str, Any]] | None = None
    ) -> dict[str, str]:
        """Map project references (ids or titles) to ids; titles are looked up once (in
        ``projects`` if given, else in a fresh listing)."""
        wanted = {n for n in names if not _UUID.fullmatch(n)}
        ids = {n: n.lower() for n in names if _UUID.fullmatch(n)}
        if not wanted:
            return ids
        if projects is None:
            projects = self._projects()
        by_title: dict[str, list[dict[str, Any]]] = {}
        for p in projects:
            by_title.setdefault(str(p.get("title", "")).strip(), []).append(p)
        for name in [n for n in dict.fromkeys(names) if n in wanted]:  # in the line's order
            found = by_title.get(name) or by_title.get(name.strip())
            if not found:
                raise UsageError(_no_title(name, names, list(by_title)))
            if len(found) > 1:
                options = ", ".join(f"{p['project_id']}" for p in found)
                raise UsageError(
                    f"the title {name!r} is ambiguous: {len(found)} projects have it "
                    f"({options}); use the project id"
                )
            ids[name] = found[0]["project_id"]
        return ids

    # -- %cocalc_copy -----------------------------------------------------------------------
    @magic_arguments()
    @argument("source", help="SRC_PROJECT:SRC_PATH (project id or title)")
    @argument(
        "targets",
        nargs="+",
        help="TARGET_PROJECT[:TARGET_PATH], one or more (or a Python list: $targets)",
    )
    @argument("--no-wait", action="store_true", help="return at once, without waiting")
    @argument("--overwrite-newer", action="store_true", help="replace newer target files")
    @argument("--delete-missing", action="store_true", help="delete target files not in source")
    @argument("--backup", action="store_true", help="keep replaced files (with a ~ suffix)")
    @argument("--exclude", action="append", metavar="PATTERN", help="rsync pattern to skip")
    @argument("--timeout", type=float, metavar="S", help="rsync's inactivity limit in seconds")
    @argument("--scheduled", metavar="WHEN", help="run later: an ISO time (API v1)")
    @argument(
        "--journal",
        metavar="PATH",
        help="the journal of hand-outs (default: .cocalc-widgets/journal.sqlite here)",
    )
    @argument("--no-journal", action="store_true", help="keep no journal of this hand-out")
    @argument("--fresh", action="store_true", help="start this hand-out over (send every copy)")
    @argument(
        "--resend-unknown",
        action="store_true",
        help="send again the copies whose earlier send may or may not have reached CoCalc",
    )
    @line_magic
    def cocalc_copy(self, line: str) -> Any:
        """Copy a file or folder from one CoCalc project to one or many others.

        Examples::

            %cocalc_copy Instructor:handout/ "Student 1" "Student 2":work/handout
            jobs = %cocalc_copy 7c1b...:a.txt $targets --no-wait

        Waits for the copies (with a progress bar) unless ``--no-wait``; returns the
        :class:`CopyJob` (one target) or a :class:`CopyResults` list (many), and shows a
        summary of what succeeded and what failed, with CoCalc's reason.

        Every hand-out, to one target or many, is journaled. Running the same line again
        after it finished copies again (a new hand-out: the file may have changed); while it is
        unfinished (its kernel died, or ``--no-wait``) it resumes: copies done are ``done
        before`` and not sent again, failed ones are retried; ``--fresh`` starts over.
        """
        self._magic = "cocalc_copy"
        args = _parse(self.cocalc_copy, _expand_lists(line))
        if args is None:  # -h: the help was shown
            return None
        src_ref, src_path = _split_ref(args.source)
        if not src_path:
            raise UsageError("the source needs a path: SRC_PROJECT:SRC_PATH")
        refs = [_split_ref(t) for t in args.targets]
        options: dict[str, Any] = {
            "overwrite_newer": args.overwrite_newer,
            "delete_missing": args.delete_missing,
            "backup": args.backup,
            "timeout": args.timeout,
            "exclude": args.exclude,
            "scheduled": args.scheduled,
        }
        try:
            check.path(src_path, "SRC_PATH")
            for _, path in refs:
                if path is not None:
                    check.path(path, "TARGET_PATH")
            check.seconds(args.timeout, "--timeout")
            check.timestamp(args.scheduled, "--scheduled")
        except BadInput as err:
            raise UsageError(str(err)) from None
        ids = self._resolve([src_ref] + [p for p, _ in refs])
        src_id = ids[src_ref]
        labels = [f"{p}:{path or src_path}" for p, path in refs]
        try:
            results = copy_to_many(
                self.client,
                src_id,
                src_path,
                [(ids[p], path) for p, path in refs],
                max_in_flight=self.max_in_flight,
                labels=labels,
                journal=False if args.no_journal else args.journal,
                fresh=args.fresh,
                resend_unknown=args.resend_unknown,
                progress=None if self.progress else False,
                **options,
            )
        except BadInput as err:
            raise UsageError(str(err)) from None
        except CoCalcError as err:  # the journal is locked or damaged: nothing was sent
            raise _one_line(err, self._magic) from None
        if len(refs) == 1 and results[0].error is not None:
            raise _one_line(results[0].error, self._magic)
        if len(refs) == 1 and results.notice:
            print(results.notice)  # many targets: the summary table says it
        if not args.no_wait and not args.scheduled:
            wait_all(
                self.client,
                results,
                timeout=self.wait_timeout or None,
                progress=None if self.progress else False,
                max_in_flight=self.max_in_flight,
                label=f"copying {src_path} to {_projects(len(results))}",
            )
        else:
            results.end_progress()  # sent; not waited for (amber)
        if len(refs) > 1:
            self._show(results)
            return results
        one = results[0]
        if one.state == "failed":  # its error (wait_all typed it) is a CopyFailed
            raise MagicError(f"CopyFailed: the copy to {labels[0]} failed: {one.reason}")
        if one.error is not None:  # the wait ran out, or the outcome is unknown
            raise _one_line(one.error, self._magic)
        waited = not args.no_wait and not args.scheduled
        if waited and not one.finished:
            copy_id = one.job.copy_path_id if one.job is not None else None
            look = f": %cocalc_copy_status {copy_id}" if copy_id else ""
            raise MagicError(
                f"CoCalcTimeout: the copy to {labels[0]} did not finish within "
                f"{self.wait_timeout:g} s (%config CoCalcMagics.wait_timeout); it goes on{look}"
            )
        return one.job

    def _show(self, results: CopyResults) -> None:
        if self.shell is not None and len(results) > 1:
            from IPython.display import display

            display(_Summary(results))

    # -- %cocalc_copy_status ----------------------------------------------------------------
    @magic_arguments()
    @argument("copy_path_id", nargs="?", help="the id of one copy")
    @argument("--src", metavar="PROJECT", help="search copies from this project (id or title)")
    @argument("--target", metavar="PROJECT", help="search copies to this project (id or title)")
    @argument("--path", metavar="SRC_PATH", help="only copies of this source path")
    @argument("--pending", action="store_true", help="only unfinished copies")
    @argument("--finished", action="store_true", help="only finished copies")
    @argument("--failed", action="store_true", help="only failed copies")
    @argument("--limit", type=int, default=None, help="at most this many (1000 max)")
    @argument(
        "--journal",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="alone: list the hand-outs of the journal (default file if no PATH) and their "
        "counts; with --src/--target: search the copies of that journal's hand-outs",
    )
    @line_magic
    def cocalc_copy_status(self, line: str) -> Any:
        """Show the status of one copy, or search copies by project (API v1's search; where
        the server has none, API v2 and conat, the copies of this machine's hand-outs, from its
        journal).

        Examples::

            %cocalc_copy_status 65cd2079-098d-4147-bb54-12d44cebb8cb
            %cocalc_copy_status --failed --src Instructor

        One copy: its :class:`CopyStatus`. A search (unfinished and finished copies, two
        searches of CoCalc's; ``--pending``: unfinished ones; ``--finished``: finished ones;
        ``--failed``: failed ones): a
        :class:`CopyStatusTable`, the list of :class:`CopyStatus` shown as a table (failures
        first, project titles where known, state, start and finish times, CoCalc's error text;
        HTML in a notebook, text elsewhere). ``--journal [PATH]`` alone: the journal's
        hand-outs; with ``--src``/``--target``: the copies of that journal's hand-outs, on any
        server (a hand-out made with ``%cocalc_copy --journal PATH``).
        """
        self._magic = "cocalc_copy_status"
        args = _parse(self.cocalc_copy_status, line)
        if args is None:  # -h: the help was shown
            return None
        if args.journal is not None and not (args.src or args.target):
            if args.copy_path_id:
                raise UsageError(
                    "--journal searches by --src/--target; a COPY_PATH_ID is asked of the server"
                )
            return self._journal_table(args.journal or None)
        if args.copy_path_id and (args.src or args.target):
            raise UsageError("give a COPY_PATH_ID or --src/--target, not both")
        if not args.copy_path_id and not (args.src or args.target):
            raise UsageError("give a COPY_PATH_ID, or --src and/or --target to search")
        refs = [r for r in (args.src, args.target) if r]
        listing = None
        try:
            if args.copy_path_id:
                return self.client.copy_path_status(
                    check.project_id(args.copy_path_id, "COPY_PATH_ID")
                )
            if any(not _UUID.fullmatch(r) for r in refs):
                listing = self._projects()  # once: for the titles given and those shown
            ids = self._resolve(refs, listing)
            # CoCalc's search finds unfinished copies (pending) or finished ones, not both.
            # (pending, failed) for each search
            searches: list[tuple[bool, bool | None]]
            if args.failed:
                kind, searches = "Failed copies", [(False, True)]
            elif args.pending and not args.finished:
                kind, searches = "Unfinished copies", [(True, None)]
            elif args.finished and not args.pending:
                kind, searches = "Finished copies", [(False, None)]
            else:
                kind, searches = "Copies", [(True, None), (False, None)]
            statuses: list[Any] = []
            source = None
            if args.journal is not None or "v1" not in self.client.api_versions:
                # asked for, or no copy search on the server: this machine's journal
                source, statuses = self._journal_copies(args, ids, searches)
                searches = []
            for pending, failed in searches:
                found = self.client.copy_path_status(
                    src_project_id=ids.get(args.src) if args.src else None,
                    target_project_id=ids.get(args.target) if args.target else None,
                    src_path=args.path,
                    pending=pending,
                    failed=failed,
                    limit=args.limit,
                )
                statuses += found if isinstance(found, list) else [found]
        except BadInput as err:
            raise UsageError(str(err)) from None
        except MagicError:
            raise
        except CoCalcError as err:
            raise _one_line(err, self._magic) from None
        if listing is None:
            try:
                listing = self.client.projects()
            except CoCalcError:
                listing = []  # no titles: the table shows project ids
        titles = project_titles(listing or [])
        what = []
        if args.src:
            what.append(f"from {titles.get(ids[args.src], ids[args.src])}")
        if args.target:
            what.append(f"to {titles.get(ids[args.target], ids[args.target])}")
        if args.path:
            what.append(f"of {args.path}")
        if source is not None and args.journal is not None:
            what.append(f"in the journal {source}")
        elif source is not None:
            what.append(
                f"in this machine's journal ({source}; this server has no search of copies, "
                "API v1's)"
            )
        return CopyStatusTable(statuses, titles, " ".join([kind, *what]))

    def _journal_copies(
        self, args: Any, ids: dict[str, str], searches: list[tuple[bool, bool | None]]
    ) -> tuple[str, list[CopyStatus]]:
        """The copies of this machine's hand-outs that a search would find (where the server
        has no search: API v2, conat), and the journal's file."""
        from .handout.journal import Journal, default_path

        path = args.journal or default_path()
        if args.journal and not os.path.exists(path):
            raise UsageError(f"no journal at {path}: no hand-out was journaled there yet")
        found = []
        if os.path.exists(path):
            with Journal(path) as journal:
                found = journal.copies(
                    self.client.host,
                    src_project_id=ids.get(args.src) if args.src else None,
                    target_project_id=ids.get(args.target) if args.target else None,
                    src_path=args.path,
                )
        statuses = [journal_status(c.src_project_id, c.src_path, c.row) for c in found]
        wanted = [
            s
            for s in statuses
            if any(
                (not s.done) == pending and (failed is None or bool(s.error) == failed)
                for pending, failed in searches
            )
        ]
        return str(path), wanted[: args.limit] if args.limit else wanted

    def _journal_table(self, path: str | None) -> Any:
        from .handout.journal import Journal, default_path

        target = path or default_path()
        if not os.path.exists(target):
            raise UsageError(f"no journal at {target}: no hand-out was journaled there yet")
        try:
            with Journal(target) as journal:
                handouts = journal.handouts()
        except CoCalcError as err:
            raise _one_line(err, self._magic) from None
        return HandoutTable(str(target), handouts)

    # -- %cocalc_embed ----------------------------------------------------------------------
    @magic_arguments()
    @argument("target", help="PROJECT[:PATH] to show (project id or title)")
    @argument("--height", default=None, help="height of the frame, e.g. 500 or '60vh'")
    @argument("--no-sign-in", action="store_true", help="do not sign in with a fresh auth token")
    @line_magic
    def cocalc_embed(self, line: str) -> Any:
        """Show a CoCalc file (or project) in the notebook, in kiosk mode; returns the
        :class:`CoCalcFrame` so that cells can drive it (``open_file``, ``status``, ...)."""
        self._magic = "cocalc_embed"
        args = _parse(self.cocalc_embed, line)
        if args is None:  # -h: the help was shown
            return None
        ref, path = _split_ref(args.target)
        pid = self._resolve([ref])[ref]
        from .frame import CoCalcFrame

        kwargs: dict[str, Any] = {"host": self.client.host}
        account = self.account_id or os.environ.get("COCALC_ACCOUNT_ID")
        if account and not args.no_sign_in:
            kwargs.update(client=self.client, account_id=account)
        if args.height:
            kwargs["height"] = int(args.height) if str(args.height).isdigit() else args.height
        try:
            return CoCalcFrame(pid, path, **kwargs)
        except BadInput as err:
            raise UsageError(str(err)) from None
        except CoCalcError as err:
            raise _one_line(err, self._magic) from None


class _Summary:
    """The summary table of a fan-out copy, displayed once."""

    def __init__(self, results: CopyResults) -> None:
        self.results = results

    def __repr__(self) -> str:
        return self.results.table()

    def _repr_html_(self) -> str:
        return self.results.table_html()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext cocalc_widgets``: register the magics and their ``%config`` settings."""
    magics = CoCalcMagics(shell=ipython, parent=ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext cocalc_widgets``: remove the magics."""
    registry = ipython.magics_manager.registry
    magics = registry.pop("CoCalcMagics", None)
    for kind in ("line", "cell"):
        table = ipython.magics_manager.magics[kind]
        for name in [n for n in table if n.startswith("cocalc_")]:
            del table[name]
    if magics is not None and magics in ipython.configurables:
        ipython.configurables.remove(magics)
        if magics._client is not None:
            magics._client.close()
