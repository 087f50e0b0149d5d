"""The RM server for real (uvicorn on 127.0.0.1) and its retrying client."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from reward_helpers import PAIRS, ServerThread, free_port

from selfif.reward.client import RMClient, RMClientError
from selfif.reward.data import load_pairs
from selfif.reward.server import ServerLimits

LIMITS = ServerLimits(max_body_bytes=64 * 1024, max_items=16, batch_window_ms=150.0, max_batch_items=256)


@pytest.fixture(scope="module")
def server(loaded_rm):
    srv = ServerThread(loaded_rm, free_port(), LIMITS).start()
    yield srv
    srv.stop()


def _items(n: int, offset: int = 0):
    pairs = load_pairs(PAIRS)
    return [(p.response, p.constraint.text, p.instruction) for p in pairs[offset : offset + n]]


def test_concurrent_clients_get_in_process_scores_in_few_batches(server, loaded_rm):
    n_clients = 6
    chunks = [_items(4, 4 * k) for k in range(n_clients)]
    expected = [loaded_rm.score(c) for c in chunks]
    before = httpx.get(server.url + "/health").json()["batches"]
    results: list = [None] * n_clients
    barrier = threading.Barrier(n_clients)

    def work(k):
        with RMClient(server.url, retries=0, max_items=16) as client:
            barrier.wait()
            results[k] = client.score(chunks[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for got, want in zip(results, expected):
        assert got == pytest.approx(want, abs=1e-4)
    batches = httpx.get(server.url + "/health").json()["batches"] - before
    assert 1 <= batches < n_clients  # concurrent requests shared forward passes


def test_client_splits_long_lists_at_the_server_limit(server, loaded_rm):
    items = _items(40)
    with RMClient(server.url, retries=0) as client:
        assert client.max_items == 16
        assert client.score(items) == pytest.approx(loaded_rm.score(items), abs=1e-4)


def test_oversize_body_is_rejected_with_413_before_parsing(server):
    big = json.dumps({"items": [{"response": "x" * (70 * 1024), "constraint": "c"}]})
    r = httpx.post(server.url + "/score", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunked():  # no Content-Length: the cap is enforced while streaming
        for _ in range(80):
            yield b" " * 1024

    r = httpx.post(server.url + "/score", content=chunked())
    assert r.status_code == 413


def test_too_many_items_is_413(server):
    body = {"items": [{"response": "r", "constraint": "c"}] * 17}
    r = httpx.post(server.url + "/score", json=body)
    assert r.status_code == 413 and "17 items" in r.json()["detail"]
    with RMClient(server.url, retries=0, max_items=100) as client, pytest.raises(RMClientError, match="413"):
        client.score([("r", "c")] * 17)


def test_malformed_json_and_missing_field_are_422_with_a_reason(server):
    r = httpx.post(server.url + "/score", content=b'{"items": [', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    r = httpx.post(server.url + "/score", json={"items": [{"response": "hello"}]})
    assert r.status_code == 422 and "constraint" in r.json()["detail"]
    r = httpx.post(server.url + "/score", json={"items": [{"response": "a", "constraint": "b", "extra": 1}]})
    assert r.status_code == 422 and "extra" in r.json()["detail"]


def test_client_retries_through_a_server_restart(loaded_rm):
    port = free_port()
    first = ServerThread(loaded_rm, port, LIMITS).start()
    items = _items(3)
    with RMClient(first.url, retries=10, backoff=0.05, max_backoff=0.4, max_items=16) as client:
        assert client.score(items) == pytest.approx(loaded_rm.score(items), abs=1e-4)
        first.stop()
        restarted: list = []
        timer = threading.Timer(0.6, lambda: restarted.append(ServerThread(loaded_rm, port, LIMITS).start()))
        timer.start()
        t0 = time.time()
        got = client.score(items)  # connection refused at first, then backoff until the new server answers
        timer.join()
        assert time.time() - t0 >= 0.5
        assert got == pytest.approx(loaded_rm.score(items), abs=1e-4)
        restarted[0].stop()


def test_client_gives_up_with_a_clear_error_when_nothing_listens():
    with RMClient(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01, max_items=4) as client:
        with pytest.raises(RMClientError, match="after 2 attempts"):
            client.score([("r", "c")])
