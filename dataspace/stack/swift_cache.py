"""The embedded Swift proxy's cache: Swift's ``memcache`` middleware, without a memcached.

Without a cache, Swift's proxy asks the account and the container servers about the bucket on
every request (a HEAD each): two thirds of the requests the embedded store served were those,
and they took about half of its CPU (docs/adr/0014-embedded-swift-proxy-cache.md). Swift's
answer is memcached. The embedded proxy runs as one process (``workers = 0``), so a cache in
that process sees every write the proxy makes, and Swift clears the cached account and
container facts itself when it changes them, exactly as with memcached; no daemon is needed.

:class:`ProcessCache` offers the methods of ``swift.common.memcached.MemcacheRing`` that the
proxy and its middlewares call, with the same semantics: JSON-serialized values (a copy per
read, so no caller shares a mutable value), memcached's expiry times, ``incr``/``decr`` on
integers. It holds at most :data:`MAX_ENTRIES` keys, dropping the least recently used.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

MAX_ENTRIES = 100_000
# memcached reads an expiry above 30 days as a Unix time, below it as seconds from now.
RELATIVE_EXPIRY_LIMIT = 30 * 24 * 60 * 60


class ProcessCache:
    """A bounded, thread-safe key-value cache with memcached's semantics (see the module)."""

    def __init__(
        self, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.time
    ) -> None:
        self._entries: OrderedDict[str, tuple[bytes, bool, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._clock = clock

    def set(  # noqa: PLR0917 (MemcacheRing.set's signature, which Swift calls)
        self,
        key: str,
        value: Any,
        serialize: bool = True,
        time: float = 0,
        min_compress_len: int = 0,
        raise_on_error: bool = False,
    ) -> None:
        del min_compress_len, raise_on_error  # part of the MemcacheRing signature only
        if serialize:
            stored = json.dumps(value.decode() if isinstance(value, bytes) else value).encode()
        else:
            stored = value if isinstance(value, bytes) else str(value).encode()
        with self._lock:
            self._store(key, stored, serialize, self._expiry(time))

    def get(self, key: str, raise_on_error: bool = False) -> Any:
        del raise_on_error
        with self._lock:
            entry = self._live(key)
        if entry is None:
            return None
        stored, serialized, _ = entry
        return json.loads(stored) if serialized else stored

    def incr(self, key: str, delta: int = 1, time: float = 0) -> int:
        """Add ``delta`` (may be negative; memcached stops at 0); a missing key starts at it."""
        with self._lock:
            entry = self._live(key)
            current = int(entry[0]) if entry is not None else 0
            value = max(current + delta, 0) if entry is not None else max(delta, 0)
            expiry = entry[2] if entry is not None else self._expiry(time)
            self._store(key, str(value).encode(), False, expiry)
            return value

    def decr(self, key: str, delta: int = 1, time: float = 0) -> int:
        return self.incr(key, -delta, time)

    def delete(self, key: str, server_key: str | None = None) -> None:
        del server_key
        with self._lock:
            self._entries.pop(key, None)

    def set_multi(
        self,
        mapping: Mapping[str, Any],
        server_key: str,
        serialize: bool = True,
        time: float = 0,
        min_compress_len: int = 0,
    ) -> None:
        del server_key, min_compress_len
        for key, value in mapping.items():
            self.set(key, value, serialize=serialize, time=time)

    def get_multi(self, keys: Iterable[str], server_key: str) -> list[Any]:
        del server_key
        return [self.get(key) for key in keys]

    def _expiry(self, seconds: float) -> float:
        if seconds <= 0:
            return float("inf")
        if seconds > RELATIVE_EXPIRY_LIMIT:
            return float(seconds)
        return self._clock() + seconds

    def _live(self, key: str) -> tuple[bytes, bool, float] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[2] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: str, stored: bytes, serialized: bool, expiry: float) -> None:
        self._entries[key] = (stored, serialized, expiry)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class CacheMiddleware:
    """Puts the process's cache where Swift looks for memcache (``env['swift.cache']``)."""

    def __init__(self, app: Callable[..., Any], cache: ProcessCache) -> None:
        self.app, self.cache = app, cache

    def __call__(self, env: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        env["swift.cache"] = self.cache
        return self.app(env, start_response)


def filter_factory(global_conf: dict[str, str], **local_conf: str) -> Callable[..., Any]:
    """paste.deploy's entry: ``[filter:cache]`` with ``paste.filter_factory = <this>``."""
    del global_conf
    cache = ProcessCache(int(local_conf.get("max_entries", MAX_ENTRIES)))
    return lambda app: CacheMiddleware(app, cache)
