import pytest
from conftest import entry_files

from bucketcache import Bucket, DeferredWriteBucket, JSONBackend, deferred_write


def test_deferred_write_bucket_holds_sets_until_sync(cache_dir):
    with DeferredWriteBucket(cache_dir) as d, Bucket(cache_dir) as b:
        d['a'] = 1
        d['b'] = [2]
        assert d['a'] == 1 and 'b' in d  # reads see pending values
        assert entry_files(cache_dir) == []
        assert 'a' not in b
        d.sync()
        assert len(entry_files(cache_dir)) == 2
        assert b['a'] == 1 and b['b'] == [2]


def test_unload_key_syncs_first(cache_dir):
    with DeferredWriteBucket(cache_dir) as d:
        d['a'] = 1
        d['b'] = 2
        d.unload_key('a')
        assert len(entry_files(cache_dir)) == 2
        assert d['a'] == 1


def test_close_syncs(cache_dir):
    d = DeferredWriteBucket(cache_dir)
    d['a'] = 1
    d.close()
    with Bucket(cache_dir) as b:
        assert b['a'] == 1


def test_garbage_collection_syncs(cache_dir):
    d = DeferredWriteBucket(cache_dir)
    d['a'] = 1
    del d
    import gc
    gc.collect()
    with Bucket(cache_dir) as b:
        assert b['a'] == 1


def test_delete_drops_pending_and_stored(cache_dir):
    with Bucket(cache_dir) as b:
        b['a'] = 1
    with DeferredWriteBucket(cache_dir) as d:
        d['b'] = 2
        del d['a']
        del d['b']
        assert 'a' not in d and 'b' not in d
        with pytest.raises(KeyError):
            del d['b']
    assert entry_files(cache_dir) == []


def test_from_bucket_copies_the_settings(cache_dir):
    with Bucket(cache_dir, backend=JSONBackend, hours=2, check_file=True) as b:
        d = DeferredWriteBucket.from_bucket(b)
        assert isinstance(d, DeferredWriteBucket)
        assert (d.path, d.backend, d.config, d.lifetime) == (b.path, b.backend, b.config,
                                                             b.lifetime)
        assert d.keymaker is b.keymaker
        d.close()


def test_deferred_write_writes_at_the_end(cache_dir):
    with Bucket(cache_dir) as bucket:
        bucket['k'] = 'old'
        assert bucket['k'] == 'old'  # loaded into the bucket's memory
        with deferred_write(bucket) as deferred:
            assert isinstance(deferred, DeferredWriteBucket)
            deferred['k'] = 'new'
            deferred['other'] = 1
            assert deferred['k'] == 'new'
            assert bucket['k'] == 'old'  # the bucket sees them after the block
            assert 'other' not in bucket
        assert bucket['k'] == 'new'
        assert bucket['other'] == 1


def test_deferred_write_writes_on_exception_too(cache_dir):
    # As the C++ deferred_write(): each pending value is a valid entry on its own.
    with Bucket(cache_dir) as bucket:
        with pytest.raises(RuntimeError, match='in the block'):
            with deferred_write(bucket) as deferred:
                deferred['k'] = 1
                raise RuntimeError('in the block')
        assert bucket['k'] == 1


def test_deferred_write_with_decorator(cache_dir):
    calls = []
    with Bucket(cache_dir) as bucket:
        with deferred_write(bucket) as deferred:
            @deferred
            def f(x):
                calls.append(x)
                return x * 2

            assert f(2) == 4
            assert entry_files(cache_dir) == []
        assert len(entry_files(cache_dir)) == 1
        assert bucket(f.__wrapped__)(2) == 4
    assert calls == [2]


def test_interpreter_exit_syncs_open_deferred_buckets(cache_dir):
    # A DeferredWriteBucket still open at exit is closed (and synced) by an atexit hook,
    # while the library's log lines still go to Python logging.
    import os
    import subprocess
    import sys
    from conftest import PACKAGE_ROOT
    code = ('import logging, bucketcache\n'
            'logging.basicConfig(level=logging.DEBUG)\n'
            'bucketcache.logger.disabled = False\n'
            'keep = bucketcache.DeferredWriteBucket(%r)\n'
            'keep["k"] = "v"\n' % str(cache_dir))
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), PYTHONDONTWRITEBYTECODE='1')
    r = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(cache_dir.parent))
    assert r.returncode == 0, r.stderr
    assert 'wrote entry' in r.stderr
    with Bucket(cache_dir) as b:
        assert b['k'] == 'v'
