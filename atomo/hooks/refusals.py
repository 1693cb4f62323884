"""The errors a hook raises to refuse an operation: the ones of ``atomo.errors`` (one error tree), with
constructors that suit hook code."""

from __future__ import annotations

from typing import Any

from atomo import errors


class ValidationError(errors.ValidationError):
    """``VALIDATION_ERROR`` (400) with ``details`` = ``[{field, message, code}]``.

    ``ValidationError("title is too short", field="title")``, ``ValidationError({"title": "too short"})``
    (field -> message) or ``ValidationError([{"field": "title", "message": "too short", "code": "min"}])``."""

    def __init__(self, details: str | dict[str, str] | list[dict[str, Any]] | None = None, *,
                 field: str | None = None, code: str = "invalid", message: str | None = None) -> None:
        if details is None:
            items: list[dict[str, Any]] = [{"field": field, "message": message or "invalid input", "code": code}]
        elif isinstance(details, str):
            items = [{"field": field, "message": details, "code": code}]
        elif isinstance(details, dict):
            items = [{"field": str(key), "message": str(text), "code": code} for key, text in details.items()]
        else:
            items = [{"field": d.get("field"), "message": str(d.get("message", "invalid")), "code": d.get("code", code)}
                     if isinstance(d, dict) else {"field": field, "message": str(d), "code": code} for d in details]
        super().__init__(message, items)


class PermissionDenied(errors.PermissionDeniedError):
    """``PERMISSION_DENIED`` (403): ``PermissionDenied("only managers may close deals")``."""

    def __init__(self, message: str = "Access denied", details: Any = None) -> None:
        super().__init__(message, details)
