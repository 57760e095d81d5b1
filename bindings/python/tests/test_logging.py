import logging
import re

import bucketcache
from bucketcache import Bucket, logger, logger_config


def library_lines(caplog):
    return [r for r in caplog.records if r.name == 'bucketcache']


def test_logger_is_the_standard_bucketcache_logger():
    assert logger is logging.getLogger('bucketcache')
    assert bucketcache.logger is logger


def test_library_lines_reach_the_python_logger(cache_dir, caplog, log_on):
    caplog.set_level(logging.DEBUG, logger='bucketcache')
    with Bucket(cache_dir) as b:
        b['k'] = 1
        'missing' in b  # noqa: B015
    messages = [r.getMessage() for r in library_lines(caplog)]
    assert any(m.startswith('opened bucket') for m in messages), messages
    assert any(m.startswith('wrote entry') for m in messages), messages
    assert all(r.levelno == logging.DEBUG for r in library_lines(caplog)
               if r.getMessage().startswith('wrote entry'))


def test_python_level_controls_the_library(cache_dir, caplog, log_on):
    caplog.set_level(logging.WARNING, logger='bucketcache')
    with Bucket(cache_dir) as b:
        b['k'] = 1
    assert not [r for r in library_lines(caplog) if r.levelno < logging.WARNING]


def test_log_full_keys(cache_dir, caplog, log_on):
    caplog.set_level(logging.DEBUG, logger='bucketcache')
    try:
        with Bucket(cache_dir) as b:
            b['short'] = 1
            logger_config.log_full_keys = True
            assert logger_config.log_full_keys
            b['full'] = 1
    finally:
        logger_config.log_full_keys = False
    wrote = [r.getMessage() for r in library_lines(caplog)
             if r.getMessage().startswith('wrote entry')]
    assert len(wrote) == 2
    assert re.match(r'wrote entry [0-9a-f]{12}\b(?![0-9a-f])', wrote[0]), wrote[0]
    assert re.match(r'wrote entry [0-9a-f]{64}\b', wrote[1]), wrote[1]


def test_keys_are_logged_abbreviated_unless_full(cache_dir, caplog, log_on):
    caplog.set_level(logging.DEBUG, logger='bucketcache')
    long_key = 'x' * 100
    try:
        with Bucket(cache_dir) as b:
            b[long_key] = 1
            logger_config.log_full_keys = True
            b[long_key] = 1
    finally:
        logger_config.log_full_keys = False
    keys = [r.getMessage() for r in library_lines(caplog) if r.getMessage().startswith('key ')]
    assert keys[0] == 'key ' + repr(long_key)[:77] + '...'
    assert keys[-1] == 'key ' + repr(long_key)


def test_bucketcache_log_environment_variable_fixes_the_library_level(cache_dir):
    import os
    import subprocess
    import sys
    from conftest import PACKAGE_ROOT
    code = ('import logging, bucketcache\n'
            'logging.basicConfig(level=logging.DEBUG, format="%%(levelname)s %%(message)s")\n'
            'logging.getLogger("bucketcache").setLevel(logging.DEBUG)\n'
            'b = bucketcache.Bucket(%r)\n'
            'b["k"] = 1\n' % str(cache_dir))
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), PYTHONDONTWRITEBYTECODE='1',
               BUCKETCACHE_LOG='warn')
    r = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(cache_dir.parent))
    assert r.returncode == 0, r.stderr
    assert 'wrote entry' not in r.stderr  # the library logs warnings and up only
    assert 'DEBUG key ' in r.stderr  # the binding's own lines follow the Python level


def _run_script(code, cache_dir, **env_changes):
    import os
    import subprocess
    import sys
    from conftest import PACKAGE_ROOT
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), PYTHONDONTWRITEBYTECODE='1')
    env.pop('BUCKETCACHE_LOG', None)
    env.update(env_changes)
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                          text=True, timeout=60, cwd=str(cache_dir.parent))


# A corrupt entry: the library logs a warning when it reads it, and so does the binding
# for a value its backend cannot read.
_WARNING_SCRIPT = '''
import logging, pathlib, sys, bucketcache
%s
b = bucketcache.Bucket(%r, memory_limit=0)
b['k'] = 1
b['j'] = 1
for f in pathlib.Path(%r).rglob('*.bce'):
    data = bytearray(f.read_bytes()); data[-1] ^= 0xff; f.write_bytes(bytes(data))
for k in ('k', 'j'):
    try:
        b[k]
    except KeyError:
        pass
    else:
        sys.exit('corrupt entry read')
print('done')
'''


def test_logging_is_off_by_default(cache_dir):
    # As BucketCache: nothing reaches stderr, even warnings, until the logger is enabled.
    r = _run_script(_WARNING_SCRIPT % ('', str(cache_dir), str(cache_dir)), cache_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 'done'
    assert r.stderr == ''


def test_enabled_logging_is_standard_logging(cache_dir):
    enable = ('assert bucketcache.logger.disabled\n'
              'bucketcache.logger.disabled = False\n')
    r = _run_script(_WARNING_SCRIPT % (enable, str(cache_dir), str(cache_dir)), cache_dir)
    assert r.returncode == 0, r.stderr
    assert 'corrupt' in r.stderr.lower(), r.stderr  # warnings: logging's last resort
    # With handlers configured, records go through them as with any logger.
    second = cache_dir.parent / 'second'
    enable = ('bucketcache.logger.disabled = False\n'
              'logging.basicConfig(level=logging.WARNING, format="REC %(name)s %(levelname)s")\n')
    r = _run_script(_WARNING_SCRIPT % (enable, str(second), str(second)), cache_dir)
    assert r.returncode == 0, r.stderr
    assert 'REC bucketcache WARNING' in r.stderr, r.stderr


def test_bucketcache_log_environment_variable_turns_logging_on(cache_dir):
    r = _run_script('import bucketcache; print(bucketcache.logger.disabled)', cache_dir,
                    BUCKETCACHE_LOG='warn')
    assert r.stdout.strip() == 'False', r.stderr
    r = _run_script('import bucketcache; print(bucketcache.logger.disabled)', cache_dir,
                    BUCKETCACHE_LOG='off')
    assert r.stdout.strip() == 'True', r.stderr
    r = _run_script('import bucketcache; print(bucketcache.logger.disabled)', cache_dir)
    assert r.stdout.strip() == 'True', r.stderr


def test_configuring_the_logger_by_name_turns_it_on(cache_dir):
    # logging.config.dictConfig sets disabled = False on the loggers it names.
    code = ('import logging.config, bucketcache\n'
            'logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,\n'
            '    "loggers": {"bucketcache": {"level": "DEBUG"}}})\n'
            'print(bucketcache.logger.disabled)\n')
    r = _run_script(code, cache_dir)
    assert r.stdout.strip() == 'False', r.stderr
    # ... also before the import.
    code = ('import logging.config\n'
            'logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,\n'
            '    "loggers": {"bucketcache": {"level": "DEBUG"}}})\n'
            'import bucketcache\n'
            'print(bucketcache.logger.disabled)\n')
    r = _run_script(code, cache_dir)
    assert r.stdout.strip() == 'False', r.stderr


# A handler that uses the bucket while handling the library's log lines (a handler storing
# records in a cache, or looking something up): the library delivers a call's lines after
# the call, with its locks released, so the handler's own calls neither wait for the
# logging call nor feed lines back into the handler. Run in a child with a timeout: a
# regression hangs, it must fail instead.
_HANDLER_SCRIPT = '''
import logging, bucketcache
from bucketcache import Bucket, DeferredWriteBucket
b = Bucket(%r, memory_limit=0)
d = DeferredWriteBucket(%r)
b['x'] = 1
seen = []
class UsesTheBucket(logging.Handler):
    busy = False
    def emit(self, record):
        seen.append(record.getMessage())
        if self.busy:  # the binding's own lines about the calls below
            return
        self.busy = True
        try:
            b['x']                 # a read of the same bucket
            b['from handler'] = 2  # and a write
            d.get('p')             # a deferred bucket, during its own sync's lines too
        finally:
            self.busy = False
lg = logging.getLogger('bucketcache')
lg.disabled = False
lg.setLevel(logging.DEBUG)
lg.addHandler(UsesTheBucket())
assert b['x'] == 1
d['p'] = 3
d.sync()
assert b['from handler'] == 2
assert any(m.startswith('file hit') or m.startswith('wrote entry') for m in seen), seen
print('done', len(seen))
'''


def test_a_log_handler_may_use_the_bucket(cache_dir):
    code = _HANDLER_SCRIPT % (str(cache_dir / 'b'), str(cache_dir / 'd'))
    r = _run_script(code, cache_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('done'), r.stdout
