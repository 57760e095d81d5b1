"""The binding's fast paths (issue 12) behave as the general ones: one library call per get
into a per-thread buffer (bc_get_into_buffer), str keys without the key loop."""
import threading

import pytest

import bucketcache
from bucketcache import Bucket, DefaultKeyMaker, RawBackend, _lib
from bucketcache.keymakers import key_json

SIZES = (0, 1, 100, _lib.GET_BUFFER_SIZE - 1, _lib.GET_BUFFER_SIZE, _lib.GET_BUFFER_SIZE + 1,
         100000)


def value_of(size, seed=0):
    return bytes((i * 31 + seed) % 256 for i in range(size))


@pytest.mark.parametrize('memory_limit', [None, 0])
def test_values_around_the_buffer_size_come_back_exactly(cache_dir, memory_limit):
    with Bucket(cache_dir, backend=RawBackend, memory_limit=memory_limit) as b:
        for size in SIZES:
            b['k%d' % size] = value_of(size)
        for _ in range(2):  # from the file, then (memory layer on) from memory
            for size in SIZES:
                assert b['k%d' % size] == value_of(size)
                assert b.get('k%d' % size) == value_of(size)
                assert b.get('k%d' % size, max_age=3600) == value_of(size)


def test_pickled_values_larger_than_the_buffer(bucket):
    value = {'big': list(range(10000)), 'text': 'x' * 20000}
    bucket['v'] = value
    assert bucket['v'] == value
    assert bucket.get('v') == value


def test_threads_each_get_their_own_values(cache_dir):
    # Every thread reads keys whose values differ in size and content from the other
    # threads' at the same time: a shared buffer would hand one thread another's bytes.
    sizes = (10, 5000, _lib.GET_BUFFER_SIZE + 500)
    with Bucket(cache_dir, backend=RawBackend, memory_limit=0) as b:
        for t in range(4):
            for s in sizes:
                b['t%d-%d' % (t, s)] = value_of(s, seed=t)
        errors = []

        def reader(t):
            try:
                for _ in range(200):
                    for s in sizes:
                        got = b['t%d-%d' % (t, s)]
                        if got != value_of(s, seed=t):
                            errors.append((t, s, len(got)))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=reader, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []


def test_misses_and_errors_are_unchanged(bucket):
    with pytest.raises(KeyError):
        bucket['absent']
    assert bucket.get('absent', 'default') == 'default'
    with pytest.raises(TypeError):
        bucket.get('absent', max_age='soon')
    bucket.close()
    with pytest.raises(ValueError, match='closed'):
        bucket['absent']
    with pytest.raises(ValueError, match='closed'):
        bucket.get('absent')


def test_statistics_count_each_get_once(bucket):
    bucket['k'] = 'v'
    hits, misses = bucket.stats()[:2]
    assert bucket['k'] == 'v'
    assert bucket.get('k') == 'v'
    assert bucket.get('nope') is None
    assert bucket.stats()[:2] == (hits + 2, misses + 1)


class _SubclassKeyMaker(DefaultKeyMaker):
    """Not DefaultKeyMaker itself: takes the general key path."""


@pytest.mark.parametrize('key', ['plain', '', 'quote " backslash \\ tab \t nl \n',
                                 'caf\u00e9 \u2603 \U0001f600', '\x00\x1f\x7f'])
def test_str_keys_take_the_fast_path_to_the_same_key(cache_dir, key):
    with Bucket(cache_dir) as fast, Bucket(cache_dir, keymaker=_SubclassKeyMaker()) as general:
        assert fast._str_keys and not general._str_keys
        assert fast._key(key) == general._key(key) == key_json(key).encode('utf-8')
        fast[key] = 'stored through the fast path'
        assert general[key] == 'stored through the fast path'


def test_a_str_key_that_is_not_utf8_is_refused_on_both_paths(cache_dir):
    with Bucket(cache_dir) as fast, Bucket(cache_dir, keymaker=_SubclassKeyMaker()) as general:
        for b in (fast, general):
            with pytest.raises(UnicodeEncodeError):
                b['\ud800'] = 1


def test_assigning_a_keymaker_leaves_the_fast_path(cache_dir):
    class Upper(DefaultKeyMaker):
        def make_key(self, obj):
            return super().make_key(obj.upper() if isinstance(obj, str) else obj)

    with Bucket(cache_dir) as b:
        b['k'] = 'lower'
        b.keymaker = Upper()
        assert not b._str_keys
        with pytest.raises(KeyError):
            b['k']  # made as "K", never stored
        b['k'] = 'upper'
        assert b['K'] == 'upper'
        b.keymaker = DefaultKeyMaker()
        assert b._str_keys
        assert (b['k'], b['K']) == ('lower', 'upper')


def test_a_namespaced_backend_keeps_its_key_prefix(cache_dir):
    class Custom(bucketcache.PickleBackend):
        backend_id = 'custom-ns'

    with Bucket(cache_dir, backend=Custom) as b:
        b['k'] = 1
        assert b['k'] == 1
        if b._key_prefix is not None:  # the library stores this backend as namespaced raw
            assert not b._str_keys
            assert b._key('k').startswith(b._key_prefix)


def test_a_pickle_config_without_some_settings_uses_pickles_defaults(cache_dir):
    config = bucketcache.PickleConfig()
    del config.encoding, config.errors  # pickle's own defaults apply
    with Bucket(cache_dir, config=config) as b:
        b['k'] = {'v': 1}
        assert b['k'] == {'v': 1}
        assert b.get('k') == {'v': 1}
