"""Logging. The library's log lines go to ``logger`` (``logging.getLogger('bucketcache')``).

As in BucketCache, the logger is off until enabled: ``bucketcache.logger.disabled =
False`` turns it on (so do the environment variable BUCKETCACHE_LOG set to a level
other than "off", and a level or handler given to the logger before the import). While it is off, the library formats no log lines at all. Once on, it
is a standard ``logging`` logger: the library logs at the level the logger lets through
(its effective level; a library "trace" line is logged at level 5), unless
BUCKETCACHE_LOG fixes the library's level, and records go to its handlers and its
ancestors' (with none configured, warnings reach stderr through logging's last resort).
"""
from . import _lib

__all__ = ()

logger = _lib.logger


class LoggerConfig:
    """``log_full_keys``: log whole keys and key digests instead of abbreviations."""

    def __init__(self):
        self._log_full_keys = False

    @property
    def log_full_keys(self):
        return self._log_full_keys

    @log_full_keys.setter
    def log_full_keys(self, value):
        value = bool(value)
        _lib.set_log_full_keys(value)
        self._log_full_keys = value

    def __repr__(self):
        return 'LoggerConfig(log_full_keys=%r)' % self._log_full_keys


logger_config = LoggerConfig()


def abbreviate(obj, full=False):
    """repr(obj), cut to 80 characters unless full."""
    text = repr(obj)
    if len(text) > 80 and not full:
        return text[:77] + '...'
    return text
