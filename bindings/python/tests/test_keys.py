import json
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
from conftest import entry_files

import bucketcache
from bucketcache import Bucket, DefaultKeyMaker, KeyMaker, StreamingDefaultKeyMaker
from bucketcache import _lib
from bucketcache.keymakers import key_json


def canonical(obj):
    """The library's canonical form of a Python key."""
    return _lib.canonical_key(b''.join(DefaultKeyMaker().make_key(obj))).decode('utf-8')


def test_every_valid_vector_names_the_same_entry(vectors):
    # Each vector's input, read as a Python object, is a key whose canonical form is the
    # vector's canonical text.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10000))  # json.loads of the 1024-deep vector recurses
    try:
        keys = [(json.loads(v['input']), v['canonical']) for v in vectors['valid']]
    finally:
        sys.setrecursionlimit(old)
    assert len(keys) == len(vectors['valid']) > 40
    for key, expected in keys:
        assert canonical(key) == expected, expected[:80]


def test_vectors_name_entries_through_a_bucket(vectors, cache_dir):
    # The same through bucket operations: setting the Python key, reading with the
    # canonical text's own Python reading.
    shallow = [v for v in vectors['valid'] if len(v['input']) < 200]
    with Bucket(cache_dir, backend=bucketcache.JSONBackend) as b:
        for i, v in enumerate(shallow):
            b[json.loads(v['input'])] = v['canonical']
        for v in shallow:
            assert b[json.loads(v['canonical'])] == v['canonical']
        # Several inputs share a canonical form: one entry per canonical text.
        distinct = {v['canonical'] for v in shallow}
        assert len(entry_files(cache_dir)) == len(distinct)


def test_invalid_vectors_are_rejected_by_the_library(vectors):
    for v in vectors['invalid']:
        with pytest.raises(bucketcache.InvalidArgumentError):
            _lib.canonical_key(v['input'].encode('utf-8', 'surrogatepass'))


def test_python_specific_spellings():
    assert canonical((1, 2)) == '[1,2]'
    assert canonical(1.0) == '1'
    assert canonical(-0.0) == '0'
    assert canonical(True) == 'true'
    assert canonical(1) == '1'
    assert canonical(2 ** 64 - 1) == '18446744073709551615'
    assert canonical(2 ** 70) == canonical(float(2 ** 70))
    assert canonical(OrderedDict([('b', 1), ('a', 2)])) == '{"a":2,"b":1}'
    assert canonical('caf\u00e9 \U0001F600 "q" \\ \n') == '"caf\u00e9 \U0001F600 \\"q\\" \\\\ \\n"'
    assert canonical({'x': None, '': []}) == '{"":[],"x":null}'


class Stateful:
    def __init__(self, a):
        self.a = a
        self.cache = {'noise': 1}

    def __getstate__(self):
        return {'a': self.a}


class Slotted:
    __slots__ = ('a', 'b')

    def __init__(self, a):
        self.a = a  # b stays unset


class SlottedChild(Slotted):
    __slots__ = 'c'

    def __init__(self, a, c):
        super().__init__(a)
        self.c = c


class Plain:
    def __init__(self):
        self.x = 1
        self.inner = Slotted(2)


def test_objects_stand_for_their_state():
    assert canonical(Stateful(1)) == '{"a":1}'
    assert canonical(Slotted(1)) == '{"a":1}'
    assert canonical(SlottedChild(1, 3)) == '{"a":1,"c":3}'
    assert canonical(Plain()) == '{"inner":{"a":2},"x":1}'
    assert canonical([Plain(), {'k': Stateful('s')}]) == '[{"inner":{"a":2},"x":1},{"k":{"a":"s"}}]'


def test_non_str_dict_keys_are_a_type_error():
    for bad in ({1: 'a'}, {None: 1}, {('a',): 1}, {'ok': {2.5: 1}}):
        with pytest.raises(TypeError, match='str keys'):
            key_json(bad)


def test_nan_and_infinity_are_not_keys():
    for bad in (float('nan'), [float('inf')], {'a': -float('inf')}):
        with pytest.raises(ValueError, match='NaN'):
            key_json(bad)


def test_lone_surrogates_are_not_keys(bucket):
    with pytest.raises(ValueError):
        bucket['\ud800'] = 1


def test_unsupported_types_are_a_type_error():
    for bad in (b'bytes', {1, 2}, 1j, len, Bucket, Path('/x'), sys):
        with pytest.raises(TypeError):
            key_json(bad)


def test_cycles_are_a_value_error():
    a = []
    a.append(a)
    with pytest.raises(ValueError, match='circular'):
        key_json(a)
    d = {}
    d['d'] = d
    with pytest.raises(ValueError, match='circular'):
        key_json(d)


def test_depth_limit_is_the_library_s():
    deep = []
    for _ in range(1023):
        deep = [deep]
    assert canonical(deep) == '[' * 1024 + ']' * 1024
    with pytest.raises(ValueError, match='deeper'):
        key_json([deep])


def test_streaming_keymaker_names_the_same_entries(cache_dir):
    big = {'blob': 'x' * 200000, 'n': [1, 2, 3]}
    with Bucket(cache_dir) as a, Bucket(cache_dir, keymaker=StreamingDefaultKeyMaker()) as b:
        a[big] = 'v'
        assert b[big] == 'v'
        assert len(list(b.keymaker.make_key(big))) > 1
    assert len(entry_files(cache_dir)) == 1


def test_default_keymaker_always_sorts():
    assert DefaultKeyMaker(sort_keys=True).sort_keys
    with pytest.raises(ValueError):
        DefaultKeyMaker(sort_keys=False)


def test_custom_keymaker(cache_dir):
    class ByName(KeyMaker):
        def make_key(self, obj):
            yield json.dumps({'name': obj.__name__}).encode()

    with Bucket(cache_dir, keymaker=ByName()) as b:
        b[int] = 'int'
        assert b[int] == 'int'
    with Bucket(cache_dir) as plain:
        assert plain[{'name': 'int'}] == 'int'


def test_invalid_json_from_a_keymaker_is_an_invalid_argument(cache_dir):
    class Broken(KeyMaker):
        def make_key(self, obj):
            return b'{not json'

    with Bucket(cache_dir, keymaker=Broken()) as b:
        with pytest.raises(bucketcache.InvalidArgumentError, match='byte'):
            b['k'] = 1
