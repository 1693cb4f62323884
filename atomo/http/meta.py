"""``GET /meta/schema`` (configuration chapter §3): the parsed schema as JSON, with an ETag.

The body is the same bytes ``atomo codegen`` hashes into ``schemaHash``, so the ETag equals it.
Production requires a JWT; in development anonymous callers may read it too.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from atomo.codegen.meta import meta_schema_bytes
from atomo.errors import UnauthenticatedError

if TYPE_CHECKING:
    from atomo.http.services import Services


def meta_handlers(services: Services) -> list[HTTPRouteHandler]:
    cache: dict[int, tuple[bytes, str]] = {}   # keyed by the schema object: `atomo dev` swaps schemas

    def body_and_etag() -> tuple[bytes, str]:
        schema = services.current.schema
        entry = cache.get(id(schema))
        if entry is None:
            body = meta_schema_bytes(schema)
            cache.clear()
            entry = cache[id(schema)] = (body, hashlib.sha256(body).hexdigest())
        return entry

    @get("/meta/schema", name="meta-schema")
    async def meta_schema(request: Request[Any, Any, Any]) -> Response[Any]:
        authorization = request.headers.get("authorization")
        if services.settings.production and authorization is None:
            raise UnauthenticatedError("authentication required")
        if authorization is not None:
            await services.auth.principal(authorization)   # an invalid token is 401, never ignored
        body, etag = body_and_etag()
        quoted = f'"{etag}"'
        if request.headers.get("if-none-match") in (quoted, etag):
            return Response(b"", status_code=304, headers={"ETag": quoted})
        return Response(body, media_type="application/json", headers={"ETag": quoted})

    return [meta_schema]
