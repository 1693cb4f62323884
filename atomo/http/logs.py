"""Server logs (configuration chapter §2): ``LOG_LEVEL`` and ``LOG_FORMAT``, set up by ``atomo serve``/``dev``.

- ``pretty`` (default): ``time LEVEL logger: message`` on stderr.
- ``json``: one JSON object per line on stderr with ``time``, ``level``, ``logger``, ``message``,
  ``requestId`` (the request being handled when the line was logged, else null) and the fields of the
  line (the access line: ``method``, ``route``, ``status``, ``durationMs``, ``ip``, ``userId``), plus
  ``exception`` with the traceback when there is one.

One access line per HTTP request at ``debug`` (logger ``atomo.access``), written by the outermost HTTP
wrapper (``atomo.http.security``): the route is the route template, never the raw path or query string,
and no header value is logged, so tokens and passwords never reach a line. ``LOG_LEVEL`` applies to the
``atomo`` loggers; other libraries log warnings and errors only.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

from atomo.config import Settings

# the id of the HTTP request being handled (set by the outermost wrapper when logs are JSON)
LOG_REQUEST_ID: ContextVar[str | None] = ContextVar("atomo_log_request_id", default=None)
# the user id of the caller once authenticated (atomo.http.request_context.Authenticator), for the access line
CURRENT_USER_ID: ContextVar[str | None] = ContextVar("atomo_user_id", default=None)

access_log = logging.getLogger("atomo.access")
FIELDS = ("method", "route", "status", "durationMs", "ip", "userId")
PRETTY = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            "requestId": getattr(record, "requestId", None) or LOG_REQUEST_ID.get()}
        for key in FIELDS:
            value = record.__dict__.get(key)
            if value is not None or key == "userId" and "userId" in record.__dict__:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stderr`` of the moment (a test harness may swap it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    """One handler on the root logger (stderr) in the format of ``LOG_FORMAT``; the ``atomo`` loggers at
    ``LOG_LEVEL``, the others at warning (or error). Replaces a handler an earlier call installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StderrHandler):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(PRETTY))
    root.addHandler(handler)
    level = logging.getLevelName(settings.log_level.upper())
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("atomo").setLevel(level)


def log_access(method: str, route: str, status: int, seconds: float, ip: str, rid: str) -> None:
    """The access line of one request (the caller checked ``access_log.isEnabledFor(DEBUG)``)."""
    ms = round(seconds * 1000, 3)
    user = CURRENT_USER_ID.get()
    access_log.debug("%s %s %d %.1fms ip=%s user=%s request=%s", method, route, status, ms, ip, user or "-", rid,
                     extra={"method": method, "route": route, "status": status, "durationMs": ms, "ip": ip,
                            "userId": user, "requestId": rid})
