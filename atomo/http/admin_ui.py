"""The admin UI served on ``GET /_/`` (issue 19): a single-page app of plain ES modules, no build step.

The files in ``atomo/http/static/admin/`` are the shipped assets (packaged with ``http/static/**/*`` in
the wheel and the PyInstaller spec), read once when the app is built:

- ``GET /_/`` (and ``/_``), ``/_/index.html`` and any deep link ``/_/<path>`` answer ``index.html`` (the
  app routes with the History API; the page refers to its assets by absolute paths).
- ``GET /_/assets/<file>`` answers one of the other files (anything else under ``assets/`` is 404).

Every answer carries ``Cache-Control: no-cache`` and a strong ``ETag`` (a hash of the bytes), so browsers
revalidate with ``If-None-Match`` and get 304 until the server is upgraded. The pages set their own
strict CSP (``ADMIN_CSP``: scripts, styles and requests to this origin only, no inline code, no
framing); an operator's ``CSP`` setting wins over it, and ``DISABLE_SECURITY_HEADERS`` drops it. The
app talks only to the public API with the admin's token: ``/auth/*`` (login, users administration),
``/meta/schema``, ``/graphql`` and ``/graphql/ws`` (records, history, live tail), ``/jobs/*`` (jobs dashboard,
workers).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler

if TYPE_CHECKING:
    from atomo.config import Settings

ADMIN_DIR = Path(__file__).resolve().parent / "static" / "admin"
ADMIN_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
             "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
CACHE = "no-cache"
MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}   # Litestar adds the charset


class Asset:
    """One file of the bundle: its bytes, media type and ETag."""

    __slots__ = ("body", "etag", "media_type")

    def __init__(self, path: Path) -> None:
        self.body = path.read_bytes()
        self.media_type = MEDIA_TYPES[path.suffix]
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


def load_assets(folder: Path = ADMIN_DIR) -> dict[str, Asset]:
    """The bundle's files by name (only the known kinds of file; README-like files are not served)."""
    return {p.name: Asset(p) for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in MEDIA_TYPES}


def admin_handlers(settings: Settings, folder: Path = ADMIN_DIR) -> list[HTTPRouteHandler]:
    """The routes of the admin UI (none when the bundle is missing)."""
    if not (folder / "index.html").is_file():
        return []
    assets = load_assets(folder)
    index = assets.pop("index.html")
    headers = {"Cache-Control": CACHE}
    if not settings.disable_security_headers and not settings.csp:
        headers["Content-Security-Policy"] = ADMIN_CSP

    def answer(request: Request[Any, Any, Any], asset: Asset) -> Response[bytes]:
        if request.headers.get("if-none-match") == asset.etag:
            return Response(b"", status_code=304, headers={**headers, "ETag": asset.etag})
        return Response(asset.body, media_type=asset.media_type, headers={**headers, "ETag": asset.etag})

    @get(["/_", "/_/{path:path}"], sync_to_thread=False, name="admin-ui", include_in_schema=False)
    def page(request: Request[Any, Any, Any], path: str = "/") -> Response[bytes]:
        path = path.lstrip("/")
        if path.startswith("assets/"):
            asset = assets.get(path.removeprefix("assets/"))
            if asset is None:
                raise NotFoundException("no such asset")
            return answer(request, asset)
        return answer(request, index)

    return [page]
