"""Requests carrying a valid worker token are not rate limited; everything else still is."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.jobs.kit import Api, make_project, start


def test_worker_token_requests_are_not_counted(tmp_path: Path) -> None:
    make_project(tmp_path)
    server = start(tmp_path, RATE_LIMIT_RPS="6", RATE_LIMIT_WINDOW_SECS="3600")
    try:
        admin = Api(server.base_url)   # login + token creation take 2 of the 6 tokens
        token = admin.worker_token()
        statuses = [httpx.post(server.base_url + "/jobs/lease", headers={"x-worker-token": token},
                               json={"queues": ["actions"], "capacity": 1}).status_code for _ in range(20)]
        assert 429 not in statuses and set(statuses) == {200}, statuses
        forged = [httpx.post(server.base_url + "/jobs/lease", headers={"x-worker-token": "wkr_" + "0" * 64},
                             json={"queues": ["actions"], "capacity": 1}).status_code for _ in range(8)]
        assert 429 in forged, "an invalid worker token is counted like any request"
        admin.close()
    finally:
        server.stop()
