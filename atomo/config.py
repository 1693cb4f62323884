"""Settings: one registry of every setting (default, parser, help), read once from the environment.

This is the only module that reads ``os.environ``. Everything else receives a ``Settings`` object.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from atomo.errors import ConfigError, UsageError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError("expected true/false, 1/0, yes/no or on/off")


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            n = int(value.strip())
        except ValueError:
            raise ValueError(f"expected an integer from {lo} to {hi}") from None
        if not lo <= n <= hi:
            raise ValueError(f"expected an integer from {lo} to {hi}")
        return n
    return parse


def _choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        v = value.strip().lower()
        if v not in options:
            raise ValueError("expected one of: " + ", ".join(options))
        return v
    return parse


def _upper_choice(*options: str) -> Callable[[str], str]:
    inner = _choice(*(o.lower() for o in options))
    return lambda value: inner(value).upper()


MAX_WORKERS = 8


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):      # not Linux
        return os.cpu_count() or 1


def parse_workers(value: str) -> int:
    """``auto`` (the usable cores, at most 8) or a number from 1 to 8."""
    v = value.strip().lower()
    if v == "auto":
        return max(1, min(MAX_WORKERS, usable_cores()))
    try:
        return _int(1, MAX_WORKERS)(v)
    except ValueError:
        raise ValueError(f"expected auto or an integer from 1 to {MAX_WORKERS}") from None


def _text(value: str) -> str:
    return value


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _networks(value: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDRs, each normalised (``10.0.0.1`` -> ``10.0.0.1/32``)."""
    out = []
    for item in _list(value):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR") from None
    return tuple(out)


@dataclass(frozen=True)
class Setting:
    env: str
    attr: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    aliases: tuple[str, ...] = ()      # older or shorter names read when the main one is unset


_MAX = 2**31 - 1
PRIVATE_NETWORKS = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")

REGISTRY: tuple[Setting, ...] = (
    # Server and storage
    Setting("ATOMO_ENV", "env", "development", _choice("development", "production"), "development or production"),
    Setting("HOST", "host", "127.0.0.1", _text, "bind address"),
    Setting("PORT", "port", 3000, _int(1, 65535), "TCP port"),
    Setting("ATOMO_DATA_FILE", "data_file", None, _text,
            "the SQLite file (default ./.atomo/atomo.db in the project); :memory: keeps the data in RAM for "
            "this process only (a private file on /dev/shm, removed on close)"),
    Setting("DATABASE_URL", "database_url", None, _text,
            "the data file as a sqlite:/// URL (sqlite::memory: for :memory:), or a postgresql:// server"),
    Setting("ATOMO_SCHEMA_PATH", "schema_path", None, _text, "schema file (default: discovered in the project)"),
    Setting("ATOMO_STRICT_SCHEMA", "strict_schema", False, _bool, "schema warnings stop boot"),
    Setting("ATOMO_ADOPT_EXISTING", "adopt_existing", False, _bool,
            "use a SQLite file made by another application (adds Atomo's tables next to its own)"),
    Setting("ATOMO_INTEGRITY_CHECK", "integrity_check", True, _bool, "PRAGMA quick_check of the data file at boot"),
    Setting("ATOMO_SYNCHRONOUS", "synchronous", "NORMAL", _upper_choice("NORMAL", "FULL"), "SQLite synchronous pragma"),
    Setting("ATOMO_BUSY_TIMEOUT_MS", "busy_timeout_ms", 5000, _int(0, 600000), "wait for locks held by other processes"),
    Setting("ATOMO_READ_CONNECTIONS", "read_connections", 4, _int(1, 64), "read-only connections"),
    Setting("ATOMO_WRITE_BATCH_MAX", "write_batch_max", 256, _int(1, 100000), "most writes per group commit"),
    Setting("ATOMO_WRITE_QUEUE_MAX", "write_queue_max", 10000, _int(1, 10_000_000), "most writes waiting for the writer"),
    Setting("ATOMO_WAL_CHECKPOINT_BYTES", "wal_checkpoint_bytes", 8 << 20, _int(1 << 20, 1 << 40),
            "WAL size that makes the writer restart the WAL (lower on a disk with less than 4x free)"),
    Setting("ATOMO_EVENT_ENCODING", "event_encoding", "json", _choice("json", "msgpack"), "storage of event payloads"),
    Setting("ATOMO_EVENT_POLL_MS", "event_poll_ms", 1000, _int(10, 3_600_000), "event dispatcher poll interval"),
    Setting("ATOMO_MAX_BODY_BYTES", "max_body_bytes", 1048576, _int(1024, _MAX), "largest REST request body"),
    Setting("ATOMO_MAX_HEADER_BYTES", "max_header_bytes", 16384, _int(1024, 1 << 20),
            "largest request line + headers of one request; larger -> 431"),
    Setting("ATOMO_SHUTDOWN_GRACE_SECS", "shutdown_grace_secs", 10, _int(0, 3600), "grace period on SIGTERM"),
    Setting("ATOMO_VERSION", "version", None, _text, "version reported by /version"),
    Setting("ATOMO_GIT_SHA", "git_sha", "unknown", _text, "commit reported by /version"),
    Setting("ATOMO_BUILD_TIME", "build_time", "unknown", _text, "build time reported by /version"),
    Setting("ATOMO_WORKERS", "workers", 1, parse_workers,
            "serve processes of `atomo serve` (auto: the usable cores, at most 8); one writer at a time"),
    Setting("ATOMO_ASGI_SERVER", "asgi_server", "uvicorn", _choice("uvicorn", "granian"), "ASGI server for serve"),
    Setting("ATOMO_NO_PROGRESS", "no_progress", False, _bool, "plain lines instead of progress bars"),
    Setting("ATOMO_MALLOC_ARENAS", "malloc_arenas", 1, _int(0, 64),
            "glibc malloc arenas of serve/dev (0: glibc's default); freed heap is returned after boot"),
    # Auth and access
    Setting("JWT_SECRET", "jwt_secret", None, _text, "HS256 signing key (dev: generated in the data folder)"),
    Setting("ATOMO_JWT_TTL_SECS", "jwt_ttl_secs", 86400, _int(60, 2592000), "access-token lifetime"),
    Setting("ATOMO_SESSION_TTL_SECS", "session_ttl_secs", 86400, _int(60, 31536000), "session/refresh lifetime"),
    Setting("PASSWORD_MIN_LENGTH", "password_min_length", 8, _int(1, 256), "minimum password length"),
    Setting("PASSWORD_REQUIRE_COMPLEXITY", "password_require_complexity", True, _bool, "require a letter and a digit"),
    Setting("ADMIN_EMAIL", "admin_email", None, _text, "admin account seeded at boot (dev: admin@example.com)"),
    Setting("ADMIN_PASSWORD", "admin_password", None, _text, "password for a newly seeded admin"),
    Setting("ADMIN_RESET_PASSWORD", "admin_reset_password", False, _bool, "reset the admin password at boot"),
    Setting("ATOMO_ENABLE_SELF_REGISTRATION", "enable_self_registration", False, _bool, "mount POST /auth/register"),
    Setting("ATOMO_SELF_REGISTRATION_ROLE", "self_registration_role", "viewer", _text, "role of self-registered users"),
    Setting("ATOMO_SELF_REGISTRATION_TENANT", "self_registration_tenant", "none", _text,
            "none, per-user or a tenant id (also read as ATOMO_REGISTRATION_TENANT)",
            aliases=("ATOMO_REGISTRATION_TENANT",)),
    Setting("ATOMO_DEFAULT_ACCESS", "default_access", "authenticated", _text, "rule for operations without one"),
    # Rate limiting
    Setting("RATE_LIMIT_RPS", "rate_limit_rps", 100, _int(0, 10_000_000), "bucket capacity per client IP; 0 disables"),
    Setting("RATE_LIMIT_WINDOW_SECS", "rate_limit_window_secs", 60, _int(1, 86400), "refill time of a bucket"),
    Setting("RATE_LIMIT_TRUST_FORWARDED", "rate_limit_trust_forwarded", True, _bool,
            "use X-Forwarded-For from trusted proxies"),
    Setting("ATOMO_TRUSTED_PROXIES", "trusted_proxies", PRIVATE_NETWORKS, _networks,
            "peers (addresses/CIDRs) whose X-Forwarded-For is honoured"),
    Setting("LOGIN_RATE_LIMIT_ATTEMPTS", "login_rate_limit_attempts", 5, _int(1, 1_000_000), "failed logins per IP+email"),
    Setting("LOGIN_RATE_LIMIT_IP_ATTEMPTS", "login_rate_limit_ip_attempts", 50, _int(1, 1_000_000), "failed logins per IP"),
    Setting("LOGIN_RATE_LIMIT_ACCOUNT_ATTEMPTS", "login_rate_limit_account_attempts", 20, _int(1, 1_000_000),
            "failed logins per account (email), from any IP"),
    Setting("LOGIN_RATE_LIMIT_WINDOW_SECS", "login_rate_limit_window_secs", 300, _int(1, 86400), "login bucket refill"),
    # GraphQL
    Setting("GRAPHQL_MAX_DEPTH", "graphql_max_depth", 20, _int(1, 1000), "deepest selection nesting"),
    Setting("GRAPHQL_MAX_COMPLEXITY", "graphql_max_complexity", 200, _int(1, 1_000_000), "most selected fields"),
    Setting("GRAPHQL_MAX_TOKENS", "graphql_max_tokens", 2000, _int(1, 10_000_000),
            "most lexical tokens in a document (checked before parsing)"),
    Setting("GRAPHQL_MAX_ROWS", "graphql_max_rows", 10000, _int(1, 100_000_000),
            "most rows returned by one request, summed over its fields"),
    Setting("GRAPHQL_MAX_BODY_BYTES", "graphql_max_body_bytes", 1048576, _int(1024, _MAX), "largest /graphql body"),
    Setting("ATOMO_GRAPHQL_INTROSPECTION", "graphql_introspection", True, _bool, "allow introspection"),
    Setting("ATOMO_IDEMPOTENCY_TTL_SECS", "idempotency_ttl_secs", 86400, _int(60, _MAX),
            "how long the answer of a mutation sent with Idempotency-Key is kept for its retries"),
    Setting("ATOMO_MAX_PAGE_SIZE", "max_page_size", 1000, _int(1, 1_000_000), "largest limit on list operations"),
    Setting("ATOMO_MAX_FILTER_TERMS", "max_filter_terms", 500, _int(1, 100_000),
            "most conditions in one where filter (AND/OR/NOT terms included)"),
    Setting("ATOMO_ENABLE_SUBSCRIPTIONS", "enable_subscriptions", True, _bool, "serve /graphql/ws"),
    Setting("GRAPHQL_WS_MAX_OPERATIONS", "graphql_ws_max_operations", 100, _int(1, 1_000_000),
            "operations running at once on one /graphql/ws socket"),
    Setting("GRAPHQL_WS_SLOW_CONSUMER_SECS", "graphql_ws_slow_consumer_secs", 30, _int(1, 3600),
            "a /graphql/ws client that takes no message for this long while some wait is closed (4408)"),
    # Realtime
    Setting("ATOMO_ENABLE_REALTIME", "enable_realtime", True, _bool, "serve /realtime/*"),
    Setting("ATOMO_REALTIME_ALLOW_ANON", "realtime_allow_anon", False, _bool, "accept realtime without a token"),
    Setting("ATOMO_REALTIME_COORDINATOR_POLICY", "realtime_coordinator_policy", "reelect",
            _choice("reelect", "close"), "when a session coordinator leaves"),
    Setting("ATOMO_REALTIME_MAX_CONN_PER_IP", "realtime_max_conn_per_ip", 64, _int(0, 1_000_000), "connections per IP"),
    Setting("ATOMO_REALTIME_JOIN_BURST", "realtime_join_burst", 20, _int(1, 1_000_000), "join throttle burst"),
    Setting("ATOMO_REALTIME_JOIN_PER_SEC", "realtime_join_per_sec", 10, _int(1, 1_000_000), "join throttle rate"),
    Setting("ATOMO_REALTIME_PUBLISH_BURST", "realtime_publish_burst", 200, _int(1, 1_000_000), "publish burst"),
    Setting("ATOMO_REALTIME_PUBLISH_PER_SEC", "realtime_publish_per_sec", 100, _int(1, 1_000_000), "publish rate"),
    Setting("ATOMO_REALTIME_OUTBOUND_QUEUE", "realtime_outbound_queue", 256, _int(1, 1_000_000), "outbound frames"),
    Setting("ATOMO_REALTIME_MAX_FRAME_BYTES", "realtime_max_frame_bytes", 65536, _int(64, _MAX), "largest frame"),
    Setting("ATOMO_REALTIME_MAX_SUBSCRIPTIONS", "realtime_max_subscriptions", 100, _int(1, 1_000_000), "per connection"),
    Setting("ATOMO_REALTIME_PING_SECS", "realtime_ping_secs", 30, _int(1, 3600), "WebSocket ping interval"),
    # Jobs
    Setting("ATOMO_JOB_RECLAIM_INTERVAL", "job_reclaim_interval", 30, _int(1, 86400), "seconds between reclaim sweeps"),
    # Logging, CORS, headers, metrics
    Setting("LOG_LEVEL", "log_level", "info", _choice("debug", "info", "warning", "error"), "log level"),
    Setting("LOG_FORMAT", "log_format", "pretty", _choice("pretty", "json"), "pretty or json logs"),
    Setting("CORS_ORIGINS", "cors_origins", ("http://localhost:3000",), _list, "allowed origins; * allows any"),
    Setting("CSP", "csp", None, _text, "Content-Security-Policy value"),
    Setting("DISABLE_SECURITY_HEADERS", "disable_security_headers", False, _bool, "omit security headers"),
    Setting("ATOMO_METRICS_TOKEN", "metrics_token", None, _text, "bearer token required by /metrics"),
)

IGNORED_REFERENCE_VARIABLES = (
    "ATOMO_ENABLE_RLS", "ATOMO_HISTORY_CONFIG", "ATOMO_AUDIT_CONFIG", "ATOMO_REGISTRY_DIR", "ATOMO_ADMIN_DIR",
    "ATOMO_ENABLE_AI", "ATOMO_ENABLE_METERED_COMMANDS", "DATABASE_POOL_MAX", "BCRYPT_COST", "RUST_LOG",
)
IGNORED_REFERENCE_PREFIXES = ("ATOMO_CACHE_", "OAUTH_", "ATOMO_PUBLIC_READ_", "STORAGE_", "ATOMO_SCHEMA_WATCH")


@dataclass(frozen=True)
class Settings:
    """Every setting of the registry as an attribute, plus the resolved project paths."""

    env: str = "development"
    host: str = "127.0.0.1"
    port: int = 3000
    data_file: str | None = None
    database_url: str | None = None
    schema_path: str | None = None
    strict_schema: bool = False
    adopt_existing: bool = False
    integrity_check: bool = True
    synchronous: str = "NORMAL"
    busy_timeout_ms: int = 5000
    read_connections: int = 4
    write_batch_max: int = 256
    write_queue_max: int = 10000
    wal_checkpoint_bytes: int = 8 << 20
    event_encoding: str = "json"
    event_poll_ms: int = 1000
    max_body_bytes: int = 1048576
    max_header_bytes: int = 16384
    shutdown_grace_secs: int = 10
    version: str | None = None
    git_sha: str = "unknown"
    build_time: str = "unknown"
    workers: int = 1
    asgi_server: str = "uvicorn"
    no_progress: bool = False
    malloc_arenas: int = 1
    jwt_secret: str | None = None
    jwt_ttl_secs: int = 86400
    session_ttl_secs: int = 86400
    password_min_length: int = 8
    password_require_complexity: bool = True
    admin_email: str | None = None
    admin_password: str | None = None
    admin_reset_password: bool = False
    enable_self_registration: bool = False
    self_registration_role: str = "viewer"
    self_registration_tenant: str = "none"
    default_access: str = "authenticated"
    rate_limit_rps: int = 100
    rate_limit_window_secs: int = 60
    rate_limit_trust_forwarded: bool = True
    trusted_proxies: tuple[str, ...] = PRIVATE_NETWORKS
    login_rate_limit_attempts: int = 5
    login_rate_limit_ip_attempts: int = 50
    login_rate_limit_account_attempts: int = 20
    login_rate_limit_window_secs: int = 300
    graphql_max_depth: int = 20
    graphql_max_complexity: int = 200
    graphql_max_tokens: int = 2000
    graphql_max_rows: int = 10000
    graphql_max_body_bytes: int = 1048576
    graphql_introspection: bool = True
    idempotency_ttl_secs: int = 86400
    max_page_size: int = 1000
    max_filter_terms: int = 500
    enable_subscriptions: bool = True
    graphql_ws_max_operations: int = 100
    graphql_ws_slow_consumer_secs: int = 30
    enable_realtime: bool = True
    realtime_allow_anon: bool = False
    realtime_coordinator_policy: str = "reelect"
    realtime_max_conn_per_ip: int = 64
    realtime_join_burst: int = 20
    realtime_join_per_sec: int = 10
    realtime_publish_burst: int = 200
    realtime_publish_per_sec: int = 100
    realtime_outbound_queue: int = 256
    realtime_max_frame_bytes: int = 65536
    realtime_max_subscriptions: int = 100
    realtime_ping_secs: int = 30
    job_reclaim_interval: int = 30
    log_level: str = "info"
    log_format: str = "pretty"
    cors_origins: tuple[str, ...] = ("http://localhost:3000",)
    csp: str | None = None
    disable_security_headers: bool = False
    metrics_token: str | None = None
    # Resolved by the CLI / library, not environment variables:
    project_dir: str | None = None
    warnings: tuple[str, ...] = ()
    ephemeral: bool = False            # `atomo serve --ephemeral`: data in memory, POST /__test__/reset mounted

    @property
    def production(self) -> bool:
        return self.env == "production"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL server of a ``postgresql://`` (or ``postgres://``) DATABASE_URL, else None (SQLite)."""
        url = self.database_url
        return url if url is not None and url.startswith(POSTGRES_SCHEMES) else None

    def resolved_data_file(self, project_dir: Path) -> Path:
        """The SQLite file: ATOMO_DATA_FILE, else a sqlite:/// DATABASE_URL, else <project>/.atomo/atomo.db.

        ``:memory:`` (``sqlite::memory:``) is returned as ``Path(":memory:")`` (see ``is_memory``): the
        storage layer then makes a private file on a RAM-backed file system for the life of the process.
        """
        from_url = data_file_from_url(self.database_url) if self.database_url and not self.postgres_url else None
        if self.postgres_url and self.data_file:
            raise ConfigError("ATOMO_DATA_FILE and a postgresql:// DATABASE_URL name two databases; set only one")
        if self.data_file and from_url and not _same_file(Path(self.data_file), from_url):
            raise ConfigError("ATOMO_DATA_FILE and DATABASE_URL name different files; set only one")
        chosen = Path(self.data_file) if self.data_file else from_url
        if chosen is None:
            return project_dir / ".atomo" / "atomo.db"
        if is_memory(chosen):
            return Path(MEMORY)
        return chosen if chosen.is_absolute() else Path.cwd() / chosen


MEMORY = ":memory:"


def is_memory(path: str | Path | None) -> bool:
    """The data file ``:memory:``: data that lives as long as the process (tests, ``serve --ephemeral``)."""
    return path is not None and str(path) == MEMORY


def _same_file(a: Path, b: Path) -> bool:
    if is_memory(a) or is_memory(b):
        return is_memory(a) and is_memory(b)
    return a.resolve() == b.resolve()


POSTGRES_SCHEMES = ("postgresql://", "postgres://")
MEMORY_URLS = ("sqlite::memory:", "sqlite:///:memory:", "sqlite://:memory:")


def data_file_from_url(url: str) -> Path:
    if url in MEMORY_URLS:
        return Path(MEMORY)
    if not url.startswith("sqlite:///"):
        raise ConfigError("DATABASE_URL: expected sqlite:///path/to/file.db, sqlite::memory: or postgresql://…")
    rest = url[len("sqlite:///"):]
    if rest == "":
        raise ConfigError("DATABASE_URL: the URL names no file (sqlite:///path/to/file.db, or sqlite::memory:)")
    return Path(rest)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes and `export `."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def load_settings(environ: Mapping[str, str] | None = None, *, env_file: Path | None = None,
                  **overrides: Any) -> Settings:
    """Build Settings from the environment (plus an optional .env file, which the environment overrides).

    Keyword overrides (command-line flags) win over both. A bad value raises UsageError (exit 2).
    """
    source: dict[str, str] = {}
    if env_file is not None:
        source.update(read_env_file(env_file))
    source.update(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for s in REGISTRY:
        raw = source.get(s.env)
        if raw is None:
            raw = next((source[a] for a in s.aliases if a in source), None)
        if raw is None or (raw == "" and s.default is not None and s.parse is not _text):
            continue
        try:
            values[s.attr] = s.parse(raw)
        except ValueError as exc:
            raise UsageError(f"{s.env}={raw!r} is invalid: {exc}") from None
    warnings = [f"{name} is set but not used by this release" for name in source
                if name in IGNORED_REFERENCE_VARIABLES or name.startswith(IGNORED_REFERENCE_PREFIXES)]
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values, warnings=tuple(warnings))
    if settings.admin_email is None and not settings.production:
        settings = replace(settings, admin_email="admin@example.com")
    return settings


def setting_names() -> list[str]:
    return [s.env for s in REGISTRY]



def settings_markdown() -> str:
    """docs/configuration.md, generated from the registry (a test keeps the file in sync)."""
    lines = ["# Configuration", "",
             "Every setting is an environment variable (also read from the project's `.env`; the process",
             "environment wins, command-line flags win over both). An unparsable or out-of-range value stops",
             "boot with exit code 2. This table is generated from the registry in `atomo/config.py`",
             "(`python -m atomo.config` prints it); a test keeps it in sync.", "",
             "| Variable | Default | Meaning |", "|---|---|---|"]
    for s in REGISTRY:
        default = s.default
        if isinstance(default, tuple):
            default = ",".join(default)
        text = "unset" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
        lines.append(f"| `{s.env}` | `{text}` | {s.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
