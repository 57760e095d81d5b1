import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import entry_files

import bucketcache
from bucketcache import (
    Bucket, JSONBackend, JSONConfig, KeyExpirationError, KeyFileNotFoundError,
    KeyInvalidError, PickleBackend, PickleConfig, PrunedFilesInfo)


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


# ---- Construction: BucketCache's argument checks ----

def test_creates_the_directory_and_its_parents(tmp_path):
    path = tmp_path / 'a' / 'b' / 'c'
    with Bucket(path) as b:
        assert path.is_dir()
        assert b.path == path.resolve()
        assert isinstance(b.path, Path)


def test_accepts_str_paths(tmp_path):
    with Bucket(str(tmp_path / 'c')) as b:
        assert b.path == (tmp_path / 'c').resolve()


def test_defaults(bucket):
    assert bucket.backend is PickleBackend
    assert isinstance(bucket.config, PickleConfig)
    assert isinstance(bucket.keymaker, bucketcache.DefaultKeyMaker)
    assert bucket.lifetime is None


def test_lifetime_from_timedelta_kwargs(cache_dir):
    with Bucket(cache_dir, hours=1, minutes=30) as b:
        assert b.lifetime == timedelta(hours=1, minutes=30)
    with Bucket(cache_dir, lifetime=timedelta(days=2)) as b:
        assert b.lifetime == timedelta(days=2)


def test_zero_lifetime_means_never(cache_dir):
    with Bucket(cache_dir, lifetime=timedelta(0)) as b:
        assert b.lifetime is None


def test_lifetime_and_timedelta_kwargs_together_is_an_error(cache_dir):
    with pytest.raises(ValueError, match='not both'):
        Bucket(cache_dir, lifetime=timedelta(hours=1), hours=1)


def test_invalid_lifetime_kwargs(cache_dir):
    with pytest.raises(TypeError, match='Invalid lifetime argument: years'):
        Bucket(cache_dir, years=1)


def test_negative_lifetime(cache_dir):
    with pytest.raises(ValueError, match='negative'):
        Bucket(cache_dir, lifetime=timedelta(seconds=-1))
    with pytest.raises(ValueError, match='negative'):
        Bucket(cache_dir, seconds=-5)


def test_lifetime_must_be_a_timedelta(cache_dir):
    with pytest.raises(TypeError, match='timedelta'):
        Bucket(cache_dir, lifetime=60)


def test_backend_must_be_a_backend_subclass(cache_dir):
    for bad in (object, dict, JSONBackend(1), 'json', 1):
        with pytest.raises(TypeError, match="'backend' must inherit from"):
            Bucket(cache_dir, backend=bad)


def test_backend_must_be_concrete(cache_dir):
    class Half(bucketcache.Backend):
        backend_id = 'raw'

    with pytest.raises(TypeError, match='missing abstract method'):
        Bucket(cache_dir, backend=Half)


def test_config_must_match_the_backend(cache_dir):
    with pytest.raises(TypeError, match='Invalid config parameter'):
        Bucket(cache_dir, backend=PickleBackend, config=JSONConfig())
    with pytest.raises(TypeError):
        Bucket(cache_dir, config={'protocol': 2})
    with Bucket(cache_dir, backend=JSONBackend, config=JSONConfig(indent=2)) as b:
        assert b.config.indent == 2


def test_keymaker_must_be_a_keymaker(cache_dir):
    with pytest.raises(TypeError, match='keymaker'):
        Bucket(cache_dir, keymaker=object())


def test_path_is_read_only(bucket):
    with pytest.raises(AttributeError):
        bucket.path = '/elsewhere'


def test_lowering_the_lifetime_applies_from_then_on(cache_dir):
    with Bucket(cache_dir) as b:
        b['forever'] = 1
        b['day'] = 1
        b.lifetime = timedelta(days=1)
        assert b.lifetime == timedelta(days=1)
        assert 'forever' not in b        # recorded lifetime (never) > the bucket's
        b['day'] = 2                      # written with a day
        assert b['day'] == 2
        expires = b._expiration_date(b._key('day'))
        assert expires is not None
        assert timedelta(hours=23) < expires - datetime.now(timezone.utc).replace(tzinfo=None) <= timedelta(days=1)
        b.lifetime = timedelta(hours=1)
        assert 'day' not in b             # a day > an hour
        b.lifetime = None                 # never: the entries are usable again
        assert b.lifetime is None
        assert b['forever'] == 1 and b['day'] == 2
        b.lifetime = timedelta(hours=1)
        with pytest.raises(KeyError):
            b['day']
        b.lifetime = timedelta(milliseconds=300)
        b['short'] = 1
        assert b['short'] == 1
        time.sleep(0.5)
        with pytest.raises(KeyExpirationError):
            b['short']


def test_lifetime_assignment_checks_its_value(bucket):
    with pytest.raises(ValueError, match='negative'):
        bucket.lifetime = timedelta(seconds=-1)
    with pytest.raises(TypeError, match='timedelta'):
        bucket.lifetime = 5
    bucket.lifetime = timedelta(0)
    assert bucket.lifetime is None  # zero means never, as in BucketCache


def test_backend_assignment_reopens_under_the_new_backend(cache_dir):
    with Bucket(cache_dir) as b:
        b['k'] = (1, 2)
        b.backend = JSONBackend
        assert b.backend is JSONBackend
        assert b.config == JSONConfig()     # the new backend's default
        assert 'k' not in b                  # another backend's entry
        b['k'] = [3]
        assert b['k'] == [3]
        b.config = JSONConfig(indent=2)
        b['pretty'] = {'a': 1}
        assert b.path_for_key('pretty').read_bytes().endswith(b'{\n  "a": 1\n}')
        b.backend = PickleBackend
        assert b['k'] == (1, 2)
    with Bucket(cache_dir, backend=JSONBackend) as j:
        assert j['k'] == [3]
    with pytest.raises(TypeError, match="must inherit"):
        Bucket(cache_dir).backend = 'json'


def test_config_assignment(cache_dir):
    with Bucket(cache_dir) as b:
        b.config = PickleConfig(protocol=2)
        assert b.config.protocol == 2
        b['k'] = 1
        assert b.path_for_key('k').read_bytes()[-12:].find(b'.') >= 0  # protocol 2 pickle
        b.config = None
        assert b.config == PickleConfig()
        with pytest.raises(TypeError):
            b.config = {'protocol': 2}
        b.config = JSONConfig()               # another backend's: an error when used
        with pytest.raises(TypeError, match='Invalid config parameter'):
            b['k'] = 1
        b.backend = JSONBackend                # ... and fine once the backend matches
        b['k'] = 1
        assert b.config == JSONConfig()


def test_keymaker_assignment(cache_dir):
    class Upper(bucketcache.DefaultKeyMaker):
        def make_key(self, obj):
            return super().make_key(obj.upper())

    with Bucket(cache_dir) as b:
        b['ABC'] = 1
        b.keymaker = Upper()
        assert b['abc'] == 1
        with pytest.raises(TypeError, match='keymaker'):
            b.keymaker = object()


def test_assignment_keeps_pending_deferred_writes(cache_dir):
    with bucketcache.DeferredWriteBucket(cache_dir) as d:
        d['k'] = 1
        d.lifetime = timedelta(hours=1)        # reopens: the pending value is written first
        assert not d.closed
    with Bucket(cache_dir) as b:
        assert b['k'] == 1


def test_assignment_on_a_closed_bucket(cache_dir):
    b = Bucket(cache_dir)
    b.close()
    with pytest.raises(ValueError, match='closed'):
        b.lifetime = timedelta(hours=1)
    with pytest.raises(ValueError, match='closed'):
        b.backend = JSONBackend
    assert b.closed


def test_path_for_key(cache_dir):
    with Bucket(cache_dir) as b, Bucket(cache_dir, backend=JSONBackend) as j:
        b['k'] = 1
        j['k'] = 1
        j[{'b': 1, 'a': [1.0]}] = 2
        paths = {b.path_for_key('k'), j.path_for_key('k'), j.path_for_key({'a': [1], 'b': 1})}
        assert sorted(paths) == entry_files(cache_dir)
        assert b._path_for_key('k') == b.path_for_key('k')  # BucketCache's name
        assert not b.path_for_key('absent').exists()
        assert b.path_for_key('k').is_relative_to(b.path)


def test_a_file_in_the_way_is_an_io_error(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(bucketcache.BucketIOError) as info:
        Bucket(tmp_path / 'file')
    assert isinstance(info.value, OSError)
    assert isinstance(info.value, bucketcache.BucketCacheError)


def test_extension_options(cache_dir):
    with Bucket(cache_dir, memory_limit=0, check_file=True, fsync=True, lock_wait=1.5) as b:
        b['k'] = 1
        assert b['k'] == 1
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError):
            Bucket(cache_dir, memory_limit=bad)
    with pytest.raises(ValueError):
        Bucket(cache_dir, lock_wait=-1)


# ---- The mapping ----

def test_set_get_contains_delete(bucket):
    bucket['spam'] = {'eggs': [1, 2, 3]}
    assert bucket['spam'] == {'eggs': [1, 2, 3]}
    assert 'spam' in bucket
    assert 'ham' not in bucket
    del bucket['spam']
    assert 'spam' not in bucket
    with pytest.raises(KeyError):
        bucket['spam']


def test_iterates_over_keys(bucket):
    bucket[0] = 'zero'
    bucket[('a', 1)] = 'tuple'
    assert sorted(map(repr, bucket)) == sorted(map(repr, [0, ['a', 1]]))
    assert len(bucket) == 2


def test_getitem_and_setitem_methods(bucket):
    bucket.setitem(('a', 1), Point(1, 2))
    assert bucket.getitem(['a', 1]) == Point(1, 2)


def test_miss_is_a_key_error_with_the_abbreviated_key(bucket):
    with pytest.raises(KeyError) as info:
        bucket['x' * 200]
    e = info.value
    assert isinstance(e, KeyFileNotFoundError)
    assert isinstance(e, KeyInvalidError)
    assert isinstance(e, bucketcache.BucketCacheError)
    assert e.args[0] == repr('x' * 200)[:77] + '...'
    assert e.code == -1


def test_delete_missing_key_is_a_key_error(bucket):
    with pytest.raises(KeyError):
        del bucket['nothing']


def test_delete_method_returns_whether_there_was_an_entry(bucket):
    bucket['k'] = 1
    assert bucket.delete('k') is True
    assert 'k' not in bucket
    assert bucket.delete('k') is False  # no KeyError: diskcache's delete


def test_overwrite(bucket):
    bucket['k'] = 1
    bucket['k'] = 2
    assert bucket['k'] == 2


def test_values_survive_reopening(cache_dir):
    with Bucket(cache_dir) as b:
        b['k'] = [Point(1, 2)]
    with Bucket(cache_dir) as b:
        assert b['k'] == [Point(1, 2)]


def test_equal_keys_name_one_entry(bucket):
    bucket[{'b': 1, 'a': (1.0, 'x')}] = 'v'
    assert bucket[{'a': [1, 'x'], 'b': 1.0}] == 'v'
    assert len(entry_files(bucket.path)) == 1


def test_object_keys_by_state(bucket):
    bucket[Point(1, 2)] = 'p'
    assert bucket[{'x': 1, 'y': 2}] == 'p'
    assert Point(1, 3) not in bucket


def test_unload_key_keeps_the_file(cache_dir):
    with Bucket(cache_dir) as a, Bucket(cache_dir) as b:
        a['k'] = 1
        assert b['k'] == 1  # b now holds k in memory
        a['k'] = 2
        assert b['k'] == 1  # another bucket's write is not seen while loaded
        b.unload_key('k')
        assert b['k'] == 2
        b.unload_key('never set')  # not an error
        assert len(entry_files(cache_dir)) == 1


def test_check_file_sees_other_writes(cache_dir):
    with Bucket(cache_dir) as a, Bucket(cache_dir, check_file=True) as b:
        a['k'] = 1
        assert b['k'] == 1
        a['k'] = 2
        assert b['k'] == 2


def test_unserializable_value_propagates_the_backend_error(json_bucket):
    with pytest.raises(TypeError):
        json_bucket['k'] = object()
    assert 'k' not in json_bucket


# ---- Lifetime and pruning ----

def test_entries_expire(cache_dir):
    with Bucket(cache_dir, lifetime=timedelta(seconds=1)) as b:
        b['k'] = 1
        assert b['k'] == 1
        b['j'] = 2
        time.sleep(1.2)
        with pytest.raises(KeyExpirationError):
            b['k']
        # `in` judges (and deletes) an expired entry as get does, like BucketCache.
        assert 'j' not in b
        with pytest.raises(KeyFileNotFoundError):
            b['j']


def test_shorter_lifetime_expires_older_entries(cache_dir):
    with Bucket(cache_dir) as b:
        b['k'] = 1  # never expires
    with Bucket(cache_dir, hours=1) as b:
        with pytest.raises(KeyExpirationError):
            b['k']
        assert 'k' not in b
        b.prune_directory()
    with Bucket(cache_dir) as b:  # kept for the program that wrote it
        assert b['k'] == 1


def test_prune_directory(cache_dir):
    with Bucket(cache_dir, lifetime=timedelta(milliseconds=100)) as b:
        for i in range(3):
            b[i] = 'x' * 100
        size = sum(p.stat().st_size for p in entry_files(cache_dir))
        time.sleep(0.3)
        info = b.prune_directory()
        assert isinstance(info, PrunedFilesInfo)
        assert info == (size, 3)
        assert info.size == size and info.num == 3
        assert entry_files(cache_dir) == []
        assert b.prune_directory() == PrunedFilesInfo(size=0, num=0)


def test_prune_directory_keeps_other_backends_entries(cache_dir):
    with Bucket(cache_dir, backend=JSONBackend) as j:
        j['k'] = 1
    with Bucket(cache_dir, milliseconds=1) as b:
        b['k'] = 1
        time.sleep(0.05)
        assert b.prune_directory().num == 1
    assert len(entry_files(cache_dir)) == 1


# ---- Closing ----

def test_close(cache_dir):
    b = Bucket(cache_dir)
    b['k'] = 1
    assert not b.closed
    b.close()
    b.close()
    assert b.closed
    with pytest.raises(ValueError, match='closed'):
        b['k']


def test_repr(cache_dir):
    with Bucket(cache_dir, backend=JSONBackend, days=1, seconds=2) as b:
        text = repr(b)
    assert text.startswith("Bucket(path=%r" % str(cache_dir.resolve()))
    assert 'backend=JSONBackend' in text and 'days=1' in text and 'seconds=2' in text


# ---- Threads ----

def test_threads_share_a_bucket(cache_dir, caplog, log_on):
    import logging
    import threading
    caplog.set_level(logging.DEBUG, logger='bucketcache')  # log lines from every thread
    errors = []
    with Bucket(cache_dir, backend=JSONBackend) as b:
        def work(n):
            try:
                for i in range(100):
                    b[(n, i)] = {'n': n, 'i': i}
                    assert b[[n, i]] == {'n': n, 'i': i}
                    if i % 10 == 0:
                        del b[(n, i)]
                        assert (n, i) not in b
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len(entry_files(cache_dir)) == 6 * 90


def test_bucket_operations_inside_a_computed_function(cache_dir):
    with Bucket(cache_dir) as b:
        @b
        def outer(x):
            b['seen'] = x  # re-enters the library from inside its compute callback
            return inner(x) + 1

        @b
        def inner(x):
            return x * 10

        assert outer(2) == 21
        assert b['seen'] == 2
        assert outer(2) == 21


def test_base_exceptions_propagate_from_computed_functions(bucket):
    @bucket
    def f():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        f()


def test_assignments_while_other_threads_use_the_bucket(cache_dir):
    import threading
    stop = threading.Event()
    errors = []
    with Bucket(cache_dir, memory_limit=0) as b:
        b['k'] = 1

        def reader():
            while not stop.is_set():
                try:
                    b['k'] if 'k' in b else None  # noqa: B018
                except KeyError:
                    pass
                except Exception as e:  # noqa: BLE001
                    errors.append(e)

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        from bucketcache import _lib

        def open_handles():
            return sum(1 for h in list(_lib._open_handles) if not h.closed)

        before = open_handles()
        for i in range(200):
            b.lifetime = timedelta(hours=1 + i % 2) if i % 3 else None
        stop.set()
        for t in threads:
            t.join()
        # The replaced handles were closed once no call used them.
        assert open_handles() == before
    assert not errors, errors
