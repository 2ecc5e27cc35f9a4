"""The token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from cds_service.app.rate_limiter import RateLimited, RateLimiter, peer_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_next_call_waits_for_a_token():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        limiter.acquire("a")
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("a")
    assert refused.value.status == 429 and refused.value.retry_after == 1
    clock.now += 1.0
    limiter.acquire("a")


def test_retry_after_is_the_whole_seconds_until_a_token():
    clock = Clock()
    limiter = RateLimiter(per_minute=6, burst=1, clock=clock)  # one token per 10 s
    limiter.acquire("a")
    clock.now += 2.5
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("a")
    assert refused.value.retry_after == 8


def test_clients_have_separate_buckets():
    limiter = RateLimiter(per_minute=60, burst=1, clock=Clock())
    limiter.acquire("a")
    limiter.acquire("b")
    with pytest.raises(RateLimited):
        limiter.acquire("a")


def test_a_bucket_never_holds_more_than_the_burst():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    clock.now += 3600
    limiter.acquire("a")
    limiter.acquire("a")
    with pytest.raises(RateLimited):
        limiter.acquire("a")


def test_refused_calls_do_not_spend_tokens():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock)
    limiter.acquire("a")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.acquire("a")
    clock.now += 1.0
    limiter.acquire("a")


def test_memory_stays_bounded_under_many_clients(monkeypatch):
    monkeypatch.setattr("cds_service.app.rate_limiter._MAX_BUCKETS", 100)
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=5, clock=clock)
    for n in range(1000):
        limiter.acquire(f"peer {n}")
        clock.now += 0.001
    assert len(limiter._buckets) <= 100
    # A client still within its window keeps its spent tokens when others come and go.
    limiter.acquire("busy")
    for _ in range(4):
        limiter.acquire("busy")
    with pytest.raises(RateLimited):
        limiter.acquire("busy")


def test_check_refuses_an_empty_bucket_without_spending_and_spend_never_refuses():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    limiter.check("peer")  # unknown: a full bucket
    limiter.spend("peer")
    limiter.check("peer")
    limiter.spend("peer")
    with pytest.raises(RateLimited) as refused:
        limiter.check("peer")
    assert refused.value.retry_after == 1
    limiter.spend("peer")  # nothing left to take, and no exception
    clock.now += 1.0
    limiter.check("peer")


def _request(host: str) -> Request:
    return Request({"type": "http", "client": (host, 40000), "headers": []})


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "peer 203.0.113.7"),
        ("::ffff:203.0.113.7", "peer 203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "peer 2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "peer 2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "peer 2001:db8:1:3::/64"),
        ("not-an-address", "peer not-an-address"),
    ],
)
def test_ipv6_peers_count_per_64(host, key):
    """A host given a /64 cannot rotate its address for a fresh bucket."""
    assert peer_key(_request(host)) == key
