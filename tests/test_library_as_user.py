"""``app.as_user(who, tenant=None, *, role=None)``: a user id, an email or an access token, and the expiry of
tokens and sessions under a frozen clock (no sleeping)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atomo import Atomo
from atomo.auth.authenticator import TokenAuthenticator
from atomo.auth.login import LoginResult, LoginService
from atomo.auth.refresh import logout, refresh
from atomo.auth.tokens import INVALID_TOKEN, TokenService
from atomo.errors import PermissionDeniedError, UnauthenticatedError
from tests.conftest import SAMPLE, settings

PASSWORD = "Sales-pass-42"
AT = "2030-01-01T00:00:00Z"


async def login(app: Atomo, email: str, password: str = PASSWORD) -> LoginResult:
    service = LoginService(app.runtime.db, app.tokens, session_ttl_secs=app.runtime.settings.session_ttl_secs)
    return await service.login(email, password)


@pytest.fixture
async def short(project: Path) -> AsyncIterator[Atomo]:
    """The CRM sample with a one-hour token and a two-hour session."""
    async with Atomo(project, settings=settings(jwt_ttl_secs=3600, session_ttl_secs=7200)) as opened:
        await opened.runtime.seed_file(SAMPLE / "seed.json")
        yield opened


# -- the three forms ---------------------------------------------------------------------------------
async def test_as_user_by_id_email_or_token(crm: Atomo) -> None:
    user, _ = await crm.users.create("Sales@Example.com", PASSWORD, role="sales")
    token = (await login(crm, "sales@example.com")).token
    for who in (user.id, "sales@example.com", "  SALES@example.COM ", token):
        handle = crm.as_user(who)
        deal = await handle.create("Deal", {"title": f"Mine {len(who)}", "companyId": "c-1", "ownerId": user.id})
        assert (await crm.history("Deal", deal["id"]))[0].actor == user.id
        with pytest.raises(PermissionDeniedError):                  # sales may not update others' deals
            await handle.update("Deal", id="d-1", data={"value": 5})
        with pytest.raises(PermissionDeniedError):                  # nor delete companies
            await handle.delete("Company", id="c-1")
    assert await crm.as_user(token, role="viewer").count("Deal") == 8  # role= overrides, as for ids
    with pytest.raises(PermissionDeniedError):
        await crm.as_user(token, role="viewer").create("Company", {"name": "Nope"})


async def test_unknown_or_inactive_users_and_bad_tokens_are_unauthenticated(crm: Atomo) -> None:
    user, _ = await crm.users.create("gone@example.com", PASSWORD, role="sales")
    token = (await login(crm, "gone@example.com")).token
    with pytest.raises(UnauthenticatedError, match="no user with id or email 'nobody@example.com'"):
        await crm.as_user("nobody@example.com").count("Deal")
    with pytest.raises(UnauthenticatedError, match="no user with id or email '01NOSUCHUSER'"):
        await crm.as_user("01NOSUCHUSER").records("Deal")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(UnauthenticatedError) as info:
        await crm.as_user(forged).count("Deal")
    assert info.value.message == INVALID_TOKEN
    foreign, _ = TokenService("x" * 64).issue(user_id=user.id, email=user.email, role="sales", session_id="s")
    with pytest.raises(UnauthenticatedError):                       # signed with another key
        await crm.as_user(foreign).count("Deal")
    assert await crm.as_user(token).count("Deal") == 4
    await crm.users.deactivate(user.id)                             # revokes the sessions too
    with pytest.raises(UnauthenticatedError, match="inactive"):
        await crm.as_user(user.id).count("Deal")
    with pytest.raises(UnauthenticatedError) as info:
        await crm.as_user(token).count("Deal")
    assert info.value.message == INVALID_TOKEN


async def test_a_revoked_session_refuses_its_token_at_once(crm: Atomo) -> None:
    await crm.users.create("out@example.com", PASSWORD, role="sales")
    session = await login(crm, "out@example.com")
    handle = crm.as_user(session.token)
    assert await handle.count("Deal") == 4
    await logout(crm.runtime.db, user_id=session.user.id, session_id=session.session_id)
    with pytest.raises(UnauthenticatedError):                       # the same handle: every call re-checks
        await handle.count("Deal")


async def test_tenancy_follows_the_users_binding_like_http(crm: Atomo) -> None:
    bound, _ = await crm.users.create("ops@acme.test", PASSWORD, role="sales", tenant_id="acme")
    await crm.users.create("free@example.com", PASSWORD, role="sales")
    admin, _ = await crm.users.create("root@example.com", PASSWORD, role="admin")
    token = (await login(crm, "ops@acme.test")).token
    made = await crm.as_user(token).create("Company", {"name": "Acme Local"})
    assert made["tenantId"] == "acme"
    for who in (token, bound.id, "OPS@acme.test"):
        assert [c["name"] for c in await crm.as_user(who).records("Company")] == ["Acme Local"]
        assert await crm.as_user(who, tenant="acme").count("Company") == 1
        with pytest.raises(PermissionDeniedError, match="tenant does not match your tenant"):
            await crm.as_user(who, tenant="globex").count("Company")
    free = (await login(crm, "free@example.com")).token
    assert await crm.as_user(free).count("Company") == 3              # untenanted rows only
    with pytest.raises(PermissionDeniedError, match="tenant is only for admins"):
        await crm.as_user(free, tenant="acme").count("Company")
    assert await crm.as_user(admin.id).count("Company") == 4          # unbound admin: unscoped
    assert await crm.as_user(admin.id, tenant="acme").count("Company") == 1


# -- expiry under a frozen clock ---------------------------------------------------------------------
async def test_access_token_expires_without_sleeping(short: Atomo) -> None:
    await short.users.create("exp@example.com", PASSWORD, role="sales")
    with short.clock.frozen(at=AT) as clock:
        session = await login(short, "exp@example.com")
        assert session.expires_in == 3600
        handle = short.as_user(session.token)
        assert await handle.count("Deal") == 4
        clock.advance(3599)
        assert await handle.count("Deal") == 4
        clock.advance(1)                                            # exp == now: expired (no leeway)
        with pytest.raises(UnauthenticatedError) as info:
            await handle.count("Deal")
        assert info.value.message == INVALID_TOKEN
        with pytest.raises(UnauthenticatedError):
            await short.as_user(session.token).count("Deal")
        renewed = await refresh(short.runtime.db, short.tokens, session.refresh_token, session_ttl_secs=7200)
        assert await short.as_user(renewed.token).count("Deal") == 4    # the session (2 h) is still live


async def test_the_session_ends_before_the_token(project: Path) -> None:
    async with Atomo(project, settings=settings(jwt_ttl_secs=7200, session_ttl_secs=600)) as app:
        await app.users.create("s@example.com", PASSWORD, role="sales")
        with app.clock.frozen(at=AT) as clock:
            session = await login(app, "s@example.com")
            assert await app.as_user(session.token).count("Deal") == 0
            clock.advance(601)                                      # token valid for 2 h, session over
            with pytest.raises(UnauthenticatedError):
                await app.as_user(session.token).count("Deal")
            with pytest.raises(UnauthenticatedError, match="invalid or expired refresh token"):
                await refresh(app.runtime.db, app.tokens, session.refresh_token, session_ttl_secs=600)


async def test_refresh_extends_the_session_from_the_frozen_now(short: Atomo) -> None:
    await short.users.create("r@example.com", PASSWORD, role="sales")
    with short.clock.frozen(at=AT) as clock:
        session = await login(short, "r@example.com")
        clock.advance(7000)                                         # 200 s of the session left
        renewed = await refresh(short.runtime.db, short.tokens, session.refresh_token, session_ttl_secs=7200)
        clock.advance(3599)                                         # past the first session end, new token live
        assert await short.as_user(renewed.token).count("Deal") == 4
        clock.advance(1)
        with pytest.raises(UnauthenticatedError):
            await short.as_user(renewed.token).count("Deal")


async def test_principal_cache_ttl_and_token_exp_follow_the_clock(short: Atomo,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The verification the HTTP layer uses: a cached token skips verification until the cache TTL (10 s)
    or the token's exp, whichever comes first."""
    await short.users.create("c@example.com", PASSWORD, role="sales")
    auth = TokenAuthenticator(short.runtime.db, short.tokens)
    verified: list[str] = []
    verify = short.tokens.verify
    monkeypatch.setattr(short.tokens, "verify", lambda token, **kw: verified.append(token) or verify(token, **kw))
    with short.clock.frozen(at=AT) as clock:
        token = (await login(short, "c@example.com")).token
        principal = await auth.principal_for_token(token)
        assert principal.email == "c@example.com" and len(verified) == 1
        clock.advance(9.999)
        assert await auth.principal_for_token(token) == principal and len(verified) == 1     # cached
        clock.advance(0.001)
        assert await auth.principal_for_token(token) == principal and len(verified) == 2     # TTL over
        clock.advance(3600 - 10 - 5)
        await auth.principal_for_token(token)                       # cached again, now only until exp
        assert len(verified) == 3 and len(auth.cache) == 1
        clock.advance(5)
        with pytest.raises(UnauthenticatedError):
            await auth.principal_for_token(token)
        assert len(verified) == 4 and len(auth.cache) == 0
