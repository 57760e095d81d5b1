"""Backends: how values become an entry's bytes and back.

Two ways to write a backend, both subclasses of Backend with the class attributes
``default_config``, ``binary_format`` and ``file_extension``:

- BucketCache's interface: instances carry ``value`` and ``expiration_date``; ``dump(fp)``
  writes them to a file object and the classmethod ``from_file(fp, config)`` reads an
  instance back (raising BackendLoadError, a CacheLoadError, for data it cannot read).
  ``fp`` is binary if ``binary_format``, else text (UTF-8).
- ``dumps(value, config)``/``loads(data, config)`` classmethods over bytes, as the built-in
  backends do.

Every entry records its backend's id, which is hashed into its file name too, so the same
key under two backends names two entries. The built-in ids are "pickle", "json",
"msgpack" and "raw": "json" and "msgpack" entries are shared with C++ (JsonBackend,
MsgpackBackend), the C API and the other bindings; "pickle" entries are Python-only. A
backend of your own is stored under its own id (``backend_id``, or one made from the class
name; see Backend.storage_id).
"""
import hashlib
import io
import json
import pickle
from abc import ABC
from datetime import datetime, timezone

from .config import BackendConfig, JSONConfig, MessagePackConfig, PickleConfig, RawConfig
from .exceptions import BackendLoadError

try:
    import msgpack
    msgpack_available = True
except ImportError:  # Debian: python3-msgpack
    msgpack = None
    msgpack_available = False

__all__ = (
    'Backend',
    'PickleBackend',
    'JSONBackend',
    'MessagePackBackend',
    'RawBackend',
)

BUILTIN_IDS = ('pickle', 'json', 'msgpack', 'raw')
MAX_ID_LENGTH = 15  # the entry header's field (docs/on-disk-format.md)


def _func(method):
    return getattr(method, '__func__', method)


def valid_backend_id(value):
    return (isinstance(value, str) and 1 <= len(value) <= MAX_ID_LENGTH
            and all(' ' < c <= '~' for c in value))


class Backend(ABC):
    """Abstract base class for backends (BucketCache's, plus ``dumps``/``loads``).

    Subclasses set the class attributes ``default_config``, ``binary_format`` and
    ``file_extension`` (and optionally ``backend_id``) and implement either ``dump`` and
    the classmethod ``from_file`` (BucketCache's interface) or the classmethods ``dumps``
    and ``loads``. Reading raises BackendLoadError for data it cannot read (a miss); any
    other exception propagates to the caller.
    """
    abstract_attributes = ('default_config', 'binary_format', 'file_extension')

    def __init__(self, value, expiration_date=None, config=None):
        self.value = value
        self.expiration_date = expiration_date
        self.config = self.valid_config(config)

    def has_expired(self):
        """Whether expiration_date (naive UTC) has passed; False if it never expires."""
        if self.expiration_date:
            return datetime.now(timezone.utc).replace(tzinfo=None) > self.expiration_date
        return False

    # ---- BucketCache's interface ----

    @classmethod
    def from_file(cls, fp, config=None):
        """An instance read from the file object fp (binary if binary_format, else text).
        Raises BackendLoadError if fp holds nothing this backend can read."""
        raise NotImplementedError

    def dump(self, fp):
        """Writes value and expiration_date to the file object fp."""
        raise NotImplementedError

    # ---- Bytes ----

    @classmethod
    def uses_file_interface(cls):
        """True if the class implements dump/from_file rather than dumps/loads."""
        return _func(cls.dumps) is _func(Backend.dumps)

    @classmethod
    def dumps(cls, value, config, expiration_date=None):
        """The bytes stored for value. By default, what dump() writes."""
        obj = cls(value, expiration_date=expiration_date, config=config)
        if cls.binary_format:
            fp = io.BytesIO()
            obj.dump(fp)
            return fp.getvalue()
        fp = io.StringIO()
        obj.dump(fp)
        return fp.getvalue().encode('utf-8')

    @classmethod
    def loads(cls, data, config):
        """The value stored as data (bytes). Raises BackendLoadError if data is unreadable.
        By default, the value of the instance from_file() reads."""
        if cls.binary_format:
            fp = io.BytesIO(data)
        else:
            try:
                fp = io.StringIO(data.decode('utf-8'))
            except UnicodeDecodeError as e:
                raise BackendLoadError('the entry is not UTF-8 text: %s' % e) from e
        fp.name = '<entry>'
        return cls.from_file(fp, config=config).value

    @classmethod
    def check_concrete(cls):
        """Raises TypeError unless the class implements everything a backend needs."""
        if cls.uses_file_interface():
            missing = set()
            if cls.dump is Backend.dump:
                missing.add('dump')
            if _func(cls.from_file) is _func(Backend.from_file):
                missing.add('from_file')
            if missing:
                raise TypeError("Concrete class '{}' missing abstract method{}: {} (or "
                                "dumps and loads)".format(cls.__name__,
                                                          's' if len(missing) > 1 else '',
                                                          ', '.join(sorted(missing))))
        elif _func(cls.loads) is _func(Backend.loads):
            raise TypeError("Concrete class '{}' missing abstract method: loads"
                            .format(cls.__name__))
        missing = [name for name in cls.abstract_attributes if not hasattr(cls, name)]
        if missing:
            raise TypeError("Concrete class '{}' missing abstract attribute{}: {}".format(
                cls.__name__, 's' if len(missing) > 1 else '', ', '.join(missing)))
        storage_id = cls.storage_id()
        if not valid_backend_id(storage_id):
            raise TypeError("backend_id of '{}' must be 1 to {} printable ASCII characters "
                            "without spaces, not {!r}".format(cls.__name__, MAX_ID_LENGTH,
                                                               storage_id))

    @classmethod
    def storage_id(cls):
        """The id recorded in (and hashed into the name of) the backend's entries.

        ``backend_id`` if the class or one of its bases defines it, except that a class
        with BucketCache's dump/from_file interface does not inherit a built-in backend's
        id (its bytes are not that format's). Otherwise the class name, if it has at most
        15 characters, else its first 6 characters, "~" and 8 hex digits of its SHA-256.
        """
        file_interface = cls.uses_file_interface()
        for klass in cls.__mro__:
            if 'backend_id' in klass.__dict__:
                if file_interface and klass.__dict__['backend_id'] in BUILTIN_IDS \
                        and klass.__module__ == __name__:
                    break
                return klass.__dict__['backend_id']
        name = cls.__name__
        if valid_backend_id(name):
            return name
        return '%s~%s' % (name[:6], hashlib.sha256(name.encode('utf-8')).hexdigest()[:8])

    @classmethod
    def valid_config(cls, config):
        """config checked against default_config, or a default config if it is None."""
        default = cls.default_config()
        if config is None:
            return default
        if not isinstance(config, BackendConfig):
            raise TypeError("'config' must be a {} instance, not {}".format(
                cls.default_config.__name__, type(config).__name__))
        invalid = set(config.asdict()) - set(default.asdict())
        if invalid:
            raise TypeError('Invalid config parameter{}: {}'.format(
                's' if len(invalid) > 1 else '', ', '.join(sorted(invalid))))
        return config


_UNPICKLING_ERRORS = (pickle.UnpicklingError, AttributeError, EOFError, ImportError,
                      IndexError, ValueError)


def _pick(config, *names):
    d = config.asdict()
    return {k: d[k] for k in names if k in d}


class PickleBackend(Backend):
    """Values as Python pickles (any picklable object; Python-only entries).

    Unpickling runs code chosen by whoever wrote the entry: use it only for directories
    that no one else can write.
    """
    backend_id = 'pickle'
    default_config = PickleConfig
    binary_format = True
    file_extension = 'pickle'

    @classmethod
    def dumps(cls, value, config):
        # The config's attributes read directly (no dicts per call); pickle's own defaults
        # for any the config lacks, as _pick would leave them out.
        return pickle.dumps(value, getattr(config, 'protocol', None),
                            fix_imports=getattr(config, 'fix_imports', True))

    @classmethod
    def loads(cls, data, config):
        # The three settings as plain attribute reads (cheaper than getattr with a
        # default); pickle's defaults for a config that lacks one.
        try:
            fix_imports, encoding, errors = config.fix_imports, config.encoding, config.errors
        except AttributeError:
            fix_imports = getattr(config, 'fix_imports', True)
            encoding = getattr(config, 'encoding', 'ASCII')
            errors = getattr(config, 'errors', 'strict')
        # As BucketCache: these mean the pickle cannot be read here (a class that moved,
        # a newer protocol); anything else (raised by the value's own __setstate__, say)
        # propagates.
        try:
            return pickle.loads(data, fix_imports=fix_imports, encoding=encoding,
                                errors=errors)
        except _UNPICKLING_ERRORS as e:
            raise BackendLoadError('the entry could not be unpickled: %r' % e) from e


class JSONBackend(Backend):
    """Values as JSON text: whatever json.dumps takes (tuples come back as lists)."""
    backend_id = 'json'
    default_config = JSONConfig
    binary_format = False
    file_extension = 'json'

    @classmethod
    def dumps(cls, value, config):
        kwargs = _pick(config, 'skipkeys', 'ensure_ascii', 'check_circular', 'allow_nan',
                       'indent', 'separators', 'default', 'sort_keys')
        if kwargs.get('separators') is None and kwargs.get('indent') is None:
            kwargs['separators'] = (',', ':')  # compact, as C++ JsonBackend writes
        encoder = config.asdict().get('encoder_cls')
        if encoder is not None:
            kwargs['cls'] = encoder
        return json.dumps(value, **kwargs).encode('utf-8')

    @classmethod
    def loads(cls, data, config):
        kwargs = {k: v for k, v in _pick(config, 'object_hook', 'parse_float', 'parse_int',
                                         'parse_constant', 'object_pairs_hook').items()
                  if v is not None}
        decoder = config.asdict().get('decoder_cls')
        if decoder is not None:
            kwargs['cls'] = decoder
        try:
            return json.loads(data.decode('utf-8'), **kwargs)
        except (ValueError, RecursionError) as e:
            raise BackendLoadError('the entry is not readable JSON: %s' % e) from e


def _require_msgpack():
    if not msgpack_available:
        raise TypeError("MessagePackBackend needs the msgpack package "
                        "(Debian: apt install python3-msgpack; PyPI: msgpack).")


def _check_encoding(config):
    for name in ('pack_encoding', 'unpack_encoding'):
        value = config.asdict().get(name, 'utf-8')
        if value is not None and value.replace('-', '').lower() != 'utf8':
            raise ValueError("MessagePackConfig.%s must be 'utf-8' (got %r)" % (name, value))


class MessagePackBackend(Backend):
    """Values as one MessagePack object. Needs the msgpack package: without it, writing or
    reading raises TypeError (selecting the backend does not, as in BucketCache)."""
    backend_id = 'msgpack'
    default_config = MessagePackConfig
    binary_format = True
    file_extension = 'msgpack'

    @classmethod
    def dumps(cls, value, config):
        _require_msgpack()
        _check_encoding(config)
        kwargs = _pick(config, 'default', 'unicode_errors', 'use_single_float', 'use_bin_type')
        kwargs['use_bin_type'] = bool(kwargs.get('use_bin_type', True))
        return msgpack.packb(value, **kwargs)

    @classmethod
    def loads(cls, data, config):
        _require_msgpack()
        _check_encoding(config)
        kwargs = {k: v for k, v in _pick(config, 'object_hook', 'list_hook', 'use_list',
                                         'object_pairs_hook', 'unicode_errors',
                                         'strict_map_key').items() if v is not None}
        kwargs['use_list'] = bool(kwargs.get('use_list', True))
        try:
            return msgpack.unpackb(data, raw=False, **kwargs)
        except Exception as e:
            raise BackendLoadError('the entry is not readable MessagePack: %r' % e) from e


class RawBackend(Backend):
    """Values are bytes, stored as they are (the C API's default "raw" backend)."""
    backend_id = 'raw'
    default_config = RawConfig
    binary_format = True
    file_extension = 'raw'

    @classmethod
    def dumps(cls, value, config):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError('RawBackend stores bytes, not %s' % type(value).__name__)
        return bytes(value)

    @classmethod
    def loads(cls, data, config):
        return data
