import ctypes
import json
import pickle
from datetime import datetime, timedelta, timezone

import msgpack  # python3-msgpack: required (scripts/install-deps.sh installs it)
import pytest
from conftest import entry_files

import bucketcache
from bucketcache import (
    Backend, BackendLoadError, Bucket, JSONBackend, JSONConfig, MessagePackBackend,
    MessagePackConfig, PickleBackend, PickleConfig, RawBackend)
from bucketcache import _lib


class CBucket:
    """The bucket directory through the C API directly, as C and C++ programs see it."""

    def __init__(self, path, backend):
        self.handle = _lib.Handle(path, [(_lib.BC_OPT_BACKEND, backend),
                                         (_lib.BC_OPT_KEY_FORMAT, 'json')])

    def set(self, key_json, value):
        k = key_json.encode()
        _lib.check(_lib.lib.bc_set(self.handle.get(), k, len(k), value, len(value)))

    def get(self, key_json):
        k = key_json.encode()
        buf = _lib.bc_buf()
        _lib.check(_lib.lib.bc_get(self.handle.get(), k, len(k), ctypes.byref(buf)))
        return _lib.take(buf)

    def close(self):
        self.handle.close()


def roundtrip(cache_dir, backend, value, config=None):
    with Bucket(cache_dir, backend=backend, config=config) as b:
        b['k'] = value
        b.unload_key('k')
        return b['k']


def test_msgpack_is_available():
    assert bucketcache.backends.msgpack_available


def test_pickle_roundtrip(cache_dir):
    value = {'set': {1, 2}, 'bytes': b'\x00\xff', 'tuple': (1, 'a'), 'nested': [None, 1.5]}
    assert roundtrip(cache_dir, PickleBackend, value) == value
    assert roundtrip(cache_dir, PickleBackend, value, PickleConfig(protocol=2)) == value


def test_pickle_entries_are_plain_pickles(cache_dir):
    with Bucket(cache_dir) as b:
        b['k'] = [1, 'two']
    c = CBucket(cache_dir, 'pickle')
    assert pickle.loads(c.get('"k"')) == [1, 'two']
    c.close()


def test_json_roundtrip(cache_dir):
    value = {'a': [1, 2.5, None, True], 'b': 'caf\u00e9', 'c': {}}
    assert roundtrip(cache_dir, JSONBackend, value) == value
    assert roundtrip(cache_dir, JSONBackend, (1, 2)) == [1, 2]


def test_json_entries_are_shared_with_the_c_api(cache_dir):
    c = CBucket(cache_dir, 'json')
    c.set('{"id":7,"tags":["x"]}', b'{"answer":42,"list":[1,2,3]}')
    with Bucket(cache_dir, backend=JSONBackend) as b:
        assert b[{'tags': ('x',), 'id': 7.0}] == {'answer': 42, 'list': [1, 2, 3]}
        b[['from', 'python']] = {'x': 'caf\u00e9', 'y': 1.5}
    stored = c.get('["from","python"]')
    assert stored == '{"x":"caf\u00e9","y":1.5}'.encode('utf-8')  # compact, as nlohmann dumps
    c.close()


def test_json_config_is_applied(cache_dir):
    config = JSONConfig(indent=2, sort_keys=True, ensure_ascii=True)
    with Bucket(cache_dir, backend=JSONBackend, config=config) as b:
        b['k'] = {'b': '\u00e9', 'a': 1}
    c = CBucket(cache_dir, 'json')
    assert c.get('"k"') == json.dumps({'a': 1, 'b': '\u00e9'}, indent=2).encode()
    c.close()
    hook = JSONConfig(object_pairs_hook=lambda pairs: sorted(pairs))
    with Bucket(cache_dir, backend=JSONBackend, config=hook) as b:
        assert b['k'] == [('a', 1), ('b', '\u00e9')]


def test_json_rejects_nan_by_default(cache_dir):
    with Bucket(cache_dir, backend=JSONBackend) as b:
        with pytest.raises(ValueError):
            b['k'] = float('nan')
    with Bucket(cache_dir, backend=JSONBackend, config=JSONConfig(allow_nan=True)) as b:
        with pytest.raises(bucketcache.InvalidArgumentError, match='not valid JSON'):
            b['k'] = float('nan')  # the library accepts JSON text only


def test_msgpack_roundtrip(cache_dir):
    value = {'a': [1, 2.5, None, True], 'b': b'\x00bin', 'c': 'str'}
    assert roundtrip(cache_dir, MessagePackBackend, value) == value
    config = MessagePackConfig(use_list=False)
    assert roundtrip(cache_dir, MessagePackBackend, [1, [2]], config) == (1, (2,))


def test_msgpack_entries_are_shared_with_the_c_api(cache_dir):
    c = CBucket(cache_dir, 'msgpack')
    c.set('"from c"', msgpack.packb({1: 'int key', 'list': [1, 2]}))
    with Bucket(cache_dir, backend=MessagePackBackend) as b:
        assert b['from c'] == {1: 'int key', 'list': [1, 2]}
        b['from python'] = {'x': b'\x01', 'y': -3}
    assert msgpack.unpackb(c.get('"from python"')) == {'x': b'\x01', 'y': -3}
    c.close()


def test_msgpack_encodings_must_be_utf8(cache_dir):
    config = MessagePackConfig(pack_encoding='latin-1')
    with Bucket(cache_dir, backend=MessagePackBackend, config=config) as b:
        with pytest.raises(ValueError, match='utf-8'):
            b['k'] = 'x'


def test_raw_backend(cache_dir):
    assert roundtrip(cache_dir, RawBackend, b'\x00\x01') == b'\x00\x01'
    with Bucket(cache_dir, backend=RawBackend) as b:
        with pytest.raises(TypeError):
            b['k'] = 'not bytes'


def test_backends_name_different_entries(cache_dir):
    with Bucket(cache_dir, backend=JSONBackend) as j, Bucket(cache_dir) as p:
        j['k'] = 1
        assert 'k' not in p
        p['k'] = 2
        assert j['k'] == 1
    assert len(entry_files(cache_dir)) == 2


def test_unreadable_value_is_a_miss(cache_dir, caplog, log_on):
    c = CBucket(cache_dir, 'pickle')
    c.set('"k"', b'not a pickle')
    c.close()
    with Bucket(cache_dir) as b:
        with pytest.raises(KeyError) as info:
            b['k']
        assert isinstance(info.value, bucketcache.KeyInvalidError)
        assert isinstance(info.value.__cause__, BackendLoadError)
    assert any('cannot read' in r.getMessage() for r in caplog.records)


def test_custom_backend_subclass(cache_dir):
    class UpperJSON(JSONBackend):
        @classmethod
        def dumps(cls, value, config):
            return super().dumps(value.upper(), config)

    with Bucket(cache_dir, backend=UpperJSON) as b:
        b['k'] = 'abc'
        assert b['k'] == 'ABC'


def test_a_bytes_backend_with_its_own_id(cache_dir):
    class Yaml(Backend):
        backend_id = 'yaml'
        default_config = bucketcache.RawConfig
        binary_format = False
        file_extension = 'yaml'

        @classmethod
        def dumps(cls, value, config):
            return ('value: %s' % value).encode()

        @classmethod
        def loads(cls, data, config):
            return data.decode()[len('value: '):]

    with Bucket(cache_dir, backend=Yaml) as y, Bucket(cache_dir, backend=RawBackend) as r:
        y['k'] = 'x'
        assert y['k'] == 'x'
        assert 'k' not in r  # its own entries, not the raw backend's
        r['k'] = b'raw'
        assert y['k'] == 'x'
        assert y.path_for_key('k') != r.path_for_key('k')
        assert y.path_for_key('k').is_file()


class Dated(Backend):
    """A backend written to BucketCache's documented interface (text format)."""
    binary_format = False
    default_config = JSONConfig
    file_extension = 'dated'

    @classmethod
    def from_file(cls, fp, config=None):
        config = cls.valid_config(config)
        text = fp.read()
        if not text.startswith('DATED '):
            raise BackendLoadError('not a dated file')
        if text.startswith('DATED boom'):
            raise RuntimeError('the loader broke')
        data = json.loads(text[len('DATED '):])
        return cls(data['value'], expiration_date=data['expiration_date'], config=config)

    def dump(self, fp):
        assert isinstance(self.config, JSONConfig)
        expires = self.expiration_date.isoformat() if self.expiration_date else None
        fp.write('DATED ' + json.dumps({'value': self.value, 'expiration_date': expires}))


class Packed(Backend):
    """BucketCache's interface, binary format."""
    binary_format = True
    default_config = PickleConfig
    file_extension = 'packed'

    @classmethod
    def from_file(cls, fp, config=None):
        data = fp.read()
        if data[:1] != b'P':
            raise BackendLoadError('not packed')
        return cls(pickle.loads(data[1:]), config=config)

    def dump(self, fp):
        fp.write(b'P' + pickle.dumps(self.value))


def test_bucketcache_interface_backends(cache_dir):
    with Bucket(cache_dir, backend=Dated, hours=2) as d, Bucket(cache_dir, backend=Packed) as p:
        d['k'] = [1, 'a']
        p['k'] = {1, 2}
        d.unload_key('k')
        p.unload_key('k')
        assert d['k'] == [1, 'a']
        assert p['k'] == {1, 2}
        stored = d.path_for_key('k').read_bytes()
        assert b'DATED {"value": [1, "a"], "expiration_date": "' in stored
        # BucketCache's backends record the expiry (naive UTC) themselves.
        start = stored.index(b'"expiration_date": "') + len(b'"expiration_date": "')
        recorded = datetime.fromisoformat(stored[start:stored.index(b'"', start)].decode())
        assert timedelta(hours=1) < recorded - datetime.now(timezone.utc).replace(tzinfo=None) <= timedelta(hours=2)
        # Stored under their own ids: separate from each other and from the built-ins.
        assert Dated.storage_id() == 'Dated' and Packed.storage_id() == 'Packed'
        assert len({d.path_for_key('k'), p.path_for_key('k')}) == 2
        assert len(entry_files(cache_dir)) == 2
        with Bucket(cache_dir) as pickles:
            assert 'k' not in pickles

        @d
        def twice(x):
            return x * 2

        assert twice(2) == 4 and twice(2) == 4


def test_a_load_error_from_a_backend_is_a_miss_and_anything_else_propagates(cache_dir):
    with Bucket(cache_dir, backend=Dated, memory_limit=0) as d:
        # Entries whose bytes the loader rejects, or chokes on (written through the C API:
        # a custom backend's entries are opaque bytes to the library).
        for key, text in (('bad', b'JUNK {}'), ('boom', b'DATED boom')):
            k = d._key(key)
            _lib.check(_lib.lib.bc_set(d._handle.get(), k, len(k), text, len(text)))
        with pytest.raises(KeyError):
            d['bad']                           # BackendLoadError: a miss
        with pytest.raises(RuntimeError, match='the loader broke'):
            d['boom']                          # propagates, as in BucketCache

        @d(name='fn')
        def fn():
            return 1

        k = d._key(fn.cache_key())
        _lib.check(_lib.lib.bc_set(d._handle.get(), k, len(k), b'DATED boom', 10))
        with pytest.raises(RuntimeError, match='the loader broke'):
            fn()


class Fussy:
    def __init__(self, ok):
        self.ok = ok

    def __setstate__(self, state):
        if not state['ok']:
            raise RuntimeError('cannot restore')
        self.__dict__.update(state)


def test_an_exception_from_unpickling_a_value_propagates(cache_dir):
    with Bucket(cache_dir, memory_limit=0) as b:
        b['good'] = Fussy(True)
        assert b['good'].ok
        b['bad'] = Fussy(False)
        with pytest.raises(RuntimeError, match='cannot restore'):
            b['bad']


def test_backend_ids(cache_dir):
    class AVeryLongBackendClassName(Dated):
        pass

    class FileStylePickle(PickleBackend):
        @classmethod
        def from_file(cls, fp, config=None):
            return cls(pickle.load(fp), config=config)

        def dump(self, fp):
            pickle.dump(self.value, fp)

    FileStylePickle.dumps = Backend.dumps  # use dump/from_file
    FileStylePickle.loads = Backend.loads
    long_id = AVeryLongBackendClassName.storage_id()
    assert len(long_id) == 15 and long_id.startswith('AVeryL~')
    assert FileStylePickle.storage_id() == 'FileStylePickle'  # not 'pickle'
    assert JSONBackend.storage_id() == 'json'

    class Spaced(Dated):
        backend_id = 'has space'

    with pytest.raises(TypeError, match='backend_id'):
        Bucket(cache_dir, backend=Spaced)


def test_backend_missing_methods(cache_dir):
    class NoLoader(Backend):
        default_config = PickleConfig
        binary_format = True
        file_extension = 'x'

        def dump(self, fp):
            pass

    with pytest.raises(TypeError, match='missing abstract method: from_file'):
        Bucket(cache_dir, backend=NoLoader)


def test_msgpack_is_needed_only_when_used(cache_dir, monkeypatch):
    with Bucket(cache_dir, backend=MessagePackBackend) as b:
        b['k'] = 1
    monkeypatch.setattr(bucketcache.backends, 'msgpack_available', False)
    monkeypatch.setattr(bucketcache.backends, 'msgpack', None)
    with Bucket(cache_dir, backend=MessagePackBackend) as b:  # as in BucketCache: no error
        with pytest.raises(TypeError, match='msgpack'):
            b['new'] = 1
        with pytest.raises(TypeError, match='msgpack'):
            b['k']
        assert 'new' not in b


def test_backend_missing_attributes(cache_dir):
    class NoId(Backend):
        @classmethod
        def dumps(cls, value, config):
            return b''

        @classmethod
        def loads(cls, data, config):
            return None

    with pytest.raises(TypeError, match='missing abstract attribute'):
        Bucket(cache_dir, backend=NoId)


def test_config_classes():
    assert PickleConfig(protocol=3).protocol == 3
    assert JSONConfig(indent=4).asdict()['indent'] == 4
    assert MessagePackConfig().asdict()['use_bin_type']
    assert JSONConfig(indent=1) == JSONConfig(indent=1) != JSONConfig(indent=2)
    assert 'indent=1' in repr(JSONConfig(indent=1))
