"""ctypes declarations for libbucketcache's C API (include/bucketcache/bucketcache.h).

Finds the library, declares every function it uses, turns result codes into exceptions
and forwards the library's log lines to the ``bucketcache`` logger. Nothing here is
public API.
"""
from __future__ import annotations

import atexit
import collections
import ctypes
import ctypes.util
import itertools
import logging
import os
import threading
import time
import weakref
from pathlib import Path

from .exceptions import (
    BucketCacheError,
    BucketIOError,
    CorruptEntryError,
    InvalidArgumentError,
    KeyExpirationError,
    KeyFileNotFoundError,
    KeyInvalidError,
    LibraryNotFoundError,
    LockTimeoutError,
    OutOfMemoryError,
    SerializationError,
    UnsupportedError,
)

SONAME = "libbucketcache.so.0"

# Result codes (fixed values).
BC_OK = 0
BC_ENOTFOUND = -1
BC_EINVAL = -2
BC_EIO = -3
BC_ECORRUPT = -4
BC_ESERIALIZE = -5
BC_ENOMEM = -6
BC_EUNSUPPORTED = -7
BC_ETIMEOUT = -8
BC_EUSER = -9
BC_ERROR = -10
BC_EEXISTS = -11

# Options.
BC_OPT_LIFETIME_US = 1
BC_OPT_BACKEND = 2
BC_OPT_KEY_FORMAT = 3
BC_OPT_MEMORY_LIMIT_BYTES = 4
BC_OPT_DEFERRED = 5
BC_OPT_FSYNC = 6
BC_OPT_CHECK_FILE = 7
BC_OPT_LOCK_WAIT_MS = 8
BC_OPT_STORE = 11
BC_OPT_NEAR_CACHE_DIR = 12
BC_OPT_TIMEOUT_MS = 13
BC_OPT_SIZE_LIMIT_BYTES = 14
BC_OPT_EVICTION = 15
BC_OPT_NEAR_CACHE_TTL_MS = 20
BC_STAT_HITS = 1
BC_STAT_MISSES = 2
BC_STAT_WRITES = 3
BC_STAT_EVICTIONS = 4
BC_STAT_EXPIRED = 5
BC_STAT_ENTRIES = 6
BC_STAT_BYTES = 7
BC_OPT_STALE_TTL_US = 16
BC_OPT_DISABLED = 17
BC_OPT_ENTRY_SIZE_LIMIT_BYTES = 19
BC_CALL_REFRESH = 1
BC_CALL_SKIP_CACHE = 2

# Log levels.
(BC_LOG_TRACE, BC_LOG_DEBUG, BC_LOG_INFO, BC_LOG_WARN, BC_LOG_ERROR, BC_LOG_CRITICAL,
 BC_LOG_OFF) = range(7)


class bc_buf(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_size_t)]


class bc_prune_info(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint64), ("files", ctypes.c_uint64)]


COMPUTE_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(bc_buf))
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
ENTRY_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                            ctypes.c_uint64, ctypes.c_int64, ctypes.c_int64)

_vp = ctypes.c_void_p
_int = ctypes.c_int
_size = ctypes.c_size_t
_bytes = ctypes.c_char_p  # bytes objects pass without a copy; lengths are passed separately
_PROTOTYPES = {
    "bc_options_new": (_int, [ctypes.POINTER(_vp)]),
    "bc_options_free": (None, [_vp]),
    "bc_options_set_int": (_int, [_vp, _int, ctypes.c_int64]),
    "bc_options_set_str": (_int, [_vp, _int, _bytes]),
    "bc_bucket_open": (_int, [ctypes.POINTER(_vp), _bytes, _vp]),
    "bc_bucket_close": (None, [_vp]),
    "bc_set": (_int, [_vp, _bytes, _size, _bytes, _size]),
    "bc_get": (_int, [_vp, _bytes, _size, ctypes.POINTER(bc_buf)]),
    "bc_delete": (_int, [_vp, _bytes, _size]),
    "bc_contains": (_int, [_vp, _bytes, _size]),
    "bc_unload_key": (_int, [_vp, _bytes, _size]),
    "bc_sync": (_int, [_vp]),
    "bc_prune_directory": (_int, [_vp, ctypes.POINTER(bc_prune_info)]),
    "bc_get_or_compute": (_int, [_vp, _bytes, _size, COMPUTE_FN, _vp,
                                 ctypes.POINTER(bc_buf), ctypes.POINTER(_int)]),
    "bc_get_or_compute_ex": (_int, [_vp, _bytes, _size, COMPUTE_FN, _vp, ctypes.c_int64, _int,
                                    ctypes.POINTER(bc_buf), ctypes.POINTER(_int),
                                    ctypes.POINTER(ctypes.c_int64)]),
    "bc_buf_dispose": (None, [ctypes.POINTER(bc_buf)]),
    "bc_strerror": (ctypes.c_char_p, [_int]),
    "bc_last_error_message": (ctypes.c_char_p, []),
    "bc_version_string": (ctypes.c_char_p, []),
    "bc_version_number": (ctypes.c_uint, []),
    "bc_format_version": (ctypes.c_uint, []),
    "bc_canonical_key": (_int, [ctypes.POINTER(bc_buf), _bytes, _size]),
    "bc_get_expiry": (_int, [_vp, _bytes, _size, ctypes.POINTER(ctypes.c_int64)]),
    "bc_set_ex": (_int, [_vp, _bytes, _size, _bytes, _size, ctypes.c_int64]),
    "bc_add": (_int, [_vp, _bytes, _size, _bytes, _size, ctypes.c_int64]),
    "bc_touch": (_int, [_vp, _bytes, _size, ctypes.c_int64]),
    "bc_incr": (_int, [_vp, _bytes, _size, ctypes.c_int64, ctypes.c_int64,
                       ctypes.POINTER(ctypes.c_int64)]),
    "bc_get_ex": (_int, [_vp, _bytes, _size, ctypes.c_int64, ctypes.POINTER(bc_buf),
                         ctypes.POINTER(ctypes.c_int64)]),
    "bc_clear": (_int, [_vp, ctypes.POINTER(ctypes.c_uint64)]),
    "bc_pop": (_int, [_vp, _bytes, _size, ctypes.POINTER(bc_buf)]),
    "bc_get_into_buffer": (_int, [_vp, _bytes, _size, ctypes.c_int64, _vp, _size,
                                  ctypes.POINTER(bc_buf)]),
    "bc_foreach": (_int, [_vp, ENTRY_FN, _vp]),
    "bc_stat": (_int, [_vp, _int, ctypes.POINTER(ctypes.c_uint64)]),
    "bc_stat_reset": (_int, [_vp]),
    "bc_set_log_level": (_int, [_int]),
    "bc_set_log_callback": (_int, [LOG_FN, _vp]),
    "bc_set_log_full_keys": (_int, [_int]),
}

_HINT = ("Build the library (cmake --build <build dir> --target bucketcache) or set "
         "BUCKETCACHE_LIBRARY to the path of libbucketcache.so.0.")


# Build trees that must never be loaded: an instrumented library needs its sanitizer's
# runtime loaded first ("ASan runtime does not come first") and is slow.
_SANITIZER_NAME_PARTS = ('asan', 'tsan', 'ubsan', 'msan', 'lsan', 'fuzz', 'sanit')


def _cache_value(text, name):
    """The value of a CMakeCache.txt entry (``NAME:TYPE=value``), or None if absent."""
    for line in text.splitlines():
        if line.startswith(name + ':') or line.startswith(name + '='):
            return line.split('=', 1)[1].strip() if '=' in line else ''
    return None


def is_sanitizer_tree(tree):
    """Whether the build tree ``tree`` (a directory under the checkout) is instrumented.

    Its CMakeCache.txt decides when it has one: a non-empty BUCKETCACHE_SANITIZE (or
    BUCKETCACHE_FUZZ on). Without one, the directory's name does (build-asan, build-tsan,
    build-fuzz, ...)."""
    cache = Path(tree) / 'CMakeCache.txt'
    try:
        text = cache.read_text(encoding='utf-8', errors='replace')
    except OSError:
        text = None
    if text is not None:
        sanitize = _cache_value(text, 'BUCKETCACHE_SANITIZE')
        fuzz = _cache_value(text, 'BUCKETCACHE_FUZZ')
        if sanitize is not None or fuzz is not None:
            return bool(sanitize) or (fuzz or '').upper() in ('ON', '1', 'TRUE', 'YES', 'Y')
    name = Path(tree).name.lower()
    return any(part in name for part in _SANITIZER_NAME_PARTS)


def _checkout_root():
    """<repo> when this file is <repo>/bindings/python/bucketcache/_lib.py, else None (an
    installed package has no build trees beside it)."""
    here = Path(__file__).resolve()
    parents = here.parents
    if len(parents) < 4 or parents[1].name != 'python' or parents[2].name != 'bindings':
        return None
    return parents[3]


def build_tree_libraries(root):
    """The libraries in root's non-sanitizer build trees, newest first."""
    built = []
    for tree in root.glob('build*/'):
        if not tree.is_dir() or is_sanitizer_tree(tree):
            continue
        for p in [tree / SONAME] + sorted(tree.glob('*/' + SONAME)):
            if p.parent != tree and is_sanitizer_tree(p.parent):
                continue
            if p.is_file():
                built.append(p)
    built.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return built


def _candidates():
    """(description, loader) pairs in search order."""
    env = os.environ.get("BUCKETCACHE_LIBRARY")
    if env:
        # An explicit choice: use it or fail, never silently load another copy.
        return [("BUCKETCACHE_LIBRARY=" + env, env)], True
    # The system loader: an installed library (after `cmake --install` and ldconfig) or
    # LD_LIBRARY_PATH.
    found = [("system loader", SONAME)]
    name = ctypes.util.find_library("bucketcache")
    if name and name != SONAME:
        found.append(("ctypes.util.find_library", name))
    # The project's build trees: <repo>/bindings/python/bucketcache/_lib.py -> <repo>/build*/
    root = _checkout_root()
    if root is not None:
        found.extend(("build tree", str(p)) for p in build_tree_libraries(root))
    return found, False


def _load():
    tried = []
    candidates, explicit = _candidates()
    for where, name in candidates:
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            tried.append("%s (%s): %s" % (name, where, e))
            continue
        missing = [f for f in _PROTOTYPES if not hasattr(lib, f)]
        if missing:
            tried.append("%s (%s): lacks %s (too old?)" % (name, where, ", ".join(missing)))
            continue
        for fname, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, fname)
            fn.restype = restype
            fn.argtypes = argtypes
        return lib, name
    if explicit:
        raise LibraryNotFoundError(
            "cannot load libbucketcache from BUCKETCACHE_LIBRARY: %s. Set BUCKETCACHE_LIBRARY "
            "to the path of a built libbucketcache.so.0." % "; ".join(tried))
    raise LibraryNotFoundError(
        "cannot find libbucketcache (%s). %s" % ("; ".join(tried) or "nothing to try", _HINT))


lib, library_path = _load()
# A second function object without argtypes for get_bytes (lib's has them, for other callers).
_get_into_buffer = lib._FuncPtr(("bc_get_into_buffer", lib))
_get_into_buffer.restype = ctypes.c_int


# ---- Errors ----------------------------------------------------------------------------

_CODE_EXCEPTIONS = {
    BC_EINVAL: InvalidArgumentError,
    BC_EIO: BucketIOError,
    BC_ECORRUPT: CorruptEntryError,
    BC_ESERIALIZE: SerializationError,
    BC_ENOMEM: OutOfMemoryError,
    BC_EUNSUPPORTED: UnsupportedError,
    BC_ETIMEOUT: LockTimeoutError,
}


def last_message():
    return (lib.bc_last_error_message() or b"").decode("utf-8", "replace")


def strerror(code):
    return lib.bc_strerror(code).decode("utf-8", "replace")


def error(code, what=""):
    """The exception for a failed call's code; call right after the failure (the message is
    the calling thread's last one)."""
    message = last_message()
    text = "%s%s: %s" % (what + ": " if what else "", strerror(code), message)
    cls = miss_class(code, message) if code == BC_ENOTFOUND else _CODE_EXCEPTIONS.get(
        code, BucketCacheError)
    exc = cls(text)
    exc.code = code
    return exc


def miss_class(code, message):
    """The KeyInvalidError subclass for a BC_ENOTFOUND or BC_ECORRUPT result."""
    if code == BC_ECORRUPT:
        return CorruptEntryError
    # The library's messages tell an expired entry from an absent or a foreign one.
    if "expired" in message:
        return KeyExpirationError
    if message.startswith("no entry"):
        return KeyFileNotFoundError
    return KeyInvalidError


def check(code, what=""):
    if code < 0:
        raise error(code, what)
    return code


def take(buf):
    """The bytes of a bc_buf the library handed out; disposes of it."""
    try:
        return ctypes.string_at(buf.data, buf.size) if buf.size else b""
    finally:
        lib.bc_buf_dispose(ctypes.byref(buf))


# ---- Gets ------------------------------------------------------------------------------

GET_BUFFER_SIZE = 8192  # values up to this size come back through the thread's buffer
_GET_BUFFER_CAP = ctypes.c_size_t(GET_BUFFER_SIZE)
_NO_MAX_AGE = ctypes.c_int64(0)


def new_get_parts():
    """Arguments of one bc_get_into_buffer call: its destination buffer, the bc_buf for larger
    values (and a reference to it), the key length."""
    out = bc_buf()
    return (ctypes.create_string_buffer(GET_BUFFER_SIZE), out, ctypes.byref(out),
            ctypes.c_size_t(0))


class _GetBuffer(threading.local):
    """The calling thread's arguments of bc_get_into_buffer (new_get_parts()). A get takes
    them (``parts`` is None until it puts them back after copying the value out): the
    library delivers a call's log lines before it returns, and a log handler's own get on
    this thread then makes new ones instead of overwriting the value being returned."""

    def __init__(self):
        self.parts = new_get_parts()


_get_buffer = _GetBuffer()


def get_bytes(handle, key, max_age_us=0):
    """(code, bytes): the value of key (bytes) in handle's bucket with one library call (two
    more for a value larger than GET_BUFFER_SIZE); (code, None) for a code other than BC_OK.

    The call is made without argtypes (they cost a Python-level conversion per argument,
    ~40% of the call): every argument is an object of the parameter's exact C type (bytes
    for the key), so nothing is converted or truncated."""
    bucket = handle.cell[0]
    if bucket is None:
        raise ValueError("operation on a closed bucket")
    g = _get_buffer
    parts = g.parts or new_get_parts()  # None: a log handler's get inside this thread's get
    g.parts = None
    try:
        dst, out, out_ref, klen = parts
        klen.value = len(key)
        code = _get_into_buffer(bucket, key, klen,
                                ctypes.c_int64(max_age_us) if max_age_us else _NO_MAX_AGE,
                                dst, _GET_BUFFER_CAP, out_ref)
        if code:
            return code, None
        size = out.size
        if size <= GET_BUFFER_SIZE:  # the value is in dst (out.data is NULL)
            return code, dst[:size]
        return code, take(out)
    finally:
        g.parts = parts


def canonical_key(json_bytes):
    """The canonical form of JSON text (bytes), by the library."""
    buf = bc_buf()
    check(lib.bc_canonical_key(ctypes.byref(buf), json_bytes, len(json_bytes)), "canonical key")
    return take(buf)


def version():
    return lib.bc_version_string().decode("ascii")


def format_version():
    return lib.bc_format_version()


_accepted_backends = {}


def accepts_backend(backend_id):
    """Whether the library takes backend_id as BC_OPT_BACKEND (v1 libraries know only
    "raw", "json", "msgpack" and "pickle")."""
    known = _accepted_backends.get(backend_id)
    if known is None:
        opts = _vp()
        check(lib.bc_options_new(ctypes.byref(opts)))
        try:
            known = lib.bc_options_set_str(opts, BC_OPT_BACKEND,
                                           backend_id.encode("ascii")) == BC_OK
        finally:
            lib.bc_options_free(opts)
        _accepted_backends[backend_id] = known
    return known


# ---- Handles ---------------------------------------------------------------------------

_open_handles = weakref.WeakSet()


class Handle:
    """An open bc_bucket. Closed by close(), by garbage collection or at exit."""

    def __init__(self, path, settings):
        opts = _vp()
        check(lib.bc_options_new(ctypes.byref(opts)))
        try:
            for option, value in settings:
                if isinstance(value, bytes):  # a path (os.fsencode)
                    check(lib.bc_options_set_str(opts, option, value), "options")
                elif isinstance(value, str):
                    check(lib.bc_options_set_str(opts, option, value.encode("ascii")), "options")
                else:
                    check(lib.bc_options_set_int(opts, option, int(value)), "options")
            ptr = _vp()
            check(lib.bc_bucket_open(ctypes.byref(ptr), os.fsencode(path), opts),
                  "cannot open bucket %r" % os.fspath(path))
        finally:
            lib.bc_options_free(opts)
        self.ptr = ptr.value
        # cell[0]: the bucket as a c_void_p while open, None once closed (by close(), by
        # garbage collection or at exit): what get_bytes passes without argtypes.
        self.cell = [ptr]
        self._closer = weakref.finalize(self, _close_bucket, self.cell)
        _open_handles.add(self)

    def get(self):
        if self.cell[0] is None:
            raise ValueError("operation on a closed bucket")
        return self.ptr

    def close(self):
        self._closer()
        forget_background_of(self.ptr)

    @property
    def closed(self):
        return not self._closer.alive


def _close_bucket(cell):
    ptr, cell[0] = cell[0], None
    if ptr is not None:
        lib.bc_bucket_close(ptr)


@atexit.register
def _close_all_at_exit():
    # Close (and so sync) every open bucket while Python can still take log lines, then send
    # log lines back to stderr: nothing may call into the interpreter after it is finalized.
    for handle in list(_open_handles):
        handle.close()
    lib.bc_set_log_callback(LOG_FN(), None)


# ---- foreach ---------------------------------------------------------------------------

def foreach(ptr):
    """[(key bytes, size, created_us, expires_us)] of every usable entry of the bucket."""
    found = []

    def visit(user, key, klen, size, created, expires):
        try:
            found.append((ctypes.string_at(key, klen) if klen else b"", size, created, expires))
            return 0
        except BaseException:  # noqa: B902 - stop the scan; MemoryError and the like
            return 1

    callback = ENTRY_FN(visit)
    check(lib.bc_foreach(ptr, callback, None), "foreach")
    return found


# ---- get_or_compute --------------------------------------------------------------------

class _Compute:
    __slots__ = ("fn", "data", "error", "caller", "key")

    def __init__(self, fn):
        self.fn = fn
        self.data = None
        self.error = None
        self.caller = threading.get_ident()
        self.key = None


_computes = {}
_compute_ids = itertools.count(1)
# Computes a background refresh (BC_OPT_STALE_TTL_US) may still call, by (bucket, key):
# kept after the call that served a stale value returned, dropped when the refresh ran,
# when more than _MAX_BACKGROUND are kept for the key, or when the bucket closes.
_background = {}
_background_lock = threading.Lock()
_MAX_BACKGROUND = 4
# Ids of computes dropped by that bound, by (bucket, key): the library may have queued the
# refresh under any of them (it queues one per key), so such a refresh runs the newest
# compute kept for its key. Bounded; dropped at close too.
_forwarded = collections.OrderedDict()
_MAX_FORWARDED = 4096
# The bytes each library thread's last background compute returned, by thread id: the
# library copies them after the callback returned, before that thread calls another
# compute. (Not a threading.local: a library thread's Python state ends with each callback.)
_last_background_result = collections.OrderedDict()
_MAX_LIBRARY_THREADS = 256


def _background_ctx(user):
    """(id, compute) a background refresh queued under the dropped id `user` should run,
    or (user, None)."""
    with _background_lock:
        bkey = _forwarded.pop(user, None)
        cids = _background.get(bkey) if bkey is not None else None
        return (cids[-1], _computes.get(cids[-1])) if cids else (user, None)


def _compute_trampoline(user, key, klen, out):
    ctx = _computes.get(user)
    if ctx is None:
        user, ctx = _background_ctx(user)
        if ctx is None:
            return 1
    background = threading.get_ident() != ctx.caller
    try:
        data = ctx.fn()
        if not isinstance(data, bytes):
            raise TypeError("backend produced %s, not bytes" % type(data).__name__)
        ctx.data = data  # kept alive until the library has copied it
        if background:  # ctx goes below; the library copies the bytes after the return
            with _background_lock:
                _last_background_result[threading.get_ident()] = data
                _last_background_result.move_to_end(threading.get_ident())
                while len(_last_background_result) > _MAX_LIBRARY_THREADS:
                    _last_background_result.popitem(last=False)
        out.contents.data = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
        out.contents.size = len(data)
        return 0
    except BaseException as e:  # noqa: B902 - re-raised by get_or_compute, KeyboardInterrupt too
        if background:
            logger.warning("background refresh failed; the stale value stays: %r", e)
        else:
            ctx.error = e
        return 1
    finally:
        if background:
            _forget_background(user, ctx)


def _forget_background(cid, ctx):
    with _background_lock:
        _computes.pop(cid, None)
        cids = _background.get(ctx.key)
        if cids is not None and cid in cids:
            cids.remove(cid)
            if not cids:
                del _background[ctx.key]


def forget_background_of(ptr):
    """Drops the background computes kept for a bucket (at its close)."""
    with _background_lock:
        for bkey in [k for k in _background if k[0] == ptr]:
            for cid in _background.pop(bkey):
                _computes.pop(cid, None)
        for cid in [c for c, bkey in _forwarded.items() if bkey[0] == ptr]:
            del _forwarded[cid]


_compute_callback = COMPUTE_FN(_compute_trampoline)


def get_or_compute(ptr, key, fn, max_age_us=0, flags=0):
    """(bytes, hit, produced): the cached bytes, or fn()'s bytes after computing them once
    across threads and processes. An exception from fn propagates unchanged. When a stale
    value is served (BC_OPT_STALE_TTL_US), fn is kept for the library's background refresh,
    which calls it on a library thread."""
    ctx = _Compute(fn)
    cid = next(_compute_ids)
    _computes[cid] = ctx
    buf = bc_buf()
    hit = ctypes.c_int(0)
    expires = ctypes.c_int64(0)
    keep = False
    try:
        code = lib.bc_get_or_compute_ex(ptr, key, len(key), _compute_callback, cid, max_age_us,
                                        flags, ctypes.byref(buf), ctypes.byref(hit),
                                        ctypes.byref(expires))
        if code == BC_EUSER and ctx.error is not None:
            raise ctx.error
        check(code, "get_or_compute")
        keep = bool(hit.value) and 0 < expires.value < time.time_ns() // 1000
        return take(buf), bool(hit.value), ctx.data
    finally:
        ctx.error = None  # no reference cycle through the traceback
        if keep:
            ctx.key = (ptr, key)
            with _background_lock:
                if cid in _computes:  # not already run by the refresh
                    cids = _background.setdefault(ctx.key, [])
                    cids.append(cid)
                    while len(cids) > _MAX_BACKGROUND:
                        dropped = cids.pop(0)
                        _computes.pop(dropped, None)
                        _forwarded[dropped] = ctx.key
                        while len(_forwarded) > _MAX_FORWARDED:
                            _forwarded.popitem(last=False)
        else:
            _computes.pop(cid, None)


# ---- Logging ---------------------------------------------------------------------------

logger = logging.getLogger("bucketcache")

# BUCKETCACHE_LOG fixes the library's level; otherwise it follows the Python logger's.
_env_log = os.environ.get("BUCKETCACHE_LOG", "").strip().lower()
_level_from_env = bool(_env_log)

# Off until enabled, as BucketCache's logger is: ``bucketcache.logger.disabled = False``
# turns it on (then it is a standard logger: levels, handlers, propagation). Setting
# BUCKETCACHE_LOG to a level other than "off" turns it on too, and so does configuring the
# logger (a level or a handler) before the import.
if _env_log:
    logger.disabled = _env_log == "off"
elif logger.level == logging.NOTSET and not logger.handlers:
    logger.disabled = True

_PY_LEVELS = {BC_LOG_TRACE: 5, BC_LOG_DEBUG: logging.DEBUG, BC_LOG_INFO: logging.INFO,
              BC_LOG_WARN: logging.WARNING, BC_LOG_ERROR: logging.ERROR,
              BC_LOG_CRITICAL: logging.CRITICAL}


def _forward_log(user, level, message, length):
    try:
        text = ctypes.string_at(message, length).decode("utf-8", "replace")
        logger.log(_PY_LEVELS.get(level, logging.ERROR), "%s", text)
    except Exception:  # noqa: BLE001 - a log line must never break the library's caller
        pass


_log_callback = LOG_FN(_forward_log)
check(lib.bc_set_log_callback(_log_callback, None))

_synced_level = [None]
_LEVEL_OFF = logging.CRITICAL + 1  # the effective level of the disabled logger
_level_lock = threading.Lock()


def _library_level(py_level):
    for bc_level, threshold in ((BC_LOG_TRACE, 5), (BC_LOG_DEBUG, logging.DEBUG),
                                (BC_LOG_INFO, logging.INFO), (BC_LOG_WARN, logging.WARNING),
                                (BC_LOG_ERROR, logging.ERROR),
                                (BC_LOG_CRITICAL, logging.CRITICAL)):
        if py_level <= threshold:
            return bc_level
    return BC_LOG_OFF


def sync_log_level():
    """Makes the library log at the level the ``bucketcache`` logger lets through. Cheap when
    nothing changed; called before every operation. Returns False when the logger lets no
    DEBUG record through (callers skip formatting theirs), True when it may."""
    if _level_from_env:
        return True
    level = logger.getEffectiveLevel() if not logger.disabled else _LEVEL_OFF
    if level != _synced_level[0]:
        with _level_lock:
            check(lib.bc_set_log_level(_library_level(level)))
            _synced_level[0] = level
    return level <= logging.DEBUG


def set_log_full_keys(on):
    check(lib.bc_set_log_full_keys(1 if on else 0))


sync_log_level()
