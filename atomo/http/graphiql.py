"""The GraphiQL page served on ``GET /graphql`` for browsers; it loads only bundled files.

The assets live in ``atomo/http/static/graphiql/`` (see ``LICENSES.txt`` there) and are served by
the HTTP layer under ``static_prefix``. The page carries no inline script: ``atomo-graphiql.js``
reads the endpoints from ``data-*`` attributes.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
ASSETS = ("graphiql.min.css", "react.production.min.js", "react-dom.production.min.js", "graphiql.min.js",
          "atomo-graphiql.js")

DEFAULT_QUERY = """# Welcome to Atomo's GraphiQL.
# Add an `Authorization: Bearer <token>` header below (from POST /auth/login) for non-public models.

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
<link rel="stylesheet" href="{prefix}/graphiql.min.css">
<style>html, body {{ margin: 0; height: 100%; overflow: hidden; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
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
                  ws_endpoint: str = "/graphql/ws") -> str:
    """The GraphiQL HTML page: assets from ``static_prefix``, queries to ``endpoint``, subscriptions
    to ``ws_endpoint`` (relative URLs resolve against the page; ``ws:``/``wss:`` follow ``http:``/``https:``)."""
    return _PAGE.format(prefix=escape(static_prefix.rstrip("/"), quote=True), endpoint=escape(endpoint, quote=True),
                        ws=escape(ws_endpoint, quote=True), query=escape(DEFAULT_QUERY, quote=True))
