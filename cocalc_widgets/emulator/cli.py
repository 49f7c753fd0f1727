"""The emulator's command line: ``cocalc-widgets emulator`` and ``python -m
cocalc_widgets.emulator`` (the same flags): :func:`add_emulator_arguments` makes the flags,
:func:`run_emulator` starts it from them, says how to reach it, and serves until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Emulator, Faults
    from ._tls import TlsSetting

__all__ = ["add_emulator_arguments", "run_emulator"]


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``cocalc-widgets emulator`` (also ``python -m cocalc_widgets.emulator``)."""
    from ._state import KIOSK_SETTINGS

    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="folder with one sub-folder per project UUID (default: a temp dir)",
    )
    parser.add_argument("--api-key", default=None, help="API key to accept (default: generated)")
    parser.add_argument("--account-id", default=None, help="account id (default: generated)")
    parser.add_argument("--password", default=None, help="account password (default: generated)")
    parser.add_argument(
        "--no-site-admin",
        action="store_true",
        help="the key's account is not a site admin (it needs a user's password for a token)",
    )
    parser.add_argument(
        "--iframe-comm-hosts",
        default="",
        metavar="LIST",
        help="CoCalc's iframe_comm_hosts site setting (https origins allowed)",
    )
    parser.add_argument(
        "--dev-http-origins",
        default="",
        metavar="LIST",
        help="development only: http:// origins the kiosk pages also answer",
    )
    parser.add_argument(
        "--copy-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="every copy takes at least S seconds",
    )
    parser.add_argument(
        "--single-user",
        action="store_true",
        help="copies as single-user CoCalc makes them (a server built from source): API v2's "
        'copy-path answers after the copy with copy_id ""; default: as cocalc.com, an id at once',
    )
    parser.add_argument(
        "--allow-exec",
        action="store_true",
        help="enable project_exec / exec / system.exec (runs commands in project folders)",
    )
    parser.add_argument(
        "--project-key",
        action="append",
        default=[],
        metavar="PROJECT",
        help="print an API key for this project only (its id or title; repeatable): it works on "
        "/api/conat/project for that project, as CoCalc's project-scoped keys",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="S",
        help="fault: seconds added to every API request",
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fault: share of API requests answered with a 5xx page",
    )
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fault: share of API requests whose connection is dropped",
    )
    parser.add_argument(
        "--gateway-timeout-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fault: share of API requests answered with an HTML 504 page",
    )
    parser.add_argument(
        "--rate-limit-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fault: share of API requests answered with 429",
    )
    parser.add_argument(
        "--retry-after",
        type=float,
        default=1.0,
        metavar="S",
        help="Retry-After of the 429 answers (default 1)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=None,
        metavar="N/s",
        help="answer HTTP 429 with Retry-After above N API requests in any one second (a sliding "
        "one-second window over the whole server; N or N/s, e.g. 200/s; default: no limit)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault generator")
    parser.add_argument(
        "--max-body",
        type=int,
        default=16 * 1024 * 1024,
        metavar="BYTES",
        help="larger request bodies get HTTP 413 (default 16 MiB)",
    )
    parser.add_argument(
        "--api-versions",
        type=_api_versions,
        default="v1,v2,conat",
        metavar="LIST",
        help="APIs to serve, any of v1,v2,conat (default: all three); "
        "v2,conat acts like cocalc.com, v1 like an old server",
    )
    parser.add_argument(
        "--samesite-remember-me",
        choices=["lax", "strict", "none"],
        default="lax",
        help="SameSite of the sign-in cookie (CoCalc's setting)",
    )
    parser.add_argument(
        "--kiosk-startup-delay",
        type=float,
        default=0.1,
        metavar="S",
        help="seconds a kiosk page takes before it answers (default 0.1)",
    )
    parser.add_argument(
        "--no-sign-in", action="store_true", help="kiosk pages do not require an auth token"
    )
    parser.add_argument(
        "--kiosk",
        choices=list(KIOSK_SETTINGS),
        default="ok",
        help="what a kiosk page (?fullscreen=kiosk) does: "
        + "; ".join(f"{name}: {what}" for name, what in KIOSK_SETTINGS.items())
        + " (default ok). Plain file pages (no fullscreen=kiosk) always show the file",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="create demo projects (Instructor, Student 1..5) and accounts (Student 1..5, in "
        "the org 'demo' that the key's account administers) unless they exist",
    )
    parser.add_argument(
        "--demo-projects",
        type=_project_count,
        default=None,
        metavar="N",
        help="create student projects 'Student 1'..'Student N' in one batch unless they exist "
        "(e.g. 5000 targets for a fan-out); with --demo, the demo has N students instead of 5 "
        "(accounts for the first five only)",
    )
    tls = parser.add_argument_group("https (default: plain http)")
    tls.add_argument(
        "--https",
        action="store_true",
        help="serve https with a throwaway certificate for 127.0.0.1, localhost and ::1 "
        "(needs trustme: pip install 'cocalc-widgets[https]'); prints the CA file to trust",
    )
    tls.add_argument(
        "--certfile", metavar="FILE", default=None, help="serve https with this certificate (PEM)"
    )
    tls.add_argument(
        "--keyfile",
        metavar="FILE",
        default=None,
        help="the certificate's private key (PEM; default: in --certfile)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")


def _api_versions(value: str) -> tuple[str, ...]:
    from ._versions import parse_api_versions

    try:
        return parse_api_versions(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _rate_limit(value: str) -> int:
    from ._ratelimit import check_rate_limit

    try:
        limit = check_rate_limit(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    assert limit is not None
    return limit


def _project_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give a whole number of projects, at least 1")
    return count


def _seed(emu: Emulator, args: argparse.Namespace) -> dict[str, str]:
    """The projects ``--demo`` and ``--demo-projects`` ask for: ``{title: project_id}``."""
    from . import DEMO_STUDENTS, student_titles

    count = args.demo_projects
    if args.demo:
        return emu.seed_demo(DEMO_STUDENTS if count is None else count)
    return emu.ensure_projects(student_titles(count)) if count else {}


def _print_projects(projects: dict[str, str], shown: int = 8) -> None:
    """One line per project; past ``shown`` of them, the first ones, how many more, the last."""
    lines = [f"  project {title!r}: {pid}" for title, pid in projects.items()]
    if len(lines) > shown:
        more = f"  ... {len(lines) - shown:,} more (list them with the API: user-query, query)"
        lines = [*lines[: shown - 1], more, lines[-1]]
    for line in lines:
        print(line)


def _tls_setting(args: argparse.Namespace) -> TlsSetting:
    """``Emulator(tls=...)`` from the flags; raises ``ValueError`` for a bad combination."""
    https = getattr(args, "https", False)
    certfile, keyfile = getattr(args, "certfile", None), getattr(args, "keyfile", None)
    if https and (certfile or keyfile):
        raise ValueError("--https makes its own certificate: leave out --certfile/--keyfile")
    if keyfile and not certfile:
        raise ValueError("--keyfile needs --certfile")
    if certfile:
        return (certfile, keyfile)
    return True if https else None


def _print_tls(emu: Emulator, throwaway: bool) -> None:
    if emu.tls is None:
        return
    if throwaway:
        print("  https:      a throwaway certificate for 127.0.0.1, localhost and ::1")
        print(f"  CA file:    {emu.ca_file}  (trust it: requests verify=..., curl --cacert ...,")
        print("              or import it into a browser's certificate authorities)")
        print(f"  cert file:  {emu.cert_file}  (removed when the emulator stops)")
    else:
        key = f", key {emu.tls.key_file}" if emu.tls.key_file else ""
        print(f"  https:      certificate {emu.cert_file}{key}")


def run_emulator(args: argparse.Namespace) -> int:
    """Start the emulator from parsed flags, print how to reach it, serve until stopped."""
    from . import KIOSK_SETTINGS, Faults

    try:
        tls = _tls_setting(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    faults = Faults(
        latency=args.latency,
        fail_rate=args.fail_rate,
        drop_rate=args.drop_rate,
        gateway_timeout_rate=args.gateway_timeout_rate,
        rate_limit_rate=args.rate_limit_rate,
        retry_after=args.retry_after,
        seed=args.seed,
    )
    try:
        emu = _make_emulator(args, faults, tls)
    except (RuntimeError, ValueError) as err:  # trustme missing, unreadable certificate files
        print(f"error: {err}", file=sys.stderr)
        return 2
    demo = _seed(emu, args)
    try:
        project_keys = {p: emu.create_project_key(p) for p in getattr(args, "project_key", [])}
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        emu.stop()
        return 2
    emu.start()

    def _stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    print(f"CoCalc emulator running at {emu.url}", flush=True)
    print(f"  API key:    {emu.api_key}")
    print(f"  account id: {emu.account_id}")
    print(f"  password:   {emu.password}")
    print(f"  site admin: {'yes' if emu.site_admin else 'no'} (the key's account)")
    print(f"  data:       {emu.data_dir}")
    print(f"  APIs:       {', '.join(emu.api_versions)}")
    print(f"  kiosk:      {emu.kiosk}: {KIOSK_SETTINGS[emu.kiosk]}")
    print(f"  rate limit: {emu.ctx.rate_limiter.describe()}")
    _print_tls(emu, throwaway=tls is True)
    _print_projects(demo)
    for name, account_id in emu.demo_accounts.items():
        print(f"  account {name!r}: {account_id} (org demo)")
    if emu.demo_accounts:
        print("  org 'demo': administered by the key's account")
    for project, key in project_keys.items():
        print(f"  project key {project!r}: {key} (/api/conat/project only)")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"  WARNING: listening on {args.host}, not only on loopback", file=sys.stderr)
        if tls is True:
            print("  WARNING: the throwaway certificate is for loopback only", file=sys.stderr)
    print("A client in another terminal (README's examples and the notebooks read these):")
    print(f"  {emu.export_line()}")
    try:  # from here on, a SIGTERM (a KeyboardInterrupt) stops the emulator cleanly
        print("Press Ctrl-C to stop.", flush=True)
        emu.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
        print("emulator stopped", flush=True)
    return 0


def _make_emulator(args: argparse.Namespace, faults: Faults, tls: TlsSetting) -> Emulator:
    from . import Emulator

    return Emulator(
        data_dir=args.data,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        account_id=args.account_id,
        password=args.password,
        site_admin=not args.no_site_admin,
        iframe_comm_hosts=args.iframe_comm_hosts,
        dev_http_origins=args.dev_http_origins,
        copy_delay=args.copy_delay,
        allow_exec=args.allow_exec,
        faults=faults,
        max_body=args.max_body,
        require_sign_in=not args.no_sign_in,
        api_versions=args.api_versions,
        quiet=not args.verbose,
        samesite_remember_me=args.samesite_remember_me,
        kiosk_startup_delay=args.kiosk_startup_delay,
        tls=tls,
        kiosk=args.kiosk,
        rate_limit=args.rate_limit,
        single_user=args.single_user,
    )
