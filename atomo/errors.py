"""The one error tree of Atomo.

    AtomoError                      code, HTTP status, message, details
     +-- ValidationError            VALIDATION_ERROR (400); details = [{field, message, code}]
     +-- BadRequestError            BAD_REQUEST (400)
     +-- UnauthenticatedError       UNAUTHENTICATED (401)
     +-- PermissionDeniedError      PERMISSION_DENIED (403); details = {model, action}
     +-- NotFoundError              NOT_FOUND (404)
     +-- ConflictError              CONFLICT (409); current_version / expected_version
     +-- RateLimitedError           RATE_LIMITED (429); details = {retryAfter}
     +-- LimitExceededError         LIMIT_EXCEEDED (400): a request over a size budget (GRAPHQL_MAX_ROWS)
     +-- StorageError               INTERNAL_ERROR (500): a database failure, translated at the storage boundary
     |    +-- StorageFullError      STORAGE_FULL (507): the data file's disk is full; writes fail until space returns
     +-- ConfigError                configuration problem (CLI exit 3)
     +-- SchemaError                schema.ts has errors (CLI exit 4); carries the diagnostics
     +-- MigrationError             a refused or failed migration (CLI exit 5)

Each surface has one adapter that turns these into its wire shape (GraphQL ``extensions``, the REST
error body, a realtime error frame, a one-line CLI message).
"""

from __future__ import annotations

from typing import Any


class AtomoError(Exception):
    code = "INTERNAL_ERROR"
    status = 500
    exit_code = 1

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def internal(self) -> bool:
        """An unexpected failure: shown to clients as INTERNAL_ERROR without its message."""
        return self.code == "INTERNAL_ERROR"

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationError(AtomoError):
    code = "VALIDATION_ERROR"
    status = 400

    def __init__(self, message: str | None = None, details: list[dict[str, Any]] | None = None) -> None:
        details = list(details or [])
        if message is None:
            message = "; ".join(d["message"] for d in details) or "invalid input"
        super().__init__(message, details)

    @classmethod
    def single(cls, field: str | None, message: str, code: str) -> ValidationError:
        return cls(message, [{"field": field, "message": message, "code": code}])


class BadRequestError(AtomoError):
    code = "BAD_REQUEST"
    status = 400


class UnauthenticatedError(AtomoError):
    code = "UNAUTHENTICATED"
    status = 401


class PermissionDeniedError(AtomoError):
    code = "PERMISSION_DENIED"
    status = 403

    @classmethod
    def for_action(cls, model: str, action: str) -> PermissionDeniedError:
        return cls(f"Access denied for '{action}' on '{model}'", {"model": model, "action": action})


class NotFoundError(AtomoError):
    code = "NOT_FOUND"
    status = 404


class ConflictError(AtomoError):
    code = "CONFLICT"
    status = 409

    def __init__(self, message: str, details: Any = None, *, current_version: int | None = None,
                 expected_version: int | None = None) -> None:
        if details is None and (current_version is not None or expected_version is not None):
            details = {"currentVersion": current_version, "expectedVersion": expected_version}
        super().__init__(message, details)
        self.current_version = current_version
        self.expected_version = expected_version


class RateLimitedError(AtomoError):
    code = "RATE_LIMITED"
    status = 429


class LimitExceededError(AtomoError):
    code = "LIMIT_EXCEEDED"
    status = 400


class StorageError(AtomoError):
    code = "INTERNAL_ERROR"
    status = 500


class StorageFullError(StorageError):
    code = "STORAGE_FULL"
    status = 507


class ConfigError(AtomoError):
    code = "CONFIG_ERROR"
    exit_code = 3


class UsageError(AtomoError):
    code = "USAGE_ERROR"
    exit_code = 2


class SchemaError(AtomoError):
    code = "SCHEMA_ERROR"
    exit_code = 4

    def __init__(self, message: str, diagnostics: list[Any] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics or [])


class MigrationError(AtomoError):
    code = "MIGRATION_ERROR"
    exit_code = 5


__all__ = [
    "AtomoError", "ValidationError", "BadRequestError", "UnauthenticatedError", "PermissionDeniedError",
    "NotFoundError", "ConflictError", "RateLimitedError", "LimitExceededError", "StorageError", "StorageFullError",
    "ConfigError", "UsageError", "SchemaError", "MigrationError",
]
