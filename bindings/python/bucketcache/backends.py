"""Backends: how values become an entry's bytes and back.

A backend is a class (not an instance) with a ``backend_id`` the library knows ("pickle",
"json", "msgpack" or "raw"), a ``default_config`` class, and ``dumps``/``loads``
classmethods. The id is recorded in every entry and hashed into its file name, so the
same key under two backends names two entries. "json" and "msgpack" entries are shared
with C++ (JsonBackend, MsgpackBackend), the C API and the other bindings; "pickle" entries
are Python-only.
"""
import json
import pickle
from abc import ABC, abstractmethod

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


class Backend(ABC):
    """Abstract base class for backends.

    Subclasses set the class attributes ``backend_id``, ``default_config``,
    ``binary_format`` and ``file_extension`` and implement the ``dumps`` and ``loads``
    classmethods. ``loads`` raises BackendLoadError for bytes it cannot read.
    """
    abstract_attributes = ('backend_id', 'default_config', 'binary_format', 'file_extension')

    @classmethod
    @abstractmethod
    def dumps(cls, value, config):
        """The bytes stored for value."""
        raise NotImplementedError

    @classmethod
    @abstractmethod
    def loads(cls, data, config):
        """The value stored as data (bytes). Raises BackendLoadError if data is unreadable."""
        raise NotImplementedError

    @classmethod
    def check_concrete(cls):
        """Raises TypeError unless the class implements everything a backend needs."""
        if getattr(cls, '__abstractmethods__', None):
            raise TypeError("Concrete class '{}' missing abstract method{}: {}".format(
                cls.__name__, 's' if len(cls.__abstractmethods__) > 1 else '',
                ', '.join(sorted(cls.__abstractmethods__))))
        missing = [name for name in cls.abstract_attributes if not hasattr(cls, name)]
        if missing:
            raise TypeError("Concrete class '{}' missing abstract attribute{}: {}".format(
                cls.__name__, 's' if len(missing) > 1 else '', ', '.join(missing)))

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
        return pickle.dumps(value, **_pick(config, 'protocol', 'fix_imports'))

    @classmethod
    def loads(cls, data, config):
        try:
            return pickle.loads(data, **_pick(config, 'fix_imports', 'encoding', 'errors'))
        except Exception as e:
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
    """Values as one MessagePack object (needs the msgpack package)."""
    backend_id = 'msgpack'
    default_config = MessagePackConfig
    binary_format = True
    file_extension = 'msgpack'

    @classmethod
    def check_concrete(cls):
        super().check_concrete()
        _require_msgpack()

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
