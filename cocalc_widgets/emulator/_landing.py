"""The emulator's front page (``GET /``): what it is, its projects with links to their kiosk
and plain pages, how to sign in, which APIs it serves, who may embed it, and what kiosk pages do
(the ``kiosk`` setting).

It never shows the API key, a password or a token: any page the browser opens on this origin
could read them.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from ._api import ApiContext
from ._kiosk import project_list, static_page
from ._state import KIOSK_SETTINGS, EmulatorState

_API_LINES = {
    "v1": (
        ("{site}/api/v1/&lt;endpoint&gt;",),
        "CoCalc's documented API (older self-hosted servers), e.g. <code>ping</code>, "
        "<code>copy_path_between_projects</code>, <code>user_auth</code>",
    ),
    "v2": (
        ("{site}/api/v2/&lt;path&gt;",),
        "current servers, e.g. <code>projects/copy-path</code>, <code>projects/create</code>",
    ),
    "conat": (
        ("{site}/api/conat/hub", "{site}/api/conat/project"),
        "the conat bridges of current servers (what CoCalc's own <code>cocalc-api</code> "
        "client speaks), e.g. <code>system.ping</code>, <code>system.generateUserAuthToken</code>",
    ),
}


_PROJECT_ROWS = 200
"""Projects listed in the front page's table (an emulator may hold thousands)."""


def landing_page(ctx: ApiContext, request: Request) -> Response:
    """The front page as HTML, with the kiosk pages' stylesheet and Content-Security-Policy."""
    base = request.script_root
    site = escape(request.url_root.rstrip("/"))
    sections = [
        "<h1>cocalc-widgets emulator</h1>",
        '<p id="about">This is the <strong>cocalc-widgets emulator</strong>, a local stand-in '
        "for a CoCalc server: it speaks CoCalc's HTTP APIs, serves file pages (kiosk pages "
        "that answer CoCalc's IFrame messages, unless the kiosk setting below says otherwise, "
        "and plain pages), and keeps each project as a folder on this machine. It is "
        "for trying and testing cocalc-widgets; it is not CoCalc.</p>",
        _projects(ctx, base),
        _sign_in(ctx, site),
        _apis(ctx, site),
        _embedding(ctx, request),
    ]
    return static_page("cocalc-widgets emulator", "".join(sections), base)


def _projects(ctx: ApiContext, base: str) -> str:
    projects = project_list(ctx.state)
    if not projects:
        return (
            '<h2>Projects</h2><p id="projects">No projects yet: create one through the API '
            "(v1 <code>create_project</code>, v2 <code>projects/create</code>, conat "
            "<code>projects.createProject</code>) or start the emulator with "
            "<code>--demo</code>.</p>"
        )
    rows = []
    for p in projects[:_PROJECT_ROWS]:
        pid = p["project_id"]
        folder = escape(f"{base}/projects/{quote(pid)}/files/")
        rows.append(
            f"<tr><td>{escape(p['title']) or '<em>(untitled)</em>'}</td>"
            f"<td><code>{escape(pid)}</code></td>"
            f'<td><a class="kiosk-link" href="{folder}?fullscreen=kiosk&amp;session=">'
            f'kiosk page</a> &middot; <a href="{folder}">files</a></td></tr>'
        )
    return (
        "<h2>Projects</h2>"
        '<table id="projects"><tr><th>Title</th><th>Project id</th><th>Pages</th></tr>'
        + "".join(rows)
        + "</table>"
        + _more_projects(len(projects))
        + "<p>A file's kiosk page: <code>/projects/&lt;project_id&gt;/files/&lt;path&gt;"
        "?fullscreen=kiosk&amp;session=</code> (what <code>CoCalcFrame</code> loads). Its plain "
        "page, the same URL without <code>fullscreen=kiosk</code> (or with "
        "<code>?fullscreen=project</code>), shows the file in a normal page; an empty "
        "<code>&lt;path&gt;</code> shows the project's files.</p>"
    )


def _more_projects(count: int) -> str:
    """A note for the projects past the table's first :data:`_PROJECT_ROWS`."""
    if count <= _PROJECT_ROWS:
        return ""
    return (
        f'<p id="more-projects">... and {count - _PROJECT_ROWS:,} more ({count:,} projects in '
        "all): list them with the API (v2 <code>user-query</code>, v1 <code>query</code>, conat "
        "<code>db.userQuery</code>).</p>"
    )


def _sign_in(ctx: ApiContext, site: str) -> str:
    state, versions = ctx.state, ctx.api_versions
    if not state.require_sign_in:
        need = "<p>Sign-in is off (<code>--no-sign-in</code>): kiosk pages open without it.</p>"
    else:
        need = "<p>Kiosk pages need a sign-in, as CoCalc's do.</p>"
    ways = []
    if "v1" in versions:
        ways.append(
            "<li>API v1 <code>user_auth</code> with <code>{account_id, password}</code></li>"
        )
    if "conat" in versions:
        password = "" if state.site_admin else " and the user's <code>password</code>"
        ways.append(
            "<li>conat <code>system.generateUserAuthToken</code> with "
            f"<code>[{{user_account_id}}]</code>{password}</li>"
            "<li>conat <code>org.createToken</code> with <code>[{user}]</code> (an account id or "
            "e-mail address of a member of an organisation the key's account administers); it "
            "answers the whole sign-in URL</li>"
        )
    if ways:
        steps = (
            "<ol><li>Get an auth token with the API key:<ul>" + "".join(ways) + "</ul></li>"
            f"<li>Open <code>{site}/auth/impersonate?auth_token=&lt;token&gt;</code> in this "
            "browser: it sets the sign-in cookie and goes to <code>/app</code>.</li>"
            "<li>Open a kiosk page (the links above).</li></ol>"
            "<p>From a notebook, <code>CoCalcFrame(project_id, path, client=CoCalcClient("
            f"api_key, host=&quot;{site}&quot;), account_id=...)</code> does all three.</p>"
        )
    else:
        steps = (
            "<p>This emulator serves neither API v1 nor the conat bridges, so no call here "
            "makes an auth token (API v2 has none): serve v1 or conat "
            "(<code>--api-versions</code>) or turn sign-in off.</p>"
        )
    return (
        '<h2>Signing in</h2><div id="sign-in">'
        + need
        + steps
        + "<p>The API key and the password are printed by the command that started the "
        "emulator. This page never shows them, nor any token.</p></div>"
    )


def _apis(ctx: ApiContext, site: str) -> str:
    items = []
    for name in ctx.api_versions:
        paths, what = _API_LINES[name]
        where = " and ".join(f"<code>POST {p.format(site=site)}</code>" for p in paths)
        items.append(f'<li data-api="{name}"><strong>{name}</strong>: {where} &mdash; {what}</li>')
    exec_note = "on" if ctx.allow_exec else "off (<code>--allow-exec</code>)"
    return (
        '<h2>APIs</h2><ul id="apis">'
        + "".join(items)
        + "</ul><p>Authentication: HTTP Basic with the API key as the user name and an empty "
        "password (or <code>Authorization: Bearer &lt;key&gt;</code>). Running commands in "
        f"projects is {exec_note}.</p>" + _rate_limit(ctx)
    )


def _rate_limit(ctx: ApiContext) -> str:
    """The rate limit (``--rate-limit``) and what a request above it gets."""
    limit = ctx.rate_limiter.limit
    if limit is None:
        return (
            '<p id="rate-limit" data-rate-limit="">Rate limit (<code>--rate-limit</code>): '
            "none.</p>"
        )
    return (
        f'<p id="rate-limit" data-rate-limit="{limit}">Rate limit (<code>--rate-limit</code>): '
        f"<strong>{limit} API requests per second</strong>, counted over a sliding one-second "
        "window for the whole server; a request above it is answered HTTP 429 with "
        "<code>Retry-After</code> and does nothing.</p>"
    )


def _kiosk_setting(state: EmulatorState) -> str:
    """The ``kiosk`` setting and what it makes kiosk pages do."""
    setting = state.kiosk
    return (
        f'<p id="kiosk-setting" data-kiosk="{escape(setting)}">Kiosk setting '
        f"(<code>--kiosk</code>): <strong>{escape(setting)}</strong>, "
        f"{escape(KIOSK_SETTINGS[setting])}. Plain file pages show the file whatever it is.</p>"
    )


def _embedding(ctx: ApiContext, request: Request) -> str:
    state = ctx.state
    hosts = ", ".join(f"<code>{escape(h)}</code>" for h in state.iframe_comm_hosts)
    dev = ", ".join(f"<code>{escape(o)}</code>" for o in state.dev_http_origins)
    parts = [
        _kiosk_setting(state),
        "<p>Kiosk pages answer IFrame messages only from <strong>https</strong> pages whose "
        "host is listed in <code>iframe_comm_hosts</code> (<code>example.com</code>: exactly "
        "that host; <code>.example.com</code>: it and its subdomains; a page with a port never "
        f"matches): {hosts or '<em>none listed</em>'}.</p>",
    ]
    if dev:
        parts.append(
            f"<p>Development switch: these http pages are answered too: {dev}. "
            "CoCalc never answers an http page.</p>"
        )
    samesite = escape(str(state.samesite_remember_me).capitalize())
    secure = "Secure" if request.is_secure or samesite == "None" else "not Secure"
    parts.append(f"<p>Sign-in cookie: SameSite={samesite}, {secure}.</p>")
    if not request.is_secure:
        parts.append(
            "<p>Served over plain http: an https notebook page cannot embed these pages "
            "(mixed content). Start the emulator with <code>--https</code> (or "
            "<code>--certfile</code>/<code>--keyfile</code>) for that.</p>"
        )
    return '<h2>Embedding</h2><div id="embedding">' + "".join(parts) + "</div>"
