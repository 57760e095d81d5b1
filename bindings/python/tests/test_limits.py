"""Bounds and statistics (issue 14, docs/cache-management.md): size_limit, eviction,
stats(), volume(), reset_stats()."""
import multiprocessing

import pytest

from bucketcache import Bucket, RawBackend


def test_stats_count_and_reset(cache_dir):
    with Bucket(cache_dir) as b:
        b['a'] = 1
        assert b['a'] == 1
        assert b.get('missing') is None
        s = b.stats()
        assert (s.hits, s.misses, s.writes, s.evictions, s.expired) == (1, 1, 1, 0, 0)
        assert s.entries == 1
        assert s.bytes == b.volume() > 0
        hits, misses = b.stats()[:2]
        assert (hits, misses) == (1, 1)
        before = b.stats(reset=True)
        assert before.hits == 1
        assert b.stats().hits == 0
        assert b.get('a') == 1
        b.reset_stats()
        assert b.stats()[:3] == (0, 0, 0)


def test_stats_persist_across_handles(cache_dir):
    with Bucket(cache_dir) as b:
        b['k'] = 'v'
        for _ in range(3):
            assert b['k'] == 'v'
    with Bucket(cache_dir) as b:
        assert b.stats().hits == 3


def test_size_limit_evicts_oldest(cache_dir):
    with Bucket(cache_dir, backend=RawBackend, size_limit=20000) as b:
        for i in range(100):
            b['key-%03d' % i] = b'x' * 1000
        assert b.volume() <= 20000
        assert b.get('key-099') == b'x' * 1000
        assert b.get('key-000') is None
        assert b.stats().evictions > 0


def test_size_limit_lru(cache_dir):
    with Bucket(cache_dir, backend=RawBackend, size_limit=10000, eviction='lru') as b:
        for i in range(8):
            b['key-%03d' % i] = b'x' * 1000
        assert b['key-000'] == b'x' * 1000
        for i in range(8, 12):
            b['key-%03d' % i] = b'x' * 1000
        assert b.volume() <= 10000
        assert 'key-000' in b
        assert 'key-001' not in b


def test_bad_limit_options(cache_dir):
    with pytest.raises(ValueError):
        Bucket(cache_dir, size_limit=-1)
    with pytest.raises(ValueError):
        Bucket(cache_dir, size_limit=True)
    with pytest.raises(ValueError):
        Bucket(cache_dir, eviction='fifo')


def _hit_worker(path, n):
    with Bucket(path) as b:
        for _ in range(n):
            assert b['k'] == 'v'
        for i in range(n):
            assert b.get('absent-%d' % i) is None


def test_counters_from_processes_add_up(cache_dir):
    with Bucket(cache_dir) as b:
        b['k'] = 'v'
        b.reset_stats()
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_hit_worker, args=(str(cache_dir), 300)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Bucket(cache_dir) as b:
        s = b.stats()
        assert (s.hits, s.misses) == (600, 600)


def _fill_worker(path, tag, n):
    with Bucket(path, backend=RawBackend, size_limit=30000) as b:
        for i in range(n):
            b['%s-%d' % (tag, i)] = b'y' * 700


def test_processes_writing_settle_within_the_limit(cache_dir):
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_fill_worker, args=(str(cache_dir), 'p%d' % p, 150))
             for p in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Bucket(cache_dir, backend=RawBackend) as b:
        s = b.stats()
        assert s.bytes <= 30000
        assert s.writes == 450
        assert s.entries + s.evictions == 450
