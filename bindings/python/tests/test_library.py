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


def _nothing_installed():
    return ctypes.util.find_library('bucketcache') is None and run(
        'import ctypes; ctypes.CDLL("libbucketcache.so.0")', {}).returncode != 0


def _fake_checkout(tmp_path):
    repo = tmp_path / 'repo'
    shutil.copytree(PACKAGE_ROOT / 'bucketcache', repo / 'bindings' / 'python' / 'bucketcache')
    return repo


def _put_library(tree, cmake_cache=None, mtime=None):
    tree.mkdir(parents=True)
    built = tree / 'libbucketcache.so.0'
    shutil.copy(os.environ['BUCKETCACHE_LIBRARY'], built)
    if cmake_cache is not None:
        (tree / 'CMakeCache.txt').write_text(cmake_cache)
    if mtime is not None:
        os.utime(built, (mtime, mtime))
    return built


def test_sanitizer_build_trees_are_never_loaded(tmp_path):
    # The newest trees are sanitizer builds, by name and by their CMakeCache.txt; the
    # plain build is older, and must be the one loaded.
    repo = _fake_checkout(tmp_path)
    plain = _put_library(repo / 'build', 'BUCKETCACHE_SANITIZE:STRING=\n', mtime=1000)
    _put_library(repo / 'build-asan', mtime=3000)             # by name (no CMakeCache.txt)
    _put_library(repo / 'build-tsan', mtime=3000)
    _put_library(repo / 'build-fuzz', mtime=3000)
    _put_library(repo / 'build-mine', 'BUCKETCACHE_SANITIZE:STRING=address;undefined\n',
                 mtime=4000)                                  # by its cache, whatever its name
    _put_library(repo / 'build-other' / 'sub', mtime=4000)
    (repo / 'build-other' / 'CMakeCache.txt').write_text(
        'BUCKETCACHE_SANITIZE:STRING=thread\n')
    r = run(PROBE, {}, pythonpath=repo / 'bindings' / 'python')
    assert r.returncode == 0, r.stderr
    if _nothing_installed():
        assert r.stdout.strip() == str(plain)
    from bucketcache import _lib
    assert _lib.build_tree_libraries(repo) == [plain]


def test_a_tree_named_like_a_sanitizer_build_is_judged_by_its_cache(tmp_path):
    from bucketcache import _lib
    tree = tmp_path / 'build-asan'
    tree.mkdir()
    assert _lib.is_sanitizer_tree(tree)
    (tree / 'CMakeCache.txt').write_text('FOO:BOOL=ON\nBUCKETCACHE_SANITIZE:STRING=\n')
    assert not _lib.is_sanitizer_tree(tree)  # its cache says it is a plain build
    plain = tmp_path / 'build'
    plain.mkdir()
    assert not _lib.is_sanitizer_tree(plain)
    (plain / 'CMakeCache.txt').write_text('BUCKETCACHE_SANITIZE:STRING=address;undefined\n')
    assert _lib.is_sanitizer_tree(plain)
    (plain / 'CMakeCache.txt').write_text('BUCKETCACHE_SANITIZE:STRING=\n'
                                          'BUCKETCACHE_FUZZ:BOOL=ON\n')
    assert _lib.is_sanitizer_tree(plain)


def test_an_installed_package_loads_the_system_library(tmp_path):
    # What `cmake --install` + ldconfig gives: the package outside any checkout, the library
    # found by the system loader by its soname (LD_LIBRARY_PATH stands in for ldconfig's
    # cache here), with no BUCKETCACHE_LIBRARY.
    site = tmp_path / 'site-packages'
    shutil.copytree(PACKAGE_ROOT / 'bucketcache', site / 'bucketcache')
    libdir = tmp_path / 'lib'
    libdir.mkdir()
    shutil.copy(os.environ['BUCKETCACHE_LIBRARY'], libdir / 'libbucketcache.so.0')
    r = run(PROBE, {'LD_LIBRARY_PATH': str(libdir)}, pythonpath=site)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 'libbucketcache.so.0'
    # A package at a shallow path (no <repo>/bindings/python above it) still imports.
    shallow = tmp_path / 'x'
    shutil.copytree(PACKAGE_ROOT / 'bucketcache', shallow / 'bucketcache')
    r = run(PROBE, {'LD_LIBRARY_PATH': str(libdir)}, pythonpath=shallow)
    assert r.returncode == 0, r.stderr
