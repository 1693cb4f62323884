"""The GraphiQL page served on ``GET /graphql`` for browsers; it loads only bundled files.

The assets live in ``atomo/http/static/graphiql/`` (see ``LICENSES.txt`` there) and are served by
the HTTP layer under ``static_prefix``. The page carries no inline script or style:
``atomo-graphiql.js`` reads the endpoints from ``data-*`` attributes, starts GraphiQL (editors wrap
long lines) and runs the log-in bar, which posts to ``/auth/login`` and writes
``{"Authorization": "Bearer <token>"}`` into GraphiQL's Headers editor (kept in memory only).
``/favicon.ico`` is ``atomo/http/static/favicon.ico``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
FAVICON = STATIC_DIR.parent / "favicon.ico"
FAVICON_CACHE = "public, max-age=31536000"
ASSETS = ("graphiql.min.css", "atomo-graphiql.css", "react.production.min.js", "react-dom.production.min.js",
          "graphiql.min.js", "atomo-graphiql.js")

# short lines: a 700 px window shows about 22 characters of the query editor (the editors also wrap)
DEFAULT_QUERY = """# Welcome to Atomo's GraphiQL.
# Log in with the bar at the top
# (it fills in the Headers tab),
# then press the run button.

query Contacts {
  records(model: "Contact", limit: 10)
}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Atomo GraphiQL</title>
<link rel="icon" href="{favicon}">
<link rel="stylesheet" href="{prefix}/graphiql.min.css">
<link rel="stylesheet" href="{prefix}/atomo-graphiql.css">
</head>
<body>
<form id="atomo-login" class="atomo-login" method="post" action="{login}" autocomplete="on">
<span class="atomo-login-title">Log in</span>
<input name="email" type="email" placeholder="email" autocomplete="username" aria-label="Email" required>
<input name="password" type="password" placeholder="password" autocomplete="current-password"
       aria-label="Password" required>
<button type="submit">Log in</button>
<output id="atomo-login-status" class="atomo-login-status" aria-live="polite"></output>
</form>
<div id="graphiql" data-endpoint="{endpoint}" data-ws-endpoint="{ws}"
     data-default-query="{query}">Loading GraphiQL…</div>
<script src="{prefix}/react.production.min.js"></script>
<script src="{prefix}/react-dom.production.min.js"></script>
<script src="{prefix}/graphiql.min.js"></script>
<script src="{prefix}/atomo-graphiql.js"></script>
</body>
</html>
"""


def graphiql_html(endpoint: str = "/graphql", static_prefix: str = "/graphql/static",
                  ws_endpoint: str = "/graphql/ws", login_endpoint: str = "/auth/login",
                  favicon: str = "/favicon.ico") -> str:
    """The GraphiQL HTML page: assets from ``static_prefix``, queries to ``endpoint``, subscriptions
    to ``ws_endpoint`` (relative URLs resolve against the page; ``ws:``/``wss:`` follow ``http:``/``https:``),
    the log-in bar to ``login_endpoint``."""
    return _PAGE.format(prefix=escape(static_prefix.rstrip("/"), quote=True), endpoint=escape(endpoint, quote=True),
                        ws=escape(ws_endpoint, quote=True), query=escape(DEFAULT_QUERY, quote=True),
                        login=escape(login_endpoint, quote=True), favicon=escape(favicon, quote=True))


def favicon_handler() -> HTTPRouteHandler:
    """``GET /favicon.ico``: the bundled icon, cached by browsers for a year."""
    body = FAVICON.read_bytes()

    @get("/favicon.ico", media_type="image/x-icon", sync_to_thread=False, name="favicon")
    def favicon() -> Response[bytes]:
        return Response(body, media_type="image/x-icon", headers={"Cache-Control": FAVICON_CACHE})

    return favicon
