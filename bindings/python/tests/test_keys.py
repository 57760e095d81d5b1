import datetime
import decimal
import enum
import json
import os
import subprocess
import sys
import uuid
import warnings
from collections import OrderedDict
from pathlib import PurePosixPath

import pytest
from conftest import PACKAGE_ROOT, entry_files

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


class Color(enum.Enum):
    RED = 1
    GREEN = 'g'


class Level(enum.IntEnum):
    HIGH = 3


TAGGED = [
    (datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
     '{"__type__":"datetime","value":"2024-01-02T03:04:05.000006"}'),
    (datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     '{"__type__":"datetime","value":"2024-01-02T00:00:00+02:00"}'),
    (datetime.date(2024, 1, 2), '{"__type__":"date","value":"2024-01-02"}'),
    (datetime.time(1, 2, 3), '{"__type__":"time","value":"01:02:03"}'),
    (datetime.timedelta(days=-1, seconds=5, microseconds=7),
     '{"__type__":"timedelta","value":[-1,5,7]}'),
    (decimal.Decimal('1.10'), '{"__type__":"decimal","value":"1.10"}'),
    (1.5 - 2j, '{"__type__":"complex","value":[1.5,-2]}'),
    (b'\x00\xff', '{"__type__":"bytes","value":"AP8="}'),
    (bytearray(b'ab'), '{"__type__":"bytes","value":"YWI="}'),
    (memoryview(b'ab'), '{"__type__":"bytes","value":"YWI="}'),
    ({3, 'a', (1, 2)}, '{"__type__":"set","value":["a",3,[1,2]]}'),
    (frozenset({b'x', 10, 2}),
     '{"__type__":"set","value":[10,2,{"__type__":"bytes","value":"eA=="}]}'),
    (PurePosixPath('/tmp/x'), '{"__type__":"path","value":"/tmp/x"}'),
    (Color.RED, '{"__type__":"enum","value":"test_keys.Color.RED"}'),
    (Level.HIGH, '3'),  # an int, as json.dumps writes it
    (uuid.UUID(int=5), '{"__type__":"uuid","value":"00000000-0000-0000-0000-000000000005"}'),
    ({'when': {datetime.date(2020, 1, 1)}},
     '{"when":{"__type__":"set","value":[{"__type__":"date","value":"2020-01-01"}]}}'),
]


def test_python_values_without_json_form_have_tagged_forms():
    for obj, expected in TAGGED:
        assert canonical(obj) == expected, obj


def test_tagged_forms_are_the_same_in_every_run():
    # Sets iterate in an order that depends on PYTHONHASHSEED; the key must not.
    code = ('import datetime, uuid, decimal\n'
            'from bucketcache.keymakers import key_json\n'
            'from bucketcache import _lib\n'
            'key = [{"s%d" % i for i in range(50)}, frozenset(range(-20, 20)), b"b",\n'
            '       datetime.datetime(2001, 2, 3), decimal.Decimal("2.5"), 1j,\n'
            '       uuid.UUID(int=1), datetime.timedelta(hours=1)]\n'
            'print(_lib.canonical_key(key_json(key).encode()).decode())\n')
    outputs = set()
    for seed in ('1', '2', '3'):
        env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), PYTHONHASHSEED=seed,
                   PYTHONDONTWRITEBYTECODE='1')
        r = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        outputs.add(r.stdout)
    assert len(outputs) == 1, outputs


def test_equal_sets_and_bytes_are_one_key(cache_dir):
    with Bucket(cache_dir) as b:
        b[{1, 2, 3}] = 'set'
        assert b[frozenset([3, 2, 1])] == 'set'
        b[b'raw'] = 'bytes'
        assert b[bytearray(b'raw')] == 'bytes'
        b[datetime.date(2020, 1, 1)] = 'date'
        assert b[datetime.date(2020, 1, 1)] == 'date'
        assert datetime.datetime(2020, 1, 1) not in b  # a datetime is not a date
        assert '2020-01-01' not in b                   # nor is its text
    assert len(entry_files(cache_dir)) == 3


def test_non_finite_decimals_and_complex_numbers_are_not_keys():
    for bad in (decimal.Decimal('NaN'), decimal.Decimal('-Infinity'), complex(1, float('nan'))):
        with pytest.raises(ValueError):
            key_json(bad)


def test_other_objects_stand_for_their_repr():
    # As BucketCache: no JSON form and no state: repr(). Classes, functions and modules too.
    assert canonical(Bucket) == '{"__type__":"repr","value":"<class \'bucketcache.buckets.Bucket\'>"}'
    assert canonical(len) == '{"__type__":"repr","value":"<built-in function len>"}'
    assert canonical(sys).startswith('{"__type__":"repr","value":"<module \'sys\'')


def test_an_address_based_repr_is_warned_about():
    with pytest.warns(bucketcache.UnstableKeyWarning, match='at 0x'):
        key_json(object())
    with pytest.warns(bucketcache.UnstableKeyWarning):
        key_json({'f': lambda: 1})
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        key_json(len)  # a stable repr: no warning
        key_json(datetime.date(2020, 1, 1))


def test_cycles_are_a_value_error():
    a = []
    a.append(a)
    with pytest.raises(ValueError, match='circular'):
        key_json(a)
    d = {}
    d['d'] = d
    with pytest.raises(ValueError, match='circular'):
        key_json(d)


def test_a_cycle_through_a_set_is_a_value_error():
    class Node:
        def __init__(self):
            self.peers = set()

        def __hash__(self):
            return 1

    n = Node()
    n.peers.add(n)
    with pytest.raises(ValueError, match='circular'):
        key_json(n)


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
