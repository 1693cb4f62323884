"""Users: create, look up, change password, deactivate. Write functions run as writer units."""

from __future__ import annotations

import builtins
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ulid import ULID

from atomo.auth.passwords import check_policy, generate_password, hash_password
from atomo.cluster.bus import Bus
from atomo.errors import ConflictError, NotFoundError, ValidationError
from atomo.storage.database import Database

ROLE = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z")
RESERVED_ROLES = frozenset({"public", "authenticated", "system", "sametenant", "anon"})
_COLUMNS = ("id, email, password_hash, first_name, last_name, role, is_active, tenant_id, last_login_at, created_at,"
            " updated_at")


@dataclass(frozen=True)
class User:
    id: str
    email: str
    password_hash: str
    first_name: str
    last_name: str
    role: str
    is_active: bool
    tenant_id: str | None
    last_login_at: str | None
    created_at: str
    updated_at: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "role": self.role, "first_name": self.first_name,
                "last_name": self.last_name, "tenant_id": self.tenant_id}


def new_id() -> str:
    return str(ULID())


def normalize_email(email: object) -> str:
    if not isinstance(email, str) or "@" not in email.strip() or len(email.strip()) > 254:
        raise ValidationError.single("email", "email must be a valid email address", "email")
    return email.strip().lower()


def check_role(role: object) -> str:
    if not isinstance(role, str) or not ROLE.match(role.lower()) or role.lower() in RESERVED_ROLES:
        raise ValidationError.single("role", f"invalid role {role!r}", "role")
    return role.lower()


def _row_to_user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    return User(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7], row[8], row[9], row[10])


def find_by_email(conn: sqlite3.Connection, email: str) -> User | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE email = ?", (email.strip().lower(),)).fetchone()
    return _row_to_user(row)


def find_by_id(conn: sqlite3.Connection, user_id: str) -> User | None:
    return _row_to_user(conn.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone())


def insert_user(conn: sqlite3.Connection, *, email: str, password_hash: str, role: str, tenant_id: str | None,
                first_name: str, last_name: str, now: str, user_id: str | None = None) -> User:
    if find_by_email(conn, email) is not None:
        raise ConflictError(f"user {email} already exists")
    user = User(user_id or new_id(), email, password_hash, first_name, last_name, role, True, tenant_id, None, now, now)
    conn.execute(f"INSERT INTO users ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                 (user.id, user.email, user.password_hash, user.first_name, user.last_name, user.role, 1,
                  user.tenant_id, None, now, now))
    return user


def _page_filter(query: str, tenant_scope: tuple[bool, str | None]) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query:
        clauses.append("instr(email, ?) > 0")
        params.append(query.strip().lower())
    scoped, tenant = tenant_scope
    if scoped:
        clauses.append("tenant_id IS NULL" if tenant is None else "tenant_id = ?")
        params += [] if tenant is None else [tenant]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


class Users:
    """The `app.users` API of the library; the CLI uses the same object."""

    def __init__(self, db: Database, *, min_length: int = 8, require_complexity: bool = True,
                 bus: Bus | None = None) -> None:
        self.db = db
        self.min_length = min_length
        self.require_complexity = require_complexity
        self.changed: list[Callable[[str], None]] = []   # told the user id after a role/tenant/activity change
        # the other worker processes are told too (their principal caches and open sockets follow)
        self.bus = bus or Bus()
        self.bus.on("users.changed", lambda user_id, sender: self._tell(user_id))

    def _notify(self, user_id: str) -> None:
        self._tell(user_id)
        self.bus.send("users.changed", user_id)

    def _tell(self, user_id: str) -> None:
        for listener in self.changed:
            listener(user_id)

    def check_password(self, password: object) -> None:
        """The password policy of this file's settings (``ValidationError`` with details)."""
        check_policy(password, min_length=self.min_length, require_complexity=self.require_complexity)

    async def create(self, email: str, password: str | None = None, *, role: str = "viewer",
                     tenant_id: str | None = None, first_name: str = "",
                     last_name: str = "") -> tuple[User, str | None]:
        """Create a user; returns (user, generated password or None)."""
        from atomo.storage.records import now_iso
        email = normalize_email(email)
        role = check_role(role)
        generated = None
        if password is None:
            password = generated = generate_password()
        check_policy(password, min_length=self.min_length, require_complexity=self.require_complexity)
        pw_hash = hash_password(password)
        now = now_iso()
        user = await self.db.write(lambda conn: insert_user(conn, email=email, password_hash=pw_hash, role=role,
                                                            tenant_id=tenant_id, first_name=first_name,
                                                            last_name=last_name, now=now))
        return user, generated

    async def get(self, email_or_id: str) -> User | None:
        def run(conn: sqlite3.Connection) -> User | None:
            return find_by_id(conn, email_or_id) or find_by_email(conn, email_or_id)
        return await self.db.read(run)

    async def list(self) -> list[User]:
        sql = f"SELECT {_COLUMNS} FROM users ORDER BY created_at"
        rows = await self.db.read(lambda conn: conn.execute(sql).fetchall())
        return [u for u in map(_row_to_user, rows) if u is not None]

    async def update(self, user_id: str, *, password: str | None = None, **changes: Any) -> None:
        """Change the given attributes (role, tenant_id, first_name, last_name, is_active) and/or password."""
        from atomo.storage.records import now_iso
        allowed = {"role", "tenant_id", "first_name", "last_name", "is_active"}
        if set(changes) - allowed:
            raise ValueError(f"cannot change {sorted(set(changes) - allowed)}")
        if password is not None:
            check_policy(password, min_length=self.min_length, require_complexity=self.require_complexity)
            changes["password_hash"] = hash_password(password)
        changes["updated_at"] = now_iso()
        assignments = ", ".join(f"{k} = ?" for k in changes)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(f"UPDATE users SET {assignments} WHERE id = ?", (*changes.values(), user_id))
        await self.db.write(run)
        self._notify(user_id)

    async def page(self, *, limit: int, offset: int, query: str = "",
                   tenant_scope: tuple[bool, str | None] = (False, None)) -> tuple[builtins.list[User], int]:
        """One page of users, newest first, and how many match: emails containing ``query``, inside the
        ``(scoped, tenant)`` scope of the caller (``Caller.tenant_scope``; scoped with None: untenanted only)."""
        where, params = _page_filter(query, tenant_scope)
        sql = f"SELECT {_COLUMNS} FROM users{where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"

        def run(conn: sqlite3.Connection) -> tuple[list[sqlite3.Row], int]:
            total = conn.execute(f"SELECT COUNT(*) FROM users{where}", params).fetchone()[0]
            return conn.execute(sql, (*params, limit, offset)).fetchall(), int(total)
        rows, total = await self.db.read(run)
        return [u for u in map(_row_to_user, rows) if u is not None], total

    async def change(self, user_id: str, *, role: str | None = None, is_active: bool | None = None,
                     visible: Callable[[str | None], bool] = lambda _tenant: True) -> User:
        """Change a user's role and/or activity in one writer unit. A changed role or activity revokes the
        user's sessions at once (re-activating restores none). A user that does not exist or that
        ``visible(tenant_id)`` refuses is ``NotFoundError``. Returns the user as changed."""
        from atomo.storage.records import now_iso
        role = None if role is None else check_role(role)
        now = now_iso()

        def run(conn: sqlite3.Connection) -> tuple[User, bool]:
            user = find_by_id(conn, user_id)
            if user is None or not visible(user.tenant_id):
                raise NotFoundError(f"user {user_id} not found")
            changes: dict[str, Any] = {}
            if role is not None and role != user.role:
                changes["role"] = role
            if is_active is not None and is_active != user.is_active:
                changes["is_active"] = int(is_active)
            if not changes:
                return user, False
            changes["updated_at"] = now
            assignments = ", ".join(f"{k} = ?" for k in changes)
            conn.execute(f"UPDATE users SET {assignments} WHERE id = ?", (*changes.values(), user.id))
            conn.execute("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (now, user.id))
            changed = find_by_id(conn, user.id)
            assert changed is not None
            return changed, True
        user, changed = await self.db.write(run)
        if changed:
            self._notify(user.id)
        return user

    async def set_password(self, email_or_id: str, password: str) -> None:
        from atomo.storage.records import now_iso
        check_policy(password, min_length=self.min_length, require_complexity=self.require_complexity)
        pw_hash = hash_password(password)
        now = now_iso()

        def run(conn: sqlite3.Connection) -> None:
            cur = conn.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? OR email = ?",
                               (pw_hash, now, email_or_id, email_or_id.strip().lower()))
            if cur.rowcount == 0:
                raise NotFoundError(f"user {email_or_id} not found")
        await self.db.write(run)

    async def deactivate(self, email_or_id: str) -> None:
        from atomo.storage.records import now_iso
        now = now_iso()

        def run(conn: sqlite3.Connection) -> str:
            user = find_by_id(conn, email_or_id) or find_by_email(conn, email_or_id)
            if user is None:
                raise NotFoundError(f"user {email_or_id} not found")
            conn.execute("UPDATE users SET is_active = 0, updated_at = ? WHERE id = ?", (now, user.id))
            conn.execute("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (now, user.id))
            return user.id
        self._notify(await self.db.write(run))
