import inspect
import multiprocessing
import os
import threading
import time
from datetime import datetime, timedelta

import pytest

from bucketcache import Bucket, CachedCallInfo, DeferredWriteBucket, JSONBackend
from bucketcache.keymakers import key_json


class Calls:
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def add(self):
        with self.lock:
            self.n += 1


def test_plain_decorator(bucket):
    calls = Calls()

    @bucket
    def add(a, b):
        calls.add()
        return a + b

    assert add(1, 2) == 3
    assert add(1, 2) == 3
    assert add(a=1, b=2) == 3
    assert calls.n == 1
    assert add(2, 1) == 3
    assert calls.n == 2
    assert add.__name__ == 'add'


def test_defaults_are_part_of_the_call(bucket):
    calls = Calls()

    @bucket
    def f(a, b=10):
        calls.add()
        return a * b

    assert f(2) == f(2, 10) == f(2, b=10) == 20
    assert calls.n == 1


def test_cached_across_buckets(cache_dir):
    calls = Calls()

    def f(x):
        calls.add()
        return [x]

    with Bucket(cache_dir) as a:
        assert a(f)(1) == [1]
    with Bucket(cache_dir) as b:
        assert b(f)(1) == [1]
    assert calls.n == 1


def test_decorator_argument_checks(bucket):
    with pytest.raises(TypeError):
        bucket()
    with pytest.raises(TypeError):
        bucket(len, len)
    with pytest.raises(ValueError):
        bucket(42)
    with pytest.raises(TypeError):
        bucket(len, method=True)
    with pytest.raises(TypeError, match='Invalid decorator argument: spam'):
        bucket(spam=1)
    with pytest.raises(TypeError, match='nocache'):
        bucket(nocache='refresh')(lambda x: x)
    with pytest.raises(TypeError, match='cannot be ignored'):
        bucket(ignore=['y'])(lambda x: x)


def test_nocache_refreshes(bucket):
    calls = Calls()

    @bucket(nocache='refresh')
    def f(a, refresh=False):
        calls.add()
        return (a, calls.n)

    assert f(1) == (1, 1)
    assert f(1) == (1, 1)
    assert f(1, refresh=True) == (1, 2)  # called and stored
    assert f(1) == (1, 2)
    assert calls.n == 2


def test_ignore(bucket):
    calls = Calls()

    @bucket(ignore=['log', 'args', 'kw'])
    def get(name, log=None, *args, **kw):
        calls.add()
        return name

    assert get('spam') == 'spam'
    assert get('spam', print) == 'spam'  # ignored arguments need not be keys
    assert get('spam', None, 1, 2, x=object()) == 'spam'
    assert calls.n == 1


def test_varargs_and_kwargs_are_keys(bucket):
    calls = Calls()

    @bucket
    def f(a, *args, c=3, **kw):
        calls.add()
        return [a, list(args), c, kw]

    assert f(1, 2, c=4, z=5) == [1, [2], 4, {'z': 5}]
    assert f(1, 2, c=4, z=5) == [1, [2], 4, {'z': 5}]
    assert calls.n == 1
    f(1, 2, c=4, z=6)
    f(1, 2, 3, c=4, z=5)
    f(1, 2, z=5, c=4)  # the same call
    assert calls.n == 3


def test_callback_receives_cached_call_info(cache_dir):
    infos = []
    with Bucket(cache_dir, hours=1) as b:
        @b
        def f(a, *rest, k=1):
            return {'sum': a + sum(rest) + k}

        @f.callback
        def f(callinfo):
            infos.append(callinfo)

        assert f(1, 2, 3) == {'sum': 7}
        assert infos == []  # computed: no callback
        before = datetime.utcnow()
        assert f(1, 2, 3) == {'sum': 7}
    (info,) = infos
    assert isinstance(info, CachedCallInfo)
    assert info.varargs == (2, 3)
    assert info.callargs == {'a': 1, 'rest': (2, 3), 'k': 1}
    assert info.return_value == {'sum': 7}
    assert info.expiration_date.tzinfo is None  # naive UTC, as BucketCache
    assert before < info.expiration_date <= before + timedelta(hours=1, seconds=5)


def test_callback_expiration_date_is_none_without_lifetime(bucket):
    infos = []

    @bucket
    def f():
        return 1

    f.callback(infos.append)
    f()
    f()
    assert infos[0].expiration_date is None


class Service:
    def __init__(self, user):
        self.user = user
        self.calls = 0

    def __getstate__(self):
        return {'user': self.user}  # calls is not part of the key

    def fetch(self, a, skip=False):
        self.calls += 1
        return '%s:%s' % (self.user, a)


def test_method(bucket):
    seen = []

    class S(Service):
        @bucket(method=True, nocache='skip')
        def fetch(self, a, skip=False):
            return Service.fetch(self, a)

        @fetch.callback
        def fetch(self, callinfo):
            seen.append((self.user, callinfo.return_value))

    alice, bob = S('alice'), S('bob')
    assert alice.fetch(1) == 'alice:1'
    assert alice.fetch(1) == 'alice:1'
    assert bob.fetch(1) == 'bob:1'
    assert S('alice').fetch(1) == 'alice:1'  # same state, same key
    assert (alice.calls, bob.calls) == (1, 1)
    assert seen == [('alice', 'alice:1'), ('alice', 'alice:1')]
    alice.fetch(1, skip=True)
    assert alice.calls == 2


def test_property(bucket):
    class P:
        def __init__(self, x):
            self.x = x
            self.calls = []

        def __getstate__(self):
            return {'x': self.x}

        @bucket
        @property
        def double(self):
            self.calls.append(1)
            return self.x * 2

    p = P(4)
    assert p.double == 8
    assert p.double == 8
    assert len(p.calls) == 1
    assert P(5).double == 10


def test_exceptions_propagate_and_nothing_is_cached(bucket):
    calls = Calls()

    class Boom(Exception):
        pass

    @bucket
    def f(x):
        calls.add()
        if calls.n == 1:
            raise Boom('first call fails')
        return x

    with pytest.raises(Boom, match='first call fails') as info:
        f(1)
    assert any(entry.name == 'f' for entry in info.traceback)  # the original traceback
    assert f(1) == 1
    assert f(1) == 1
    assert calls.n == 2


def test_modifying_arguments_is_an_error(bucket):
    @bucket
    def f(items):
        items.append(1)
        return len(items)

    with pytest.raises(ValueError, match='modification of input parameters'):
        f([])


def test_result_is_the_function_s_own_object_when_computed(json_bucket):
    @json_bucket
    def f():
        return (1, 2)

    assert f() == (1, 2)  # computed: returned as is
    assert f() == [1, 2]  # cached: as the backend reads it


def test_key_is_the_cxx_memoize_key(json_bucket, cache_dir):
    @json_bucket(name='slow_square')
    def square(x):
        return x * x

    assert key_json(square.cache_key(4)) == '{"args":[4],"name":"slow_square"}'
    # An entry under the C++ memoize key {"args":[4],"name":"slow_square"} is a hit.
    json_bucket[{'name': 'slow_square', 'args': [4]}] = 16
    calls = Calls()

    @json_bucket(name='slow_square')
    def square2(x):
        calls.add()
        return x * x

    assert square2(4) == 16
    assert calls.n == 0
    assert square(5) == 25
    assert json_bucket[{'args': [5], 'name': 'slow_square'}] == 25


def test_default_name_is_module_and_qualified_name(bucket):
    @bucket
    def f(x, *, y=1):
        return x

    key = f.cache_key(1, y=2)
    assert key == {'args': [1], 'kwargs': {'y': 2},
                   'name': __name__ + '.test_default_name_is_module_and_qualified_name.<locals>.f',
                   'argspec': {'parameters': [
                       {'name': 'x', 'kind': 'positional_or_keyword'},
                       {'name': 'y', 'kind': 'keyword_only', 'default': '1'}]}}


def _make(bucket, source, calls):
    """A decorated function f defined by source, with the same qualified name each time."""
    namespace = {'calls': calls, '__name__': 'mymodule'}
    exec(source, namespace)
    return bucket(namespace['f'])


def test_a_changed_signature_does_not_hit_old_results(bucket):
    calls = Calls()
    body = '\n    calls.add()\n    return "%s"\n'
    old = _make(bucket, 'def f(x, y=1):' + body % 'old', calls)
    assert old(5) == 'old' and old(5) == 'old'
    assert calls.n == 1
    # The same function (module, name) with another default, parameter, kind or annotation.
    for i, sig in enumerate(['def f(x, y=2):', 'def f(x, y=1, z=0):', 'def f(x, *, y=1):',
                             'def f(x: int, y=1):', 'def f(x, y=1) -> str:',
                             'def f(x, z=1):', 'def f(x, y=1, *rest):']):
        new = _make(bucket, sig + body % i, calls)
        assert new(5) == str(i), sig
    assert calls.n == 8
    # The same signature again: the old result.
    again = _make(bucket, 'def f(x, y=1):' + body % 'again', calls)
    assert again(5) == 'old'
    assert calls.n == 8


def test_a_named_memo_keeps_the_cross_language_key(bucket):
    calls = Calls()
    source = 'def f(x, y=%d):\n    calls.add()\n    return x * y\n'
    namespace = {'calls': calls}
    exec(source % 2, namespace)
    double = bucket(name='scale')(namespace['f'])
    assert double.cache_key(3) == {'args': [3, 2], 'name': 'scale'}
    assert double(3) == 6
    exec(source % 3, namespace)
    # Named explicitly: the key is the function's name and arguments only, as C++'s
    # memoize(); a changed signature is the namer's business.
    triple = bucket(name='scale')(namespace['f'])
    assert triple.cache_key(3, 2) == double.cache_key(3)
    assert triple(3, 2) == 6 and calls.n == 1


def test_signature_key_is_the_same_in_every_run(tmp_path):
    import subprocess
    import sys
    from conftest import PACKAGE_ROOT
    code = ('import warnings, bucketcache\n'
            'from bucketcache.keymakers import key_json\n'
            'warnings.simplefilter("error")\n'
            '_missing = object()\n'
            'b = bucketcache.Bucket(%r)\n'
            '@b(ignore=["sentinel"])\n'
            'def f(x, opts=frozenset({"a", "b", "c"}), sentinel=_missing, fn=len):\n'
            '    return x\n'
            'print(key_json(f.cache_key(1)))\n' % str(tmp_path / 'c'))
    outputs = set()
    for seed in ('1', '2'):
        env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), PYTHONHASHSEED=seed,
                   PYTHONDONTWRITEBYTECODE='1')
        r = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                           text=True, timeout=60, cwd=str(tmp_path))
        assert r.returncode == 0, r.stderr
        outputs.add(r.stdout)
    assert len(outputs) == 1, outputs
    assert 'at 0x?' in outputs.pop()


def _reference(a, b: int = 2, /, c=3, *args: str, d, e='e', **kw: float) -> list:
    """Docstring."""
    return [a, b, c, args, d, e, kw]


def _no_defaults(x, y):
    return x + y


def _kw_only(*, k=1):
    return k


def _posonly(a, /):
    return a


def test_decorated_functions_keep_their_argspec(bucket):
    for f in (_reference, _no_defaults, _kw_only, _posonly):
        decorated = bucket(f)
        assert inspect.getfullargspec(decorated) == inspect.getfullargspec(f), f.__name__
        assert inspect.signature(decorated) == inspect.signature(f)
        assert decorated.__name__ == f.__name__ and decorated.__doc__ == f.__doc__
        assert decorated.__wrapped__ is f
    d = bucket(_reference)
    assert d(1, d=4) == [1, 2, 3, (), 4, 'e', {}]
    assert d(1, d=4) == [1, 2, 3, (), 4, 'e', {}]
    assert d(1, 5, 6, 7, d=4, z=1.5) == [1, 5, 6, (7,), 4, 'e', {'z': 1.5}]
    with pytest.raises(TypeError):
        d(1)  # d is required, as in the original
    with pytest.raises(TypeError):
        d(a=1, d=4)  # a is positional-only
    assert bucket(_posonly)(9) == 9


def test_decorated_methods_keep_their_argspec(bucket):
    class Service:
        def fetch(self, what, *, fresh=False):
            return what

    decorated = bucket(method=True)(Service.fetch)
    assert inspect.getfullargspec(decorated) == inspect.getfullargspec(Service.fetch)


def test_threads_compute_once(cache_dir):
    calls = Calls()
    with Bucket(cache_dir, backend=JSONBackend) as b:
        @b
        def slow(x):
            calls.add()
            time.sleep(0.3)
            return x * 2

        start = threading.Barrier(8)
        results = []

        def run():
            start.wait()
            results.append(slow(21))

        threads = [threading.Thread(target=run) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [42] * 8
    assert calls.n == 1


def test_deferred_bucket_decorator(cache_dir):
    calls = Calls()
    with DeferredWriteBucket(cache_dir) as d:
        @d
        def f(x):
            calls.add()
            return x

        assert f(1) == f(1) == 1
        assert calls.n == 1
        with Bucket(cache_dir) as b:
            assert b(f.__wrapped__)(1) == 1  # not on disk yet: computed again
        assert calls.n == 2
    # Closing the deferred bucket wrote its pending result; the other one is the same key.
    with Bucket(cache_dir) as b:
        assert b(f.__wrapped__)(1) == 1
    assert calls.n == 2


def _count_and_compute(directory, counter, start, out):
    start.wait()
    with Bucket(directory, backend=JSONBackend) as b:
        @b(name='shared')
        def compute(x):
            with open(counter, 'a') as f:
                f.write('%d\n' % os.getpid())
            time.sleep(0.5)
            return {'x': x, 'pid': os.getpid()}

        out.put(compute(1))


def test_processes_compute_once(tmp_path):
    ctx = multiprocessing.get_context('fork')
    counter = tmp_path / 'counter'
    start = ctx.Barrier(4)
    out = ctx.Queue()
    procs = [ctx.Process(target=_count_and_compute,
                         args=(tmp_path / 'cache', str(counter), start, out))
             for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = counter.read_text().split()
    assert len(lines) == 1, lines
    assert all(r == {'x': 1, 'pid': int(lines[0])} for r in results), results
