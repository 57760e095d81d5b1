"""Memoization options (issue 14, docs/memoize.md): per-call bucketcache__max_age=,
bucketcache__refresh=, bucketcache__skip_cache= (cachier's convention) beside nocache=,
disable()/enable() and BUCKETCACHE_DISABLE, entry_size_limit=, and stale-while-revalidate
(stale_ttl=), whose refresh calls the function on a library thread."""
import os
import threading
import time
from datetime import timedelta

import pytest

import bucketcache
from bucketcache import Bucket, DeferredWriteBucket


def counted(bucket, **decorator_args):
    calls = []

    def f(x):
        calls.append(x)
        return '%s-%d' % (x, len(calls))

    f.__qualname__ = 'counted_f'
    return (bucket(**decorator_args)(f) if decorator_args else bucket(f)), calls


def test_per_call_refresh_and_skip_cache(cache_dir):
    with Bucket(cache_dir) as b:
        f, calls = counted(b)
        assert f('a') == 'a-1'
        assert f('a') == 'a-1'
        assert f('a', bucketcache__refresh=True) == 'a-2'
        assert f('a') == 'a-2'  # overwritten
        assert f('a', bucketcache__skip_cache=True) == 'a-3'
        assert f('a') == 'a-2'  # neither read nor written
        assert f('b', bucketcache__skip_cache=True) == 'b-4'
        assert f.cache_key('b') not in b  # nothing stored
        assert len(calls) == 4
        with pytest.raises(TypeError):
            f('a', bucketcache__bogus=True)


def test_per_call_max_age(cache_dir):
    with Bucket(cache_dir) as b:
        f, calls = counted(b)
        assert f('a') == 'a-1'
        time.sleep(0.02)
        assert f('a', bucketcache__max_age=3600) == 'a-1'
        assert f('a', bucketcache__max_age=timedelta(hours=1)) == 'a-1'
        assert f('a', bucketcache__max_age=0.005) == 'a-2'
        assert f('a') == 'a-2'
        with pytest.raises(ValueError):
            f('a', bucketcache__max_age=-1)


def test_per_call_kwargs_beside_nocache(cache_dir):
    with Bucket(cache_dir) as b:
        calls = []

        @b(nocache='fresh')
        def g(x, fresh=False):
            calls.append(x)
            return len(calls)

        assert g(1) == 1
        assert g(1, fresh=True) == 2
        assert g(1) == 2
        assert g(1, bucketcache__refresh=True) == 3
        assert g(1) == 3


def test_per_call_kwargs_on_a_deferred_bucket(cache_dir):
    with DeferredWriteBucket(cache_dir) as b:
        f, calls = counted(b)
        assert f('a') == 'a-1'
        assert f('a', bucketcache__refresh=True) == 'a-2'
        assert f('a') == 'a-2'


def test_disable_and_enable(cache_dir):
    with Bucket(cache_dir) as b:
        f, calls = counted(b)
        b['k'] = 1
        assert f('a') == 'a-1'
        bucketcache.disable()
        try:
            assert bucketcache.is_disabled()
            assert b.get('k') is None
            with pytest.raises(KeyError):
                b['k']
            assert 'k' not in b
            b['n'] = 2
            b.set('m', 3)
            assert f('a') == 'a-2'
            assert f('a') == 'a-3'  # always runs
        finally:
            bucketcache.enable()
        assert b['k'] == 1
        assert 'n' not in b and 'm' not in b
        assert f('a') == 'a-1'  # the entry stored before


def test_disabled_option_and_environment_variable(cache_dir, monkeypatch):
    with Bucket(cache_dir) as b:
        b['k'] = 1
    with Bucket(cache_dir, disabled=True) as b:
        assert b.get('k') is None
        b['n'] = 2
    monkeypatch.setenv('BUCKETCACHE_DISABLE', '1')
    with Bucket(cache_dir) as b:
        assert b.get('k') is None
        f, calls = counted(b)
        f('x')
        f('x')
        assert len(calls) == 2
    monkeypatch.delenv('BUCKETCACHE_DISABLE')
    with Bucket(cache_dir) as b:
        assert b['k'] == 1
        assert 'n' not in b


def test_entry_size_limit(cache_dir):
    with Bucket(cache_dir, entry_size_limit=64) as b:
        calls = []

        @b
        def make(n):
            calls.append(n)
            return 'x' * n

        assert make(1000) == 'x' * 1000
        assert make(1000) == 'x' * 1000
        assert calls == [1000, 1000]  # returned, never stored
        assert make(3) == 'xxx'
        assert make(3) == 'xxx'
        assert calls == [1000, 1000, 3]
    with pytest.raises(ValueError):
        Bucket(cache_dir, entry_size_limit=-1)


def test_stale_while_revalidate_refreshes_on_a_library_thread(cache_dir):
    with Bucket(cache_dir, stale_ttl=3600, hours=1) as b:
        release = threading.Event()
        threads = []

        @b(name='swr')
        def f(x):
            threads.append(threading.get_ident())
            if len(threads) > 1:
                release.wait()
            return len(threads)

        assert f(1) == 1
        key = f.cache_key(1)
        # Expire the entry at once (its own lifetime of 1 us): it is now stale.
        b.set(key, 1, expire=1e-6)
        time.sleep(0.01)
        assert b.get(key) is None
        # Served stale at once, although the refresh is blocked in f.
        assert f(1) == 1
        assert f(1) == 1
        release.set()
        deadline = time.monotonic() + 60
        while f(1) != 2:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert len(threads) == 2
        assert threads[1] != threading.get_ident()  # ran on the library's thread
        assert b[key] == 2


def test_stale_while_revalidate_failed_refresh_keeps_the_stale_value(cache_dir, caplog):
    with Bucket(cache_dir, stale_ttl=timedelta(hours=1)) as b:
        attempts = []
        done = threading.Event()

        @b(name='swr_fail')
        def f(x):
            attempts.append(x)
            if len(attempts) > 1:
                done.set()
                raise RuntimeError('backend down')
            return 'good'

        assert f(1) == 'good'
        b.set(f.cache_key(1), 'good', expire=1e-6)
        time.sleep(0.01)
        assert f(1) == 'good'
        assert done.wait(60)
        assert f(1) == 'good'


def _stale_behind_a_blocker(b, f, key_arg, serves):
    """Makes f's entries of 'blocker' and key_arg stale, then holds the bucket's one refresh
    worker in the blocker's refresh while key_arg is served stale `serves` times (its
    refresh queued behind, after those calls returned). Returns the Event releasing it."""
    for arg in ('blocker', key_arg):
        b.set(f.cache_key(arg), f(arg), expire=1e-6)
    time.sleep(0.01)
    f('blocker')
    assert f.busy.wait(60)
    for _ in range(serves):
        f(key_arg)
    return f.release


def _blocking(b, name, make_value):
    main = threading.get_ident()
    busy, release, calls = threading.Event(), threading.Event(), []

    @b(name=name)
    def f(x):
        calls.append(x)
        if x == 'blocker' and threading.get_ident() != main:
            busy.set()
            release.wait()
        return make_value(x, len(calls))

    f.busy, f.release, f.calls = busy, release, calls
    return f


def test_stale_refresh_of_a_large_value_stores_it_whole(cache_dir):
    # The library copies a background compute's bytes after the callback returned, on its
    # own thread, long after the call that served the stale value returned: the bytes must
    # still be alive then.
    with Bucket(cache_dir, stale_ttl=3600, hours=1) as b:
        f = _blocking(b, 'swr_large', lambda x, n: bytes([n]) * (4 << 20))
        assert f('blocker')[:1] == b'\x01'
        assert f('k')[:1] == b'\x02'
        _stale_behind_a_blocker(b, f, 'k', 1).set()
        key = f.cache_key('k')
        deadline = time.monotonic() + 60
        while b.get(key) is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert b[key] == b'\x04' * (4 << 20)


def test_stale_refresh_runs_although_later_serves_pushed_out_the_queued_call(
        cache_dir, caplog, log_on):
    # The library queues one refresh per key, under the id of the call it served first;
    # later stale serves of the key (more than the binding keeps) must not leave that
    # refresh without a function to call.
    with Bucket(cache_dir, stale_ttl=3600, hours=1) as b:
        f = _blocking(b, 'swr_queue', lambda x, n: '%s-%d' % (x, n))
        assert f('blocker') == 'blocker-1'
        assert f('k') == 'k-2'
        release = _stale_behind_a_blocker(b, f, 'k', 10)
        caplog.clear()
        release.set()
        deadline = time.monotonic() + 60
        while b.get(f.cache_key('k')) is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert f('k') == 'k-4'
        assert not [r for r in caplog.records if 'failed' in r.getMessage()]


def test_stale_ttl_is_validated(cache_dir):
    with pytest.raises(ValueError):
        Bucket(cache_dir, stale_ttl=-1)
    with pytest.raises(TypeError):
        Bucket(cache_dir, stale_ttl='soon')


def _pop_worker(path, n, results):
    with Bucket(path) as b:
        results.put([b.pop('key-%d' % i, None) is not None for i in range(n)])


def test_pop_is_atomic_across_processes(cache_dir):
    import multiprocessing
    with Bucket(cache_dir) as b:
        for i in range(50):
            b['key-%d' % i] = i
    ctx = multiprocessing.get_context('fork')
    results = ctx.Queue()
    procs = [ctx.Process(target=_pop_worker, args=(str(cache_dir), 50, results))
             for _ in range(4)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    for i in range(50):
        assert sum(g[i] for g in got) == 1
