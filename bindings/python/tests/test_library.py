"""Finding the library, in fresh interpreters."""
import ctypes.util
import os
import shutil
import subprocess
import sys

from conftest import PACKAGE_ROOT

import bucketcache

PROBE = 'import bucketcache; print(bucketcache.library_path)'


def run(code, env_changes, pythonpath=PACKAGE_ROOT):
    env = dict(os.environ)
    env.pop('BUCKETCACHE_LIBRARY', None)
    env.update(env_changes)
    env['PYTHONPATH'] = str(pythonpath)
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    # cwd: "-c" puts the current directory first on sys.path.
    return subprocess.run([sys.executable, '-c', code], env=env, cwd=str(pythonpath.parent),
                          capture_output=True, text=True, timeout=60)


def test_loads_the_library_and_reports_versions():
    assert os.path.exists(bucketcache.library_path)
    assert bucketcache.library_version().count('.') == 2


def test_bucketcache_library_is_used():
    lib = os.environ['BUCKETCACHE_LIBRARY']
    r = run(PROBE, {'BUCKETCACHE_LIBRARY': lib})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == lib


def test_a_bad_bucketcache_library_is_one_clear_import_error(tmp_path):
    r = run('import bucketcache', {'BUCKETCACHE_LIBRARY': str(tmp_path / 'nope.so')})
    assert r.returncode != 0
    assert 'LibraryNotFoundError' in r.stderr
    assert 'BUCKETCACHE_LIBRARY' in r.stderr
    r = run('\ntry:\n import bucketcache\nexcept ImportError as e:\n print("ImportError", e)',
            {'BUCKETCACHE_LIBRARY': str(tmp_path / 'nope.so')})
    assert r.stdout.startswith('ImportError'), r.stdout + r.stderr


def test_build_tree_fallback(tmp_path):
    # A copy of the package in a fake checkout whose build/ holds the library.
    repo = tmp_path / 'repo'
    shutil.copytree(PACKAGE_ROOT / 'bucketcache', repo / 'bindings' / 'python' / 'bucketcache')
    (repo / 'build-x').mkdir()
    built = repo / 'build-x' / 'libbucketcache.so.0'
    shutil.copy(os.environ['BUCKETCACHE_LIBRARY'], built)
    r = run(PROBE, {}, pythonpath=repo / 'bindings' / 'python')
    assert r.returncode == 0, r.stderr
    system = ctypes.util.find_library('bucketcache')
    if system is None and run('import ctypes; ctypes.CDLL("libbucketcache.so.0")', {}
                              ).returncode != 0:
        assert r.stdout.strip() == str(built)  # nothing installed: the build tree
    else:
        assert r.stdout.strip() != str(built)  # an installed library comes first


def test_no_library_anywhere_is_one_clear_import_error(tmp_path):
    repo = tmp_path / 'repo'
    shutil.copytree(PACKAGE_ROOT / 'bucketcache', repo / 'bindings' / 'python' / 'bucketcache')
    r = run('import bucketcache', {}, pythonpath=repo / 'bindings' / 'python')
    if ctypes.util.find_library('bucketcache') is None and r.returncode != 0:
        assert 'cannot find libbucketcache' in r.stderr
        assert 'set BUCKETCACHE_LIBRARY' in r.stderr
    else:
        assert r.returncode == 0  # installed system-wide
