"""``GET /metrics`` (configuration chapter §3) of a real `atomo serve`, parsed with ``prometheus_client``'s own
text-format parser after a scripted load: the values the load implies, the label sets, the content type,
``ATOMO_METRICS_TOKEN``, and bounded label values under requests a client chooses freely."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import ADMIN_EMAIL, ROOT, ServerProcess, login, server_env

METRICS_TOKEN = "metrics-token-for-tests-1"
CREATES, READS = 5, 3
CREATE = "mutation CreateContact($d: JSON!) { create(model: \"Contact\", data: $d) }"
COUNT = "query CountContacts { count(model: \"Contact\") }"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def project(folder: Path) -> Path:
    """The sample schema without its seed: the data holds only what a test writes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.ts").write_text((ROOT / "sample-data" / "schema.ts").read_text())
    return folder


def scrape(base_url: str, token: str | None = METRICS_TOKEN, client: httpx.Client | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return (client or httpx).get(base_url + "/metrics", headers=headers, timeout=30.0)  # type: ignore[attr-defined]


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, sorted labels), and every family's type."""
    samples: Samples = {}
    types = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for (n, labels) in samples if n == name and label in dict(labels)}


def gql(client: httpx.Client, base_url: str, query: str, variables: dict[str, Any] | None = None, *,
        token: str, operation: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query, "variables": variables}
    if operation is not None:
        body["operationName"] = operation
    response = client.post(base_url + "/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def metered(start_server: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[ServerProcess]:
    yield start_server(project(tmp_path / "metered"), env=server_env(ATOMO_METRICS_TOKEN=METRICS_TOKEN))


def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


async def open_subscription(base_url: str, token: str) -> Any:
    ws = await websockets.connect(base_url.replace("http", "ws") + "/graphql/ws", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"type": "subscribe", "id": "s1", "payload": {
        "query": 'subscription Watch { modelChanges(model: "Contact") { position } }'}}))
    return ws


def test_a_scripted_load_shows_in_the_metrics(metered: ServerProcess) -> None:
    base = metered.base_url
    with httpx.Client(timeout=30.0) as client:
        token = login(base)
        failed = client.post(base + "/auth/login", json={"email": ADMIN_EMAIL, "password": "not-the-password-1"})
        assert failed.status_code == 401
        for i in range(CREATES):
            created = gql(client, base, CREATE, {"d": {"firstName": f"Ada{i}", "lastName": "Lovelace"}}, token=token)
            assert "errors" not in created, created
        for _ in range(READS):
            assert gql(client, base, COUNT, token=token)["data"]["count"] == CREATES
        broken = gql(client, base, "query Broken { noSuchField }", token=token, operation="Broken")
        assert broken["errors"]
        assert client.get(base + "/no/such/path/12345").status_code == 404
        assert client.get(base + "/jobs/not-a-job", headers={"Authorization": f"Bearer {token}"}).status_code == 404

        async def with_subscription() -> Samples:
            ws = await open_subscription(base, token)
            try:
                await asyncio.sleep(0.3)
                samples, _ = parse(scrape(base).text)
                return samples
            finally:
                await ws.close()
        live = asyncio.run(with_subscription())
        assert value(live, "graphql_subscriptions_active") == 1

        until(lambda: value(parse(scrape(base).text)[0], "events_appended_total", model="Contact") == CREATES)
        response = scrape(base)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples, types = parse(response.text)

    # the four reference series
    assert value(samples, "graphql_requests_total", operation="CreateContact", status="ok") == CREATES
    assert value(samples, "graphql_requests_total", operation="CountContacts", status="ok") == READS
    assert value(samples, "graphql_requests_total", operation="Broken", status="error") == 1
    assert value(samples, "graphql_request_duration_seconds_count", operation="CreateContact") == CREATES
    assert value(samples, "graphql_request_duration_seconds_bucket", operation="CreateContact", le="+Inf") == CREATES
    assert value(samples, "db_up") == 1
    assert value(samples, "db_ping_duration_seconds") > 0
    (info,) = [labels for (name, labels) in samples if name == "atomo_build_info"]
    assert dict(info).keys() == {"version", "commit"} and value(samples, "atomo_build_info", **dict(info)) == 1

    # HTTP: by route template, never the raw path
    posts = CREATES + READS + 1
    assert value(samples, "http_requests_total", method="POST", route="/graphql", status="200") == posts
    assert value(samples, "http_request_duration_seconds_count", method="POST", route="/graphql") == posts
    assert value(samples, "http_requests_total", method="POST", route="/auth/login", status="200") == 1
    assert value(samples, "http_requests_total", method="POST", route="/auth/login", status="401") == 1
    assert value(samples, "http_requests_total", method="GET", route="unmatched", status="404") == 1
    jobs_route = [dict(labels)["route"] for (name, labels) in samples
                  if name == "http_requests_total" and dict(labels).get("route", "").startswith("/jobs/")]
    assert jobs_route and all("{" in route for route in jobs_route), jobs_route
    assert not any("12345" in route or "not-a-job" in route for route in label_values(samples, "http_requests_total",
                                                                                         "route"))
    assert value(samples, "http_requests_total", method="GET", route="/metrics", status="200") >= 2

    # auth and limiters (the general limiter is off here: RATE_LIMIT_RPS=0)
    assert value(samples, "auth_logins_total", outcome="success") == 1
    assert value(samples, "auth_logins_total", outcome="failure") == 1
    assert value(samples, "auth_logins_total", outcome="limited") == 0
    assert label_values(samples, "rate_limited_total", "limiter") == {"general", "login", "realtime"}
    assert value(samples, "rate_limited_total", limiter="general") == 0

    # storage: writer, WAL, event log
    transactions = value(samples, "db_write_transactions_total")
    assert transactions >= CREATES
    assert value(samples, "db_write_batch_size_count") == transactions
    assert value(samples, "db_write_batch_size_sum") >= transactions
    assert value(samples, "db_write_commit_duration_seconds_count") == transactions
    assert value(samples, "db_write_queue_depth") == 0
    assert value(samples, "db_wal_bytes") >= 0 and types["db_wal_bytes"] == "gauge"
    assert types["db_checkpoints"] == "counter"
    assert value(samples, "events_appended_total", model="Contact") == CREATES
    assert value(samples, "events_last_position") >= CREATES

    # jobs: every Contact created enqueued sendWelcomeEmail on the actions queue; no worker ran them
    assert value(samples, "jobs_enqueued_total", queue="actions") == CREATES
    assert value(samples, "jobs_queued", queue="actions") == CREATES
    assert value(samples, "jobs_leased", queue="actions") == 0
    assert value(samples, "jobs_oldest_queued_seconds") >= 0
    assert types["jobs_finished"] == "counter" and types["jobs_reclaimed"] == "counter"
    assert types["jobs_dead"] == "gauge"

    # realtime and the process
    for name in ("realtime_connections_active", "realtime_channels_active", "realtime_sessions_active"):
        assert types[name] == "gauge" and value(samples, name) == 0
    for name in ("realtime_messages_published", "realtime_messages_delivered", "realtime_dropped_frames"):
        assert types[name] == "counter"
    assert value(samples, "graphql_subscriptions_active") == 0
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_start_time_seconds") > 0
    assert types["http_request_duration_seconds"] == "histogram"
    buckets = sorted(float(dict(labels)["le"]) for (name, labels) in samples
                     if name == "http_request_duration_seconds_bucket" and dict(labels)["route"] == "/graphql")
    assert buckets == [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")]
    batch = sorted(float(dict(labels)["le"]) for (name, labels) in samples if name == "db_write_batch_size_bucket")
    assert batch == [1, 2, 4, 8, 16, 32, 64, 128, 256, float("inf")]


def test_the_metrics_token_is_required_when_set(metered: ServerProcess) -> None:
    base = metered.base_url
    for token in (None, "wrong-token", METRICS_TOKEN + "x"):
        refused = scrape(base, token)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "UNAUTHENTICATED"
        assert "db_up" not in refused.text
    jwt = login(base)
    assert scrape(base, jwt).status_code == 401          # a JWT is not the metrics token
    assert scrape(base).status_code == 200


def test_without_a_token_the_metrics_are_open(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(project(tmp_path / "open"))
    response = scrape(server.base_url, None)
    assert response.status_code == 200 and "db_up 1.0" in response.text


def test_refusals_of_the_general_limiter_are_counted(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(project(tmp_path / "limited"), env=server_env(RATE_LIMIT_RPS="3",
                                                                         RATE_LIMIT_WINDOW_SECS="3600"))
    statuses = [httpx.get(server.base_url + "/version", timeout=30.0).status_code for _ in range(5)]
    assert statuses.count(429) >= 2
    refused = statuses.count(429)
    # scraped from another loopback address: the limiter counts per client IP, and /metrics is limited too
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30.0) as other:
        samples, _ = parse(scrape(server.base_url, None, other).text)
    assert value(samples, "rate_limited_total", limiter="general") == refused
    assert value(samples, "http_requests_total", method="GET", route="/version", status="429") == refused


def test_client_chosen_names_and_paths_do_not_grow_the_label_sets(metered: ServerProcess) -> None:
    base = metered.base_url
    token = login(base)
    with httpx.Client(timeout=30.0, headers={"Authorization": f"Bearer {token}"}) as client:
        for i in range(1000):
            name = f"Op{i}"
            answer = client.post(base + "/graphql", json={"query": f"query {name} {{ __typename }}",
                                                          "operationName": name})
            assert answer.status_code == 200
            assert client.get(f"{base}/unknown-{i}/x").status_code == 404
            assert client.request(f"VERB{i}", f"{base}/version").status_code in (400, 405)
    samples, _ = parse(scrape(base).text)
    operations = label_values(samples, "graphql_requests_total", "operation")
    assert len(operations) <= 201 and "other" in operations
    assert value(samples, "graphql_requests_total", operation="other", status="ok") >= 1000 - 200
    routes = label_values(samples, "http_requests_total", "route")
    assert not any(route.startswith("/unknown-") for route in routes), routes
    assert len(routes) < 20, routes
    methods = label_values(samples, "http_requests_total", "method")
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
