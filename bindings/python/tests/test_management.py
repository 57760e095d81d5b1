"""Cache management (issue 14, docs/cache-management.md): set(expire=), add, touch,
incr/decr, pop, get(max_age=), get_many/set_many, clear, len and iteration."""
import multiprocessing
import os
import time
from datetime import timedelta

import pytest

from bucketcache import (
    Bucket, DeferredWriteBucket, JSONBackend, MessagePackBackend, PickleBackend, RawBackend)
from bucketcache.exceptions import InvalidArgumentError


@pytest.fixture
def jbucket(cache_dir):
    b = Bucket(cache_dir, backend=JSONBackend)
    yield b
    b.close()


def test_set_with_expire(bucket):
    bucket.set('short', 1, expire=1.5)  # long enough to be read back on a loaded machine
    bucket.set('never', 2, expire=0)
    bucket.set('td', 3, expire=timedelta(hours=1))
    assert bucket['short'] == 1
    time.sleep(1.6)
    assert bucket.get('short') is None
    assert bucket['never'] == 2
    assert bucket['td'] == 3
    with pytest.raises(ValueError):
        bucket.set('x', 1, expire=-1)


def test_own_lifetime_outlives_a_shorter_bucket_lifetime(cache_dir):
    with Bucket(cache_dir, hours=1) as long_lived:
        long_lived.set('own', 1, expire=timedelta(days=10))
        long_lived['default'] = 2
    with Bucket(cache_dir, minutes=1) as short:
        assert short.get('own') == 1  # given its own lifetime: honoured
        assert short.get('default') is None  # the lifetime rule


def test_add(bucket):
    assert bucket.add('k', 'first') is True
    assert bucket.add('k', 'second') is False
    assert bucket['k'] == 'first'
    del bucket['k']
    assert bucket.add('k', 'third', expire=60)
    assert bucket['k'] == 'third'


def test_touch(bucket):
    assert bucket.touch('missing') is False
    bucket['k'] = 'v'
    assert bucket.touch('k', expire=0.02)
    time.sleep(0.05)
    assert 'k' not in bucket
    bucket['k'] = 'v'
    assert bucket.touch('k', expire=0)
    assert bucket['k'] == 'v'


@pytest.mark.parametrize('backend', [JSONBackend, MessagePackBackend])
def test_incr_decr(cache_dir, backend):
    with Bucket(cache_dir, backend=backend) as b:
        assert b.incr('n') == 1
        assert b.incr('n', 10) == 11
        assert b.decr('n', 20) == -9
        assert b['n'] == -9
        assert b.incr('m', 1, default=100) == 101
        with pytest.raises(KeyError):
            b.incr('absent', default=None)
        b['s'] = 'text'
        with pytest.raises(InvalidArgumentError):
            b.incr('s')
        assert b['s'] == 'text'
        b['big'] = 2**63 - 1
        with pytest.raises(ValueError):
            b.incr('big')
        assert b['big'] == 2**63 - 1


def test_incr_needs_an_integer_backend(bucket):
    with pytest.raises(TypeError):
        bucket.incr('n')


def _incr_worker(path, n):
    with Bucket(path, backend=JSONBackend) as b:
        for _ in range(n):
            b.incr('counter')


def test_incr_across_processes(cache_dir):
    Bucket(cache_dir, backend=JSONBackend).close()
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_incr_worker, args=(str(cache_dir), 500)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Bucket(cache_dir, backend=JSONBackend) as b:
        assert b['counter'] == 2000


def _add_worker(path, n, results):
    with Bucket(path) as b:
        results.put([b.add('key-%d' % i, os.getpid()) for i in range(n)])


def test_add_across_processes(cache_dir):
    Bucket(cache_dir).close()
    ctx = multiprocessing.get_context('fork')
    results = ctx.Queue()
    procs = [ctx.Process(target=_add_worker, args=(str(cache_dir), 50, results))
             for _ in range(4)]
    for p in procs:
        p.start()
    won = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    for i in range(50):
        assert sum(w[i] for w in won) == 1


def test_pop(bucket):
    bucket['k'] = [1, 2]
    assert bucket.pop('k') == [1, 2]
    assert 'k' not in bucket
    assert bucket.pop('k', 'dflt') == 'dflt'
    with pytest.raises(KeyError):
        bucket.pop('k')


def test_get_default_and_max_age(bucket):
    assert bucket.get('missing') is None
    assert bucket.get('missing', 5) == 5
    bucket['k'] = 'v'
    assert bucket.get('k', max_age=60) == 'v'
    time.sleep(0.03)
    assert bucket.get('k', 'old', max_age=0.01) == 'old'
    assert bucket.get('k', max_age=timedelta(seconds=0.01)) is None
    assert bucket['k'] == 'v'  # a miss, not deleted


def test_get_many_set_many(bucket):
    bucket.set_many({'a': 1, 'b': 2})
    bucket.set_many([(('t', 1), 3)], expire=60)
    assert bucket.get_many(['a', 'x', 'b', ('t', 1)]) == [1, None, 2, 3]
    assert bucket.get_many(['x'], default=0) == [0]


def test_clear_len_iter(cache_dir):
    with Bucket(cache_dir) as pickles, Bucket(cache_dir, backend=JSONBackend) as jsons:
        for i in range(5):
            pickles[i] = i
        pickles[('a', (1, 2))] = 'nested'
        jsons['j'] = 1
        assert len(pickles) == 6
        assert len(jsons) == 1
        assert sorted(map(repr, pickles)) == sorted(
            map(repr, [0, 1, 2, 3, 4, ['a', [1, 2]]]))
        assert list(jsons) == ['j']
        assert pickles.clear() == 6
        assert len(pickles) == 0
        assert pickles  # true even when empty (no scan)
        assert pickles.get(0) is None  # the memory layer is emptied too
        assert jsons['j'] == 1  # another backend's entries stay


class Shouty(JSONBackend):
    backend_id = 'shouty'


def test_clear_and_iter_of_a_custom_backend(cache_dir):
    with Bucket(cache_dir, backend=RawBackend) as raw, \
            Bucket(cache_dir, backend=Shouty) as shouty:
        raw['r'] = b'bytes'
        shouty['s'] = 1
        shouty[('t', 2)] = 2
        assert sorted(map(repr, shouty)) == sorted(map(repr, ['s', ['t', 2]]))
        assert list(raw) == ['r']
        assert shouty.clear() == 2
        assert raw['r'] == b'bytes'
        assert len(shouty) == 0
        assert raw.clear() == 1


def test_deferred_bucket(cache_dir):
    with DeferredWriteBucket(cache_dir, backend=JSONBackend) as d:
        d['k'] = 1
        assert d.add('k', 2) is False  # the pending write went to disk first
        assert d.incr('k') == 2
        d['p'] = 1
        assert d.clear() == 1  # 'p' was pending: dropped
        assert d.get('p') is None


def test_backends_still_default(bucket):
    assert bucket.backend is PickleBackend
