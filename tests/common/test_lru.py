"""The one LRU cache of the platform's in-process caches."""

from common.lru import Lru


def test_least_recently_used_goes_first_within_the_weight():
    cache = Lru(10, weigh=len)
    cache.put("a", "xxxx")
    cache.put("b", "xxxx")
    assert cache.get("a") == "xxxx"  # a is now the most recent
    cache.put("c", "xxxx")  # 12 > 10: b, the least recent, goes
    assert cache.get("b") is None
    assert cache.get("a") == "xxxx" and cache.get("c") == "xxxx"
    cache.put("d", "x" * 11)  # heavier than the whole cache: not kept, nothing evicted
    assert cache.get("d") is None and cache.get("a") == "xxxx"
    cache.clear()
    assert cache.get("a") is None


def test_a_callable_capacity_is_read_at_each_put():
    size = {"n": 2}
    cache = Lru(lambda: size["n"])
    for key in "abc":
        cache.put(key, key)
    assert [cache.get(k) for k in "abc"] == [None, "b", "c"]
    size["n"] = 1
    cache.put("d", "d")
    assert [cache.get(k) for k in "bcd"] == [None, None, "d"]
