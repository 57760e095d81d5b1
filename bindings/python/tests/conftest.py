import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent  # bindings/python
REPO_ROOT = PACKAGE_ROOT.parent.parent
sys.path.insert(0, str(PACKAGE_ROOT))

import bucketcache  # noqa: E402


def shared_dir():
    return Path(os.environ.get('BUCKETCACHE_SHARED_DIR') or REPO_ROOT.parent / 'shared')


@pytest.fixture(scope='session')
def vectors():
    path = shared_dir() / 'testdata' / 'canonical-keys.json'
    assert path.is_file(), 'key vectors not found at %s (set BUCKETCACHE_SHARED_DIR)' % path
    with open(path, encoding='utf-8') as f:
        return json.load(f)


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / 'cache'


@pytest.fixture
def bucket(cache_dir):
    b = bucketcache.Bucket(cache_dir)
    yield b
    b.close()


@pytest.fixture
def json_bucket(cache_dir):
    b = bucketcache.Bucket(cache_dir, backend=bucketcache.JSONBackend)
    yield b
    b.close()


def entry_files(directory):
    """Entry files under a bucket directory (not lock or temp files)."""
    return sorted(Path(directory).rglob('*.bce'))


@pytest.fixture
def log_on():
    """The bucketcache logger enabled (it is off by default, as in BucketCache)."""
    logger = bucketcache.logger
    was = logger.disabled
    logger.disabled = False
    yield logger
    logger.disabled = was
