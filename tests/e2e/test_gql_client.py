"""The `gql` client (HTTPXAsyncTransport) against the subprocess: what real clients see."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError, TransportServerError
from gql.transport.httpx import HTTPXAsyncTransport


def request(query: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(query, variable_values=variables or None)


@pytest.fixture
async def session(base_url: str, admin_token: str) -> AsyncIterator[Any]:
    transport = HTTPXAsyncTransport(url=base_url + "/graphql", headers={"Authorization": f"Bearer {admin_token}"})
    async with Client(transport=transport, fetch_schema_from_transport=False) as opened:
        yield opened


async def test_crud_round_trip(session: Any) -> None:
    rid = f"gql-{uuid.uuid4()}"
    created = await session.execute(request('mutation New($data: JSON!) { create(model: "Contact", data: $data) }',
                                            data={"id": rid, "firstName": "Grace", "last_name": "Hopper"}))
    assert created["create"]["lastName"] == "Hopper"
    read = await session.execute(request('query One($id: String!) { record(model: "Contact", id: $id) }', id=rid))
    assert read["record"]["id"] == rid
    updated = await session.execute(request('mutation Up($id: String, $data: JSON!) { update(model: "Contact", '
                                            'id: $id, data: $data) }', id=rid, data={"phone": "42"}))
    assert updated["update"]["_version"] == 2
    page = await session.execute(request('query P { paginatedRecords(model: "Contact", limit: 1) '
                                         '{ data pageInfo { pageSize hasNextPage } } }'))
    assert page["paginatedRecords"]["pageInfo"] == {"pageSize": 1, "hasNextPage": True}
    removed = await session.execute(request('mutation Del($id: String) { hardDelete(model: "Contact", id: $id) }',
                                            id=rid))
    assert removed["hardDelete"] == 1


async def test_field_errors_raise_query_errors_with_codes(session: Any) -> None:
    with pytest.raises(TransportQueryError) as info:
        await session.execute(request('mutation { create(model: "Deal", data: {title: "x"}) }'))
    error = info.value.errors[0]  # type: ignore[index]
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    assert {d["field"] for d in error["extensions"]["details"]} >= {"title"}


async def test_anonymous_client_gets_401(base_url: str) -> None:
    transport = HTTPXAsyncTransport(url=base_url + "/graphql")
    async with Client(transport=transport, fetch_schema_from_transport=False) as anonymous:
        assert await anonymous.execute(request("{ __typename }")) == {"__typename": "Query"}
        with pytest.raises((TransportQueryError, TransportServerError)) as info:
            await anonymous.execute(request('{ records(model: "Contact") }'))
    assert "401" in str(info.value) or "Authentication required" in str(info.value)
