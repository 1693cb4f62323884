"""GraphQL fixtures: an engine built for the opened CRM sample, and a helper to run documents."""

from __future__ import annotations

from typing import Any

import pytest

from atomo import Atomo
from atomo.auth.principal import ANONYMOUS, Caller, Principal
from atomo.graphql.engine import ExecutionOutcome, GraphQLEngine
from tests.conftest import settings

ADMIN = Caller(Principal(user_id="u-admin", email="admin@example.com", role="admin"))
SALES = Caller(Principal(user_id="u-sales", email="sales@example.com", role="sales"))
ANON = Caller(principal=ANONYMOUS)


class Runner:
    """Runs documents through one engine against one opened Atomo."""

    def __init__(self, engine: GraphQLEngine, app: Atomo) -> None:
        self.engine = engine
        self.app = app

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None,
                       *, caller: Caller = ADMIN, request_id: str | None = "req-1") -> ExecutionOutcome:
        return await self.engine.execute(query, variables, operation_name, service=self.app.runtime.data,
                                         caller=caller, request_id=request_id)

    async def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        """The ``data`` of a run that must succeed without errors."""
        outcome = await self(query, variables, **kw)
        assert not outcome.document_error, outcome.body
        assert "errors" not in outcome.body, outcome.body
        return outcome.body["data"]


@pytest.fixture
async def engine(crm: Atomo) -> GraphQLEngine:
    return await GraphQLEngine.build(crm.runtime.schema, crm.runtime.settings)


@pytest.fixture
def gql(engine: GraphQLEngine, crm: Atomo) -> Runner:
    return Runner(engine, crm)


async def build_engine(app: Atomo, **overrides: Any) -> GraphQLEngine:
    return await GraphQLEngine.build(app.runtime.schema, settings(**overrides))
