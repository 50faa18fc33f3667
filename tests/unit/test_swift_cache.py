"""The embedded Swift proxy's in-process cache keeps memcached's semantics."""

from __future__ import annotations

from typing import Any

from dataspace.stack.swift_cache import RELATIVE_EXPIRY_LIMIT, CacheMiddleware, ProcessCache


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_values_round_trip_as_json_and_readers_get_their_own_copy() -> None:
    cache = ProcessCache()
    cache.set("container/acct/bucket", {"status": 204, "meta": {"a": "1"}})
    first = cache.get("container/acct/bucket")
    first["meta"]["a"] = "changed by a caller"
    assert cache.get("container/acct/bucket") == {"status": 204, "meta": {"a": "1"}}
    cache.set("raw", b"\x00bytes", serialize=False)
    assert cache.get("raw") == b"\x00bytes"
    assert cache.get("missing") is None


def test_expiry_is_relative_below_thirty_days_and_absolute_above() -> None:
    clock = Clock()
    cache = ProcessCache(clock=clock)
    cache.set("relative", 1, time=60)
    cache.set("absolute", 2, time=clock.now + RELATIVE_EXPIRY_LIMIT + 10)
    cache.set("forever", 3)
    clock.now += 59
    assert cache.get("relative") == 1
    clock.now += 2
    assert cache.get("relative") is None
    assert cache.get("absolute") == 2
    clock.now += RELATIVE_EXPIRY_LIMIT + 10
    assert cache.get("absolute") is None
    assert cache.get("forever") == 3


def test_incr_and_decr_count_from_delta_and_stop_at_zero() -> None:
    cache = ProcessCache()
    assert cache.incr("hits", 5) == 5
    assert cache.incr("hits") == 6
    assert cache.decr("hits", 10) == 0
    assert cache.decr("new") == 0
    assert cache.get("hits") == b"0"


def test_delete_and_the_multi_calls() -> None:
    cache = ProcessCache()
    cache.set_multi({"a": 1, "b": [2]}, "server-key", time=30)
    assert cache.get_multi(["a", "b", "c"], "server-key") == [1, [2], None]
    cache.delete("a")
    assert cache.get("a") is None


def test_the_least_recently_used_key_goes_first_when_full() -> None:
    cache = ProcessCache(max_entries=2)
    cache.set("old", 1)
    cache.set("used", 2)
    cache.get("old")
    cache.set("new", 3)
    assert cache.get_multi(["old", "used", "new"], "") == [1, None, 3]


def test_the_middleware_hands_every_request_the_same_cache() -> None:
    seen: list[Any] = []

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(env["swift.cache"])
        return []

    cache = ProcessCache()
    middleware = CacheMiddleware(app, cache)
    middleware({}, None)
    middleware({}, None)
    assert seen == [cache, cache]
