"""Bucket, DeferredWriteBucket and deferred_write, over the C API."""
import ctypes
import hashlib
import inspect
import json
import logging
import os
from collections import namedtuple
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import _lib
from .backends import Backend, PickleBackend
from .config import BackendConfig
from .exceptions import CacheLoadError, KeyInvalidError
from .keymakers import DefaultKeyMaker, encode_str_key, key_json
from .log import abbreviate, logger, logger_config
from .utilities import DecoratorFactory, PrunedFilesInfo, raise_invalid_keys

__all__ = ('Bucket', 'DeferredWriteBucket', 'deferred_write', 'disable', 'enable', 'is_disabled')

_LIFETIME_KWARGS = {'days', 'seconds', 'microseconds', 'milliseconds', 'minutes', 'hours',
                    'weeks'}
_DECORATOR_KWARGS = {'method': False, 'nocache': None, 'ignore': None, 'name': None}
_EPOCH = datetime(1970, 1, 1)
_MISSING = object()
_get_into_buffer = _lib._get_into_buffer
_get_buffer = _lib._get_buffer
_NO_MAX_AGE = _lib._NO_MAX_AGE
_GET_BUFFER_CAP = _lib._GET_BUFFER_CAP


def _seconds(value, what):
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError('%s must be a number of seconds or a timedelta' % what)
    if not seconds >= 0:
        raise ValueError('%s must not be negative' % what)
    return seconds


def _lifetime_us(expire):
    """bc_set_ex's lifetime_us: -1 (the bucket's) for None, else microseconds (0: never)."""
    if expire is None:
        return -1
    seconds = _seconds(expire, 'expire')
    return 0 if seconds == 0 else max(1, min(round(seconds * 1e6), 2**63 - 1))


def _max_age_us(max_age):
    if max_age is None:
        return 0
    seconds = _seconds(max_age, 'max_age')
    return max(1, min(round(seconds * 1e6), 2**63 - 1))
_MICROSECOND = timedelta(microseconds=1)

# Bucket.stats(): docs/python.md, "Statistics".
Stats = namedtuple('Stats', 'hits misses writes evictions expired entries bytes')


# disable() / enable(): the process-wide switch (BC_OPT_DISABLED for every bucket).
_switch = {'disabled': False}


def disable():
    """Turns caching off for every bucket of this process, open or opened later: gets miss,
    nothing is stored, decorated functions always run (cachier's ``disable_caching``).
    BUCKETCACHE_DISABLE=1 in the environment does the same for buckets opened while set."""
    _switch['disabled'] = True


def enable():
    """Undoes disable(); entries stored before are served again."""
    _switch['disabled'] = False


def is_disabled():
    """Whether disable() is in force."""
    return _switch['disabled']


def _check_lifetime(value):
    if value is not None and not isinstance(value, timedelta):
        raise TypeError('lifetime must be type datetime.timedelta (or a subclass)')
    if value is not None and value < timedelta(0):
        raise ValueError('lifetime cannot be negative.')
    return value or None


def _check_backend(backend):
    if not (inspect.isclass(backend) and issubclass(backend, Backend)):
        raise TypeError("'backend' must inherit from bucketcache.Backend")
    backend.check_concrete()
    return backend


def _check_keymaker(keymaker):
    if not callable(getattr(keymaker, 'make_key', None)):
        raise TypeError("'keymaker' must be a KeyMaker instance")
    return keymaker


def _check_config(config):
    if config is not None and not isinstance(config, BackendConfig):
        raise TypeError("'config' must be a backend config instance (e.g. PickleConfig()), "
                        "not %s" % type(config).__name__)
    return config


class Bucket:
    """Dictionary-like object backed by a file cache (a bucket directory).

    Parameters:
        path: directory for the entries; created with its parents if missing.
        backend: Backend class. Default: PickleBackend.
        config: the backend's config instance (default: backend.default_config()).
        keymaker: KeyMaker instance (default: DefaultKeyMaker()).
        lifetime: datetime.timedelta after which entries expire; None: never.
        kwargs: datetime.timedelta keyword arguments, a shortcut for lifetime.

    Extensions (keyword-only): ``memory_limit`` bytes of the in-memory layer (0 disables
    it; default 64 MiB), ``check_file`` (see other processes' writes at once),
    ``fsync`` (fsync every write), ``lock_wait`` (seconds a decorated call waits for
    another thread or process computing the same key; default 60), ``store`` (where
    entries live: ``'file'``, the default, or a ``'redis://[user:password@]host:port[/db]'``
    URL, with which ``path`` names the bucket on the server: docs/redis.md) and
    ``timeout`` (seconds a remote store may take to connect or answer; default 2),
    ``size_limit`` (a soft bound in bytes on this bucket's entries in the directory, across
    processes; exceeding it evicts; None or 0: no limit, the default) and ``eviction``
    (``'lrs'``, least recently stored, the default, or ``'lru'``, least recently used,
    approximate: docs/cache-management.md).
    ``near_cache_dir`` (with a remote store: a local directory used as a file near-cache in
    front of it) and ``near_cache_ttl`` (seconds a near-cache copy is served before the
    server is asked again: how stale another machine's write may look; default 5).

    Thread-safe. ``close()`` (or ``with Bucket(...) as b:``) releases the bucket at once;
    otherwise that happens when it is garbage-collected or at exit.
    """
    _deferred = False

    def __init__(self, path, backend=None, config=None, keymaker=None, lifetime=None, *,
                 memory_limit=None, check_file=False, fsync=False, lock_wait=None,
                 store=None, timeout=None, size_limit=None, eviction=None,
                 near_cache_dir=None, near_cache_ttl=None, stale_ttl=None,
                 entry_size_limit=None, disabled=False, **kwargs):
        if kwargs:
            raise_invalid_keys(_LIFETIME_KWARGS, kwargs, 'Invalid lifetime argument{s}: {keys}')
            if lifetime:
                raise ValueError("either 'lifetime' or lifetime arguments ('seconds', "
                                 "'minutes', ...) can be passed, but not both.")
            lifetime = timedelta(**kwargs)

        if backend is None:
            backend = PickleBackend
        backend = _check_backend(backend)
        backend.valid_config(_check_config(config))  # a config of another backend: TypeError
        keymaker = _check_keymaker(keymaker if keymaker is not None else DefaultKeyMaker())
        lifetime = _check_lifetime(lifetime)

        extra = []
        if memory_limit is not None:
            if isinstance(memory_limit, bool) or not isinstance(memory_limit, int) \
                    or memory_limit < 0:
                raise ValueError('memory_limit must be a number of bytes >= 0')
            extra.append((_lib.BC_OPT_MEMORY_LIMIT_BYTES, memory_limit))
        if lock_wait is not None:
            seconds = lock_wait.total_seconds() if isinstance(lock_wait, timedelta) \
                else float(lock_wait)
            if not seconds >= 0:
                raise ValueError('lock_wait must not be negative')
            extra.append((_lib.BC_OPT_LOCK_WAIT_MS, round(seconds * 1000)))
        if stale_ttl is not None:
            seconds = _seconds(stale_ttl, 'stale_ttl')
            extra.append((_lib.BC_OPT_STALE_TTL_US, min(round(seconds * 1e6), 2**63 - 1)))
        if entry_size_limit is not None:
            if isinstance(entry_size_limit, bool) or not isinstance(entry_size_limit, int) \
                    or entry_size_limit < 0:
                raise ValueError('entry_size_limit must be a number of bytes >= 0')
            extra.append((_lib.BC_OPT_ENTRY_SIZE_LIMIT_BYTES, entry_size_limit))
        if disabled:
            extra.append((_lib.BC_OPT_DISABLED, 1))
        extra += [(_lib.BC_OPT_CHECK_FILE, bool(check_file)), (_lib.BC_OPT_FSYNC, bool(fsync)),
                  (_lib.BC_OPT_DEFERRED, self._deferred)]
        remote = store is not None and store != 'file'
        if store is not None:
            if not isinstance(store, str):
                raise TypeError("'store' must be 'file' or a redis:// URL")
            extra.append((_lib.BC_OPT_STORE, store))
        if timeout is not None:
            seconds = timeout.total_seconds() if isinstance(timeout, timedelta) \
                else float(timeout)
            if not seconds > 0:
                raise ValueError('timeout must be positive')
            extra.append((_lib.BC_OPT_TIMEOUT_MS, max(1, round(seconds * 1000))))
        if size_limit is not None:
            if isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit < 0:
                raise ValueError('size_limit must be a number of bytes >= 0 (0: no limit)')
            extra.append((_lib.BC_OPT_SIZE_LIMIT_BYTES, size_limit))
        if eviction is not None:
            if eviction not in ('lrs', 'lru'):
                raise ValueError("eviction must be 'lrs' or 'lru'")
            extra.append((_lib.BC_OPT_EVICTION, eviction))
        if near_cache_dir is not None:
            extra.append((_lib.BC_OPT_NEAR_CACHE_DIR,
                          os.fsencode(os.path.abspath(os.fspath(near_cache_dir)))))
        if near_cache_ttl is not None:
            seconds = near_cache_ttl.total_seconds() if isinstance(near_cache_ttl, timedelta) \
                else float(near_cache_ttl)
            if not seconds > 0:
                raise ValueError('near_cache_ttl must be positive')
            extra.append((_lib.BC_OPT_NEAR_CACHE_TTL_MS, max(1, round(seconds * 1000))))

        # A remote store's path is a bucket name, kept as given; a directory is made absolute.
        self._path_arg = os.fspath(path) if remote else os.path.abspath(os.fspath(path))
        self._extra_settings = extra
        self._backend = backend
        self._config_arg = config  # None: the backend's default config
        self._config = None  # the config in use, resolved at first use
        self._keymaker = keymaker
        self._lifetime = lifetime
        self._options = {'memory_limit': memory_limit, 'check_file': check_file,
                         'fsync': fsync, 'lock_wait': lock_wait, 'store': store,
                         'timeout': timeout, 'size_limit': size_limit, 'eviction': eviction,
                         'near_cache_dir': near_cache_dir, 'near_cache_ttl': near_cache_ttl,
                         'stale_ttl': stale_ttl, 'entry_size_limit': entry_size_limit,
                         'disabled': disabled}
        self._written = None  # keys written, tracked inside deferred_write()
        self._handle = None
        self._open()
        self._path = Path(path) if remote else Path(path).resolve()

    def _open(self):
        """Opens (or reopens, after a property assignment) the library's handle."""
        backend_id = self._backend.storage_id()
        if _lib.accepts_backend(backend_id):
            library_backend, namespace = backend_id, None
        else:
            # The library (C API v1) stores only its four value formats: entries of another
            # backend are raw entries whose key names the backend, so they never meet
            # another backend's.
            library_backend, namespace = 'raw', backend_id
        old = self._handle
        if old is not None and not old.closed:
            # Pending deferred writes go to disk first (on failure, nothing changes).
            _lib.check(_lib.lib.bc_sync(old.get()), 'sync')
        lifetime = self._lifetime
        settings = [(_lib.BC_OPT_BACKEND, library_backend),
                    (_lib.BC_OPT_KEY_FORMAT, 'json'),
                    (_lib.BC_OPT_LIFETIME_US, lifetime // _MICROSECOND if lifetime else 0)]
        _lib.sync_log_level()
        handle = _lib.Handle(self._path_arg, settings + self._extra_settings)
        # The old handle is closed when the last reference to it goes: now, or when the
        # calls other threads are making on it return (each holds it in a local).
        self._handle = handle
        self._library_backend = library_backend
        self._backend_loads = self._backend.loads  # bound once: Bucket[key]'s hot path
        self._key_prefix = None if namespace is None else (
            '{"__backend__":%s,"key":' % json.dumps(namespace)).encode('ascii')
        self._update_str_keys()

    def _update_str_keys(self):
        # Whether a str key's bytes are DefaultKeyMaker's text of it, as _key's fast path
        # makes them: the default keymaker (not a subclass) and no backend namespace.
        self._str_keys = type(self._keymaker) is DefaultKeyMaker and self._key_prefix is None

    # ---- Properties (assignable, as in BucketCache) ----

    @property
    def path(self):
        """The bucket directory (pathlib.Path, resolved)."""
        return self._path

    @property
    def backend(self):
        """The Backend class. Assigning one reopens the bucket under that backend (its
        entries are other entries); the config becomes the new backend's default unless
        one was assigned that the new backend takes."""
        return self._backend

    @backend.setter
    def backend(self, value):
        value = _check_backend(value)
        self._check_open()
        old = self._backend
        self._backend = value
        self._config = None
        try:
            self._open()
        except BaseException:
            self._backend = old
            raise
        if self._config_arg is not None:
            try:
                value.valid_config(self._config_arg)
            except TypeError:
                self._config_arg = None  # the old backend's config: the new one's default

    @property
    def config(self):
        """The backend's config instance. Assignable (None: the backend's default)."""
        try:
            return self._resolved_config()
        except TypeError:
            return self._config_arg  # not valid for the backend: an error at first use

    @config.setter
    def config(self, value):
        self._config_arg = _check_config(value)
        self._config = None

    @property
    def keymaker(self):
        """The KeyMaker instance. Assignable."""
        return self._keymaker

    @keymaker.setter
    def keymaker(self, value):
        self._keymaker = _check_keymaker(value)
        self._update_str_keys()

    @property
    def lifetime(self):
        """datetime.timedelta, or None if entries never expire. Assignable: from then on,
        new entries get the new lifetime, and an entry whose recorded lifetime is longer
        than the bucket's is a miss (as when a Bucket is opened with a shorter one)."""
        return self._lifetime

    @lifetime.setter
    def lifetime(self, value):
        value = _check_lifetime(value)
        self._check_open()
        old = self._lifetime
        self._lifetime = value
        try:
            self._open()
        except BaseException:
            self._lifetime = old
            raise

    @property
    def closed(self):
        return self._handle.closed

    def _check_open(self):
        if self._handle.closed:
            raise ValueError('operation on a closed bucket')

    def _resolved_config(self):
        config = self._config
        if config is None:
            config = self._config = self._backend.valid_config(self._config_arg)
        return config

    def path_for_key(self, key):
        """The path of key's entry file (pathlib.Path; the file may not exist)."""
        k = self._key(key)
        canonical = _lib.canonical_key(k)
        h = hashlib.sha256()
        h.update(b'bucketcache-key-v1\x00' + self._library_backend.encode('ascii') +
                 b'\x00json\x00' + canonical)
        digest = h.hexdigest()
        if _lib.format_version() >= 2:
            return self._path / digest[:2] / (digest + '.bce')
        return self._path / digest[:2] / digest[2:4] / (digest + '.bce')

    _path_for_key = path_for_key  # BucketCache's (private) name

    # ---- The mapping ----

    def __setitem__(self, key, value):
        self._set_value(self._key(key), value)

    def setitem(self, key, value):
        """Provide setitem method as alternative to ``bucket[key] = value``"""
        return self.__setitem__(key, value)

    def __getitem__(self, key):
        if type(key) is str and self._str_keys and not _lib.sync_log_level():
            k = encode_str_key(key).encode()  # _key's fast path, inlined (no debug line due)
        else:
            k = self._key(key)
        if _switch['disabled']:
            raise self._miss(_lib.BC_ENOTFOUND, key)
        h = self._handle  # held until the call returns (see _open)
        # _lib.get_bytes(h, k), inlined: the hot path.
        bucket = h.cell[0]
        if bucket is None:
            raise ValueError('operation on a closed bucket')
        g = _get_buffer
        parts = g.parts or _lib.new_get_parts()  # None: a log handler's get inside this one
        g.parts = None
        try:
            dst, out, out_ref, klen = parts
            klen.value = len(k)
            code = _get_into_buffer(bucket, k, klen, _NO_MAX_AGE, dst, _GET_BUFFER_CAP, out_ref)
            if code:
                if code in (_lib.BC_ENOTFOUND, _lib.BC_ECORRUPT):
                    raise self._miss(code, key)
                _lib.check(code, 'get')
            size = out.size  # at most the buffer's: the value is in dst (out.data is NULL)
            data = dst[:size] if size <= _lib.GET_BUFFER_SIZE else _lib.take(out)
        finally:
            g.parts = parts
        config = self._config  # _loads, inlined: the hot path
        if config is None:
            config = self._resolved_config()
        try:
            return self._backend_loads(data, config)
        except CacheLoadError as e:
            logger.warning('backend %s cannot read the entry of key %s: %s',
                           self._backend.__name__, self._log_key(key), e)
            raise KeyInvalidError(abbreviate(key)) from e

    def getitem(self, key):
        """Provide getitem method as alternative to ``bucket[key]``."""
        return self.__getitem__(key)

    def __delitem__(self, key):
        """Deletes key's entry (memory and file); KeyError if it has none."""
        if not self.delete(key):
            raise self._miss(_lib.BC_ENOTFOUND, key)

    def delete(self, key):
        """Deletes key's entry (memory and file); returns whether there was one (diskcache's
        ``delete``; ``del bucket[key]`` is the same operation, raising KeyError instead)."""
        k = self._key(key)
        h = self._handle  # held until the call returns (see _open)
        code = _lib.lib.bc_delete(h.get(), k, len(k))
        if code == _lib.BC_ENOTFOUND:
            return False
        _lib.check(code, 'delete')
        self._note_written(k)
        return True

    # ---- Cache management (docs/cache-management.md; diskcache's and cachier's names) ----

    def get(self, key, default=None, *, max_age=None):
        """The value of key, or default on a miss. ``max_age`` (seconds or timedelta): an
        entry created longer ago is a miss (it is not deleted)."""
        k = self._key(key)
        if _switch['disabled']:
            return default
        h = self._handle  # held until the call returns (see _open)
        code, data = _lib.get_bytes(h, k, _max_age_us(max_age))
        if code:
            if code in (_lib.BC_ENOTFOUND, _lib.BC_ECORRUPT):
                return default
            _lib.check(code, 'get')
        try:
            return self._loads(data)
        except CacheLoadError as e:
            logger.warning('backend %s cannot read the entry of key %s: %s',
                           self._backend.__name__, self._log_key(key), e)
            return default

    def set(self, key, value, expire=None):
        """Stores value under key. ``expire`` (seconds or timedelta): the entry's own lifetime
        (0: never expires); None: the bucket's lifetime. An entry given its own lifetime is
        kept as long as that, even by a bucket of a shorter lifetime."""
        k = self._key(key)
        data = self._dumps(value)
        if _switch['disabled']:
            return
        h = self._handle  # held until the call returns (see _open)
        _lib.check(_lib.lib.bc_set_ex(h.get(), k, len(k), data, len(data), _lifetime_us(expire)),
                   'set')
        self._note_written(k)

    def add(self, key, value, expire=None):
        """Stores value only if key has no usable entry; atomic across processes (of
        concurrent adds of one key, exactly one succeeds). Returns whether it was stored."""
        k = self._key(key)
        data = self._dumps(value)
        if _switch['disabled']:
            return True  # as if absent; nothing is stored
        h = self._handle  # held until the call returns (see _open)
        code = _lib.lib.bc_add(h.get(), k, len(k), data, len(data), _lifetime_us(expire))
        if code == _lib.BC_EEXISTS:
            return False
        _lib.check(code, 'add')
        self._note_written(k)
        return True

    def touch(self, key, expire=None):
        """Gives key's entry a new expiry: now + expire (seconds or timedelta; 0: never;
        None: the bucket's lifetime). Returns False if there is no usable entry."""
        k = self._key(key)
        h = self._handle  # held until the call returns (see _open)
        code = _lib.lib.bc_touch(h.get(), k, len(k), _lifetime_us(expire))
        if code == _lib.BC_ENOTFOUND:
            return False
        _lib.check(code, 'touch')
        self._note_written(k)
        return True

    def incr(self, key, delta=1, default=0):
        """Adds delta to key's integer value and returns the result; atomic against every
        other incr/decr of the key, in any process. A missing key starts at default (None:
        KeyError instead). The bucket's backend must store integers the library can read:
        JSONBackend, MessagePackBackend (or RawBackend with ASCII decimal bytes); others
        raise TypeError. A stored value that is not an integer, or an overflow of 64-bit
        integers, raises InvalidArgumentError (a ValueError) and leaves it unchanged."""
        if self._library_backend not in ('json', 'msgpack', 'raw') or self._key_prefix:
            raise TypeError('incr/decr need a bucket whose backend stores plain integers '
                            '(JSONBackend, MessagePackBackend, RawBackend), not %s'
                            % self._backend.__name__)
        if default is None and key not in self:
            raise self._miss(_lib.BC_ENOTFOUND, key)
        k = self._key(key)
        out = ctypes.c_int64(0)
        h = self._handle  # held until the call returns (see _open)
        _lib.check(_lib.lib.bc_incr(h.get(), k, len(k), int(delta), int(default or 0),
                                    ctypes.byref(out)), 'incr')
        self._note_written(k)
        return out.value

    def decr(self, key, delta=1, default=0):
        """incr(key, -delta, default)."""
        return self.incr(key, -delta, default)

    def pop(self, key, default=_MISSING):
        """Removes key's entry and returns its value; default (else KeyError) if it has none.
        Atomic across processes (bc_pop): of concurrent pops of one entry, one gets it."""
        k = self._key(key)
        buf = _lib.bc_buf()
        h = self._handle  # held until the call returns (see _open)
        code = _lib.lib.bc_pop(h.get(), k, len(k), ctypes.byref(buf))
        if code in (_lib.BC_ENOTFOUND, _lib.BC_ECORRUPT):
            if default is _MISSING:
                raise self._miss(code, key)
            return default
        _lib.check(code, 'pop')
        self._note_written(k)
        data = _lib.take(buf)
        try:
            return self._loads(data)
        except CacheLoadError as e:
            raise KeyInvalidError(abbreviate(key)) from e

    def get_many(self, keys, default=None):
        """[get(key, default) for key in keys]."""
        return [self.get(key, default) for key in keys]

    def set_many(self, items, expire=None):
        """set() of each (key, value) pair of a mapping or an iterable of pairs; each entry
        is atomic, the batch is not."""
        pairs = items.items() if hasattr(items, 'items') else items
        for key, value in pairs:
            self.set(key, value, expire=expire)

    def clear(self):
        """Removes every entry of this bucket (its backend's; other backends' entries in the
        directory stay) and returns how many."""
        _lib.sync_log_level()
        h = self._handle  # held until the call returns (see _open)
        if self._library_backend != 'raw':
            removed = ctypes.c_uint64(0)
            _lib.check(_lib.lib.bc_clear(h.get(), ctypes.byref(removed)), 'clear')
            return removed.value
        # Raw entries may belong to backends the library stores as raw entries with a
        # namespaced key (see _open): one by one, this bucket's keys only.
        removed = 0
        for k in self._own_keys():
            if _lib.lib.bc_delete(h.get(), k, len(k)) == _lib.BC_OK:
                removed += 1
        return removed

    def stats(self, reset=False):
        """The bucket's statistics as a ``Stats`` named tuple ``(hits, misses, writes,
        evictions, expired, entries, bytes)``: hits..expired are totals of every process
        using the bucket (each saves its counts at most once a second and at close; this
        call saves this process's first), entries and bytes describe the store now (a
        scan). ``hits, misses = bucket.stats()[:2]`` is diskcache's pair. With
        ``reset=True`` the counters are zeroed after being read (diskcache's ``reset``)."""
        _lib.sync_log_level()
        h = self._handle
        values = []
        for which in range(_lib.BC_STAT_HITS, _lib.BC_STAT_BYTES + 1):
            out = ctypes.c_uint64(0)
            _lib.check(_lib.lib.bc_stat(h.get(), which, ctypes.byref(out)), 'stats')
            values.append(out.value)
        if reset:
            _lib.check(_lib.lib.bc_stat_reset(h.get()), 'reset_stats')
        return Stats(*values)

    def reset_stats(self):
        """Zeroes the bucket's counters (hits..expired) for every process using it."""
        _lib.sync_log_level()
        h = self._handle
        _lib.check(_lib.lib.bc_stat_reset(h.get()), 'reset_stats')

    def volume(self):
        """Bytes of this bucket's entries in its store now (diskcache's ``volume()``; a
        scan): what ``size_limit`` bounds."""
        _lib.sync_log_level()
        h = self._handle
        out = ctypes.c_uint64(0)
        _lib.check(_lib.lib.bc_stat(h.get(), _lib.BC_STAT_BYTES, ctypes.byref(out)), 'volume')
        return out.value

    def __len__(self):
        """The number of usable entries of this bucket in its directory (a scan)."""
        return len(self._own_keys())

    def __bool__(self):
        # A bucket is true even when empty: `if bucket:` must not scan the directory.
        return True

    def __iter__(self):
        """The keys of this bucket's usable entries, as json.loads reads their canonical
        JSON: tuples come back as lists, and objects the keymaker tagged (sets, bytes...)
        as the tagged dicts. A snapshot taken by a scan of the directory."""
        prefix = self._key_prefix
        for k in self._own_keys():
            if prefix is not None:
                k = k[len(self._canonical_prefix()):-1]
            yield json.loads(k)

    keys = __iter__

    def _own_keys(self):
        """The canonical key bytes of this bucket's usable entries (namespaced keys
        included as stored)."""
        h = self._handle  # held until the call returns (see _open)
        keys = [key for key, _, _, _ in _lib.foreach(h.get()) if key]
        if self._key_prefix is None:
            return [k for k in keys if not k.startswith(b'{"__backend__":')]
        prefix = self._canonical_prefix()
        return [k for k in keys if k.startswith(prefix)]

    def _canonical_prefix(self):
        probe = _lib.canonical_key(self._key_prefix + b'0}')
        return probe[:-2]

    def __contains__(self, key):
        k = self._key(key)
        if _switch['disabled']:
            return False
        h = self._handle  # held until the call returns (see _open)
        return _lib.check(_lib.lib.bc_contains(h.get(), k, len(k)), 'contains') == 1

    def unload_key(self, key):
        """Remove key from memory, leaving file in place."""
        k = self._key(key)
        h = self._handle  # held until the call returns (see _open)
        _lib.check(_lib.lib.bc_unload_key(h.get(), k, len(k)), 'unload_key')

    def prune_directory(self):
        """Deletes this bucket's expired entries (its backend's, judged by the current
        lifetime) and stale temporary files. Reads entry headers only.

        Returns PrunedFilesInfo(size, num): bytes and files removed.
        """
        _lib.sync_log_level()
        info = _lib.bc_prune_info()
        h = self._handle  # held until the call returns (see _open)
        _lib.check(_lib.lib.bc_prune_directory(h.get(), ctypes.byref(info)),
                   'prune_directory')
        return PrunedFilesInfo(size=info.bytes, num=info.files)

    def close(self):
        """Closes the bucket (a DeferredWriteBucket syncs first). Further use raises
        ValueError. Closing twice is harmless."""
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- The decorator ----

    def __call__(self, *args, **kwargs):
        """Use the bucket as a decorator: ``@bucket``, or ``@bucket(method=True,
        nocache='refresh', ignore=['log'])`` (``name='...'`` names the function in keys).
        """
        error = ('To use an instance of {}() as a decorator, use @bucket or @bucket(<args>) '
                 '(See documentation)'.format(type(self).__name__))
        if len(args) + len(kwargs) < 1:
            raise TypeError(error)
        f = None
        if len(args) == 1:
            f = args[0]
            if not callable(f) and not isinstance(f, property):
                raise ValueError(error)
        elif len(args) > 1:
            raise TypeError(error)
        if kwargs and args:
            raise TypeError(error)
        raise_invalid_keys(_DECORATOR_KWARGS, kwargs, 'Invalid decorator argument{s}: {keys}')
        options = dict(_DECORATOR_KWARGS, **kwargs)
        factory = DecoratorFactory(bucket=self, **options)
        if f is not None:
            return factory.decorate(f)
        return factory.decorate

    # ---- Internals shared with the decorator ----

    def _key(self, key):
        """The key as JSON bytes for the library."""
        debug = _lib.sync_log_level()
        if type(key) is str and self._str_keys:  # the common key, as key_json writes it
            data = encode_str_key(key).encode()
            if debug and logger.isEnabledFor(logging.DEBUG):
                logger.debug('key %s', self._log_key(key))
            return data
        if type(self._keymaker) is DefaultKeyMaker:  # its one chunk, without the generator
            made = key_json(key).encode('utf-8', 'strict')
        else:
            made = self._keymaker.make_key(key)
        if isinstance(made, str):
            data = made.encode('utf-8')
        elif isinstance(made, (bytes, bytearray)):
            data = made
        else:
            data = b''.join(c.encode('utf-8') if isinstance(c, str) else c for c in made)
        if self._key_prefix is not None:
            data = self._key_prefix + bytes(data) + b'}'
        if debug and logger.isEnabledFor(logging.DEBUG):
            logger.debug('key %s', self._log_key(key))
        return bytes(data)

    @staticmethod
    def _log_key(key):
        return abbreviate(key, full=logger_config.log_full_keys)

    def _miss(self, code, key):
        message = _lib.last_message()
        exc = _lib.miss_class(code, message)(abbreviate(key))
        exc.code = code
        exc.detail = message
        return exc

    def _note_written(self, k):
        written = self._written
        if written is not None:
            written.add(k)

    def _object_expiration_date(self):
        """Naive UTC expiry of an entry written now (what BucketCache's backends record)."""
        if self._lifetime:
            return datetime.now(timezone.utc).replace(tzinfo=None) + self._lifetime
        return None

    def _dumps(self, value):
        backend = self._backend
        if backend.uses_file_interface():
            return backend.dumps(value, self._resolved_config(),
                                 expiration_date=self._object_expiration_date())
        return backend.dumps(value, self._resolved_config())

    def _loads(self, data):
        config = self._config
        if config is None:
            config = self._resolved_config()
        return self._backend.loads(data, config)

    def _set_value(self, k, value):
        data = self._dumps(value)
        if _switch['disabled']:
            return
        h = self._handle  # held until the call returns (see _open)
        _lib.check(_lib.lib.bc_set(h.get(), k, len(k), data, len(data)), 'set')
        self._note_written(k)

    def _get_or_compute(self, k, compute, max_age=None, refresh=False, skip_cache=False):
        """(value, hit): the cached value, or compute()'s after computing it once across
        threads and processes. compute()'s exceptions propagate; nothing is cached then.
        max_age (seconds or timedelta): an older entry is recomputed; refresh: compute and
        overwrite; skip_cache: compute only (bc_get_or_compute_ex)."""
        flags = 0
        if refresh:
            flags |= _lib.BC_CALL_REFRESH
        if skip_cache or _switch['disabled']:
            flags = _lib.BC_CALL_SKIP_CACHE
        produced = []

        def make():
            value = compute()
            produced.append(value)
            return self._dumps(value)

        h = self._handle  # held until the call returns (see _open)
        data, hit, _ = _lib.get_or_compute(h.get(), k, make, _max_age_us(max_age), flags)
        if not hit:
            self._note_written(k)
            return produced[0], False
        try:
            return self._loads(data), True
        except CacheLoadError as e:
            logger.warning('backend %s cannot read a cached result; computing it again: %s',
                           self._backend.__name__, e)
            value = compute()
            self._set_value(k, value)
            return value, False

    def _expiration_date(self, k):
        """Naive UTC datetime at which k's entry expires; None if never (or if gone)."""
        expires = ctypes.c_int64(0)
        h = self._handle  # held until the call returns (see _open)
        code = _lib.lib.bc_get_expiry(h.get(), k, len(k), ctypes.byref(expires))
        if code != _lib.BC_OK or expires.value == 0:
            return None
        return _EPOCH + timedelta(microseconds=expires.value)

    def __repr__(self):
        parts = ['path=%r' % str(self._path), 'config=%r' % (self.config,),
                 'backend=%s' % self._backend.__name__]
        if self._lifetime:
            for attr in ('days', 'seconds', 'microseconds'):
                value = getattr(self._lifetime, attr)
                if value:
                    parts.append('%s=%r' % (attr, value))
        return '%s(%s)' % (type(self).__name__, ', '.join(parts))


class DeferredWriteBucket(Bucket):
    """A Bucket that keeps sets in memory until sync() (or close(), or exit).

    Reads through it see its pending values first; other buckets and processes see them
    after sync(). unload_key() syncs first, as in BucketCache. Decorated calls on it are
    single-flight across threads (not processes: pending values are not on disk yet).
    """
    _deferred = True

    @classmethod
    def from_bucket(cls, bucket):
        """A DeferredWriteBucket over bucket's directory, with its settings."""
        return cls(bucket.path, backend=bucket.backend, config=bucket.config,
                   keymaker=bucket.keymaker, lifetime=bucket.lifetime, **bucket._options)

    def sync(self):
        """Writes the pending values, each atomically. On failure (BucketIOError) the values
        not written stay pending: call sync() again."""
        _lib.sync_log_level()
        h = self._handle  # held until the call returns (see _open)
        _lib.check(_lib.lib.bc_sync(h.get()), 'sync')


class _DeferredWriteScope:
    def __init__(self, bucket):
        self._bucket = bucket
        self._deferred = None

    def __enter__(self):
        deferred = DeferredWriteBucket.from_bucket(self._bucket)
        deferred._written = set()
        self._deferred = deferred
        return deferred

    def __exit__(self, exc_type, exc, tb):
        deferred = self._deferred
        try:
            deferred.sync()
        except Exception as e:
            if exc_type is None:
                raise
            # Keep the block's exception; the values not written stay pending in deferred.
            logger.error('deferred_write: writing the pending values failed while the block '
                         'raised %s: %s', exc_type.__name__, e)
        finally:
            written, deferred._written = deferred._written, None
            handle = self._bucket._handle
            if not handle.closed:
                # The bucket must read these keys from their files again, not from memory.
                for k in written:
                    _lib.lib.bc_unload_key(handle.get(), k, len(k))
        return False


def deferred_write(bucket):
    """Context manager deferring a Bucket's writes within a block.

    .. code-block:: python

       with deferred_write(bucket) as deferred:   # a DeferredWriteBucket
           deferred[key] = value                   # pending
       bucket[key]                                 # written when the block ended

    The pending values are written when the block ends, also when it ends with an
    exception (each value is a valid entry on its own; the C++ deferred_write() does the
    same). The bucket sees them from then on. If that final write fails while the block
    raised, the failure is logged and the block's exception propagates.
    """
    return _DeferredWriteScope(bucket)
