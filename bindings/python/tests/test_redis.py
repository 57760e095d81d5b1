"""Bucket(..., store='redis://...') against a real redis-server on a free loopback port,
stopped at the end. redis-server is a test dependency (scripts/install-deps.sh): if it
cannot be started these tests fail, they are not skipped."""
import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest

from bucketcache import Bucket, BucketIOError, DeferredWriteBucket, JSONBackend


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _ping(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.2) as s:
            s.sendall(b'PING\r\n')
            return s.recv(16).startswith(b'+PONG')
    except OSError:
        return False


@pytest.fixture(scope='module')
def redis_url(tmp_path_factory):
    exe = shutil.which('redis-server')
    assert exe, 'redis-server not installed: run scripts/install-deps.sh'
    port = _free_port()
    workdir = tmp_path_factory.mktemp('redis')
    proc = subprocess.Popen(
        [exe, '--port', str(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
         '--dir', str(workdir), '--user', 'alice', 'on', '>secret', '~*', '&*', '+@all'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _ping(port):
            assert proc.poll() is None, 'redis-server exited at start'
            assert time.monotonic() < deadline, 'redis-server did not answer PING'
            time.sleep(0.02)
        yield 'redis://127.0.0.1:%d' % port
    finally:
        proc.kill()
        proc.wait()


def test_set_get_delete(redis_url):
    with Bucket('py/basic', store=redis_url) as b:
        b['key'] = {'a': [1, 2]}
        assert b['key'] == {'a': [1, 2]}
        assert 'key' in b
        del b['key']
        assert 'key' not in b
    with Bucket('py/basic', store=redis_url, backend=JSONBackend) as b:
        b[('tuple', 1)] = [1, 2, 3]
    with Bucket('py/basic', store=redis_url, backend=JSONBackend) as b:
        assert b[('tuple', 1)] == [1, 2, 3]  # another handle, read from the server


def test_lifetime_and_deferred(redis_url):
    with Bucket('py/life', store=redis_url, lifetime=timedelta(milliseconds=300)) as b:
        b['k'] = 1
        assert b['k'] == 1
        time.sleep(0.4)
        assert 'k' not in b
    with Bucket('py/deferred', store=redis_url) as b:
        d = DeferredWriteBucket.from_bucket(b)  # keeps the store
        d['k'] = 'pending'
        assert 'k' not in b
        d.sync()
        b.unload_key('k')
        assert b['k'] == 'pending'
        d.close()


def test_decorator_and_auth(redis_url):
    url = redis_url.replace('redis://', 'redis://alice:secret@')
    calls = []
    with Bucket('py/memo', store=url) as b:
        @b
        def square(x):
            calls.append(x)
            return x * x
        assert square(4) == 16
        assert square(4) == 16
        assert calls == [4]


def test_wrong_password_and_unreachable(redis_url):
    with pytest.raises(BucketIOError, match='authentication failed'):
        Bucket('py/x', store=redis_url.replace('redis://', 'redis://alice:nope@'))
    with pytest.raises(BucketIOError, match='refused'):
        Bucket('py/x', store='redis://127.0.0.1:%d' % _free_port(), timeout=0.5)
    with pytest.raises(ValueError):
        Bucket('py/x', store=redis_url, timeout=0)


def test_near_cache(redis_url, tmp_path):
    near_dir = tmp_path / 'near'
    with Bucket('py/near', store=redis_url, near_cache_dir=near_dir, near_cache_ttl=3600,
                memory_limit=0) as near, \
            Bucket('py/near', store=redis_url, memory_limit=0) as plain:
        near['k'] = 'v1'
        assert plain['k'] == 'v1'
        assert any(p.is_file() for p in near_dir.rglob('*'))
        plain['k'] = 'v2'
        assert near['k'] == 'v1'  # served by the near-cache within its bound
        del near['k']
        assert 'k' not in plain
    with Bucket('py/near2', store=redis_url, near_cache_dir=tmp_path / 'n2',
                near_cache_ttl=timedelta(milliseconds=20), memory_limit=0) as near, \
            Bucket('py/near2', store=redis_url, memory_limit=0) as plain:
        plain['k'] = 'v1'
        assert near['k'] == 'v1'
        plain['k'] = 'v2'
        time.sleep(0.1)  # past the 20 ms bound
        assert near['k'] == 'v2'
    with pytest.raises(ValueError):
        Bucket('py/x', store=redis_url, near_cache_ttl=0)
