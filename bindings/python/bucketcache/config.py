"""Backend configuration objects (BucketCache's config classes)."""
import pickle

__all__ = (
    'PickleConfig',
    'JSONConfig',
    'MessagePackConfig',
    'RawConfig',
)


class BackendConfig:
    """Keyword settings for a backend's dump and load calls."""

    def __init__(self, **kwargs):
        for name, value in kwargs.items():
            setattr(self, name, value)

    def asdict(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith('_')}

    def __eq__(self, other):
        return type(self) is type(other) and self.asdict() == other.asdict()

    def __repr__(self):
        args = ', '.join('%s=%r' % item for item in sorted(self.asdict().items()))
        return '%s(%s)' % (type(self).__name__, args)


class PickleConfig(BackendConfig):
    """pickle.dumps/loads arguments. ``protocol`` defaults to pickle.DEFAULT_PROTOCOL."""

    def __init__(self, protocol=pickle.DEFAULT_PROTOCOL, fix_imports=True,
                 encoding='ASCII', errors='strict'):
        super().__init__(protocol=protocol, fix_imports=fix_imports,
                         encoding=encoding, errors=errors)


class JSONConfig(BackendConfig):
    """json.dumps/loads arguments.

    Defaults differ from json.dumps where the C++ JsonBackend's output differs: compact
    separators (unless ``indent`` or ``separators`` is given), ``ensure_ascii=False`` and
    ``allow_nan=False`` (NaN and infinities are not JSON; the library would reject them).
    """

    def __init__(self, skipkeys=False, ensure_ascii=False, check_circular=True,
                 allow_nan=False, encoder_cls=None, indent=None, separators=None,
                 default=None, sort_keys=False, decoder_cls=None, object_hook=None,
                 parse_float=None, parse_int=None, parse_constant=None,
                 object_pairs_hook=None):
        super().__init__(
            skipkeys=skipkeys, ensure_ascii=ensure_ascii, check_circular=check_circular,
            allow_nan=allow_nan, encoder_cls=encoder_cls, indent=indent,
            separators=separators, default=default, sort_keys=sort_keys,
            decoder_cls=decoder_cls, object_hook=object_hook, parse_float=parse_float,
            parse_int=parse_int, parse_constant=parse_constant,
            object_pairs_hook=object_pairs_hook)


class MessagePackConfig(BackendConfig):
    """msgpack.packb/unpackb arguments.

    ``pack_encoding`` and ``unpack_encoding`` are kept for BucketCache compatibility and
    must be 'utf-8' (msgpack 1.0 removed them). ``strict_map_key=False`` lets maps with
    non-string keys (written from C++, say) be read.
    """

    def __init__(self, default=None, pack_encoding='utf-8', unicode_errors='strict',
                 use_single_float=False, autoreset=1, use_bin_type=1, object_hook=None,
                 list_hook=None, use_list=1, unpack_encoding='utf-8',
                 object_pairs_hook=None, strict_map_key=False):
        super().__init__(
            default=default, pack_encoding=pack_encoding, unicode_errors=unicode_errors,
            use_single_float=use_single_float, autoreset=autoreset,
            use_bin_type=use_bin_type, object_hook=object_hook, list_hook=list_hook,
            use_list=use_list, unpack_encoding=unpack_encoding,
            object_pairs_hook=object_pairs_hook, strict_map_key=strict_map_key)


class RawConfig(BackendConfig):
    """RawBackend has no settings."""

    def __init__(self):
        super().__init__()
