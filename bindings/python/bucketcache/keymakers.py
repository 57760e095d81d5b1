"""Keymakers: a key object becomes JSON text, which the library turns into the canonical key
form (docs/keys.md) and hashes. So ``bucket[{"a": 1}]`` here, a C++ key
``std::map<std::string, int>{{"a", 1}}`` and the JSON text ``{"a":1}`` given to the C API
name the same entry.

Keys:

- dict (str keys only), list, tuple (as a list), str, int, float, bool, None, nested to
  at most 1024 levels; NaN and infinities are not keys (ValueError);
- Python values with no JSON form stand for a tagged object ``{"__type__": <tag>,
  "value": <value>}``, the same in every run and on every machine (see TAGGED_TYPES and
  docs/python.md): datetime, date, time, timedelta, Decimal, complex, bytes and
  bytearray, set and frozenset (elements sorted by their canonical form), paths, Enum
  members and UUIDs;
- any other object by its state, as BucketCache does: ``__getstate__()`` if the class
  defines it, else the attributes named by ``__slots__``, else ``__dict__``. The class
  itself is not part of the key;
- what has none of these (and functions, classes, modules) by its ``repr()``, tagged
  "repr", as BucketCache does; a repr holding an address (``at 0x...``) differs in every
  run, so it is warned about (UnstableKeyWarning).
"""
import base64
import datetime
import decimal
import enum
import json
import math
import pathlib
import re
import types
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping

from .exceptions import UnstableKeyWarning

__all__ = (
    'KeyMaker',
    'DefaultKeyMaker',
    'StreamingDefaultKeyMaker',
)

MAX_KEY_DEPTH = 1024  # the library's limit (bucketcache::kMaxKeyDepth)

_encode_str = json.encoder.encode_basestring  # escapes ", \ and control characters only
encode_str_key = _encode_str  # key_json() of a str (Bucket's fast path for str keys)
_object_getstate = getattr(object, '__getstate__', None)  # Python 3.11+ has a default
# Objects that stand for their repr(), not their (meaningless) __dict__.
_BY_REPR = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
            types.MethodType, types.CodeType)
_ADDRESS = re.compile(r'\bat 0x[0-9a-fA-F]+')
TYPE_TAG = '__type__'


class KeyMaker(ABC):
    """KeyMaker abstract base class."""

    @abstractmethod
    def make_key(self, obj):
        """Yields the key of obj as UTF-8 JSON text, in one or more bytes chunks."""
        raise NotImplementedError


class DefaultKeyMaker(KeyMaker):
    """Makes JSON text from any key (see the module documentation).

    ``sort_keys`` is accepted for BucketCache compatibility and must be True: the canonical
    key form always sorts object members.
    """

    def __init__(self, sort_keys=True):
        if not sort_keys:
            raise ValueError('sort_keys=False is not supported: the canonical key form '
                             'always sorts object members')
        self.sort_keys = True

    def make_key(self, obj):
        yield key_json(obj).encode('utf-8', 'strict')

    def __repr__(self):
        return '%s()' % type(self).__name__


class StreamingDefaultKeyMaker(DefaultKeyMaker):
    """DefaultKeyMaker yielding the key in 64 KiB chunks. Both give the same entries.

    The C API takes a key in one buffer, so this saves no memory in Python (the C++
    StreamingDefaultKeyMaker does hash in constant memory).
    """
    chunk_size = 65536

    def make_key(self, obj):
        data = key_json(obj).encode('utf-8', 'strict')
        for start in range(0, len(data), self.chunk_size):
            yield data[start:start + self.chunk_size]
        if not data:
            yield data


def _tagged(tag, value):
    return {TYPE_TAG: tag, 'value': value}


def _enum_name(member):
    cls = type(member)
    name = member.name if member.name is not None else repr(member.value)
    return '%s.%s.%s' % (cls.__module__, cls.__qualname__, name)


def tagged_form(o):
    """The tagged object standing for o, or None if o's type has no tagged form.

    The forms (docs/python.md, "Keys"):

    ========================  ==========  =============================================
    type                      tag         value
    ========================  ==========  =============================================
    datetime.datetime         datetime    o.isoformat() (with the UTC offset if aware)
    datetime.date             date        o.isoformat()
    datetime.time             time        o.isoformat()
    datetime.timedelta        timedelta   [days, seconds, microseconds] (normalized)
    decimal.Decimal           decimal     str(o) (so 1.0 and 1.00 are two keys)
    complex                   complex     [real, imag]
    bytes, bytearray,         bytes       base64 (RFC 4648, with padding)
    memoryview
    set, frozenset            set         the elements, sorted by canonical form
    pathlib.PurePath          path        str(o)
    enum.Enum member          enum        "<module>.<qualified class name>.<name>"
    uuid.UUID                 uuid        str(o) (lowercase, with hyphens)
    ========================  ==========  =============================================

    Enum members that are also int, float or str (IntEnum, StrEnum, ...) are those
    values, as json.dumps writes them.
    """
    if isinstance(o, datetime.datetime):
        return _tagged('datetime', o.isoformat())
    if isinstance(o, datetime.date):
        return _tagged('date', o.isoformat())
    if isinstance(o, datetime.time):
        return _tagged('time', o.isoformat())
    if isinstance(o, datetime.timedelta):
        return _tagged('timedelta', [o.days, o.seconds, o.microseconds])
    if isinstance(o, decimal.Decimal):
        if not o.is_finite():
            raise ValueError('%r is not a valid key value: NaN and infinities are not '
                             'keys' % o)
        return _tagged('decimal', str(o))
    if isinstance(o, complex):
        return _tagged('complex', [o.real, o.imag])
    if isinstance(o, (bytes, bytearray, memoryview)):
        return _tagged('bytes', base64.b64encode(bytes(o)).decode('ascii'))
    if isinstance(o, (set, frozenset)):
        return _tagged('set', _SortedSet(o))
    if isinstance(o, pathlib.PurePath):
        return _tagged('path', str(o))
    if isinstance(o, enum.Enum):
        return _tagged('enum', _enum_name(o))
    if isinstance(o, uuid.UUID):
        return _tagged('uuid', str(o))
    return None


class _SortedSet:
    """A set's elements, written as a JSON array sorted by their canonical forms."""
    __slots__ = ('items',)

    def __init__(self, items):
        self.items = items


def _canonical(obj, depth, stable, active):
    from . import _lib  # the library's canonical form; imported late (it loads the library)
    return _lib.canonical_key(_key_json(obj, depth, stable, active).encode('utf-8', 'strict'))


def _repr_key(o, stable=False):
    text = repr(o)
    if stable:
        return _tagged('repr', _ADDRESS.sub('at 0x?', text))
    if _ADDRESS.search(text):
        warnings.warn('key %s stands for its repr(), which holds a memory address: it '
                      'names a different entry in every run. Give %s a __getstate__ (or '
                      'convert it to a JSON value) to cache it across runs.'
                      % (text[:80], type(o).__name__), UnstableKeyWarning, stacklevel=4)
    return _tagged('repr', text)


def object_state(o, stable=False):
    """The state that stands for an object in a key (BucketCache's rule), or, for an object
    with none, its tagged repr() (with any address masked if stable)."""
    if isinstance(o, _BY_REPR):
        return _repr_key(o, stable)
    getstate = getattr(type(o), '__getstate__', None)
    if getstate is not None and getstate is not _object_getstate:
        return o.__getstate__()
    if hasattr(o, '__slots__'):
        names = set()
        for cls in type(o).__mro__:
            slots = cls.__dict__.get('__slots__', ())
            names.update((slots,) if isinstance(slots, str) else slots)
        names.discard('__dict__')
        names.discard('__weakref__')
        return {k: getattr(o, k) for k in sorted(names) if hasattr(o, k)}
    state = getattr(o, '__dict__', None)
    if isinstance(state, dict):
        return state
    return _repr_key(o, stable)


class _Close:
    __slots__ = ('text', 'ident', 'is_object')

    def __init__(self, text, ident, is_object):
        self.text = text
        self.ident = ident
        self.is_object = is_object


class _Literal(str):
    """Text to emit as it is (a separator or an object member's name)."""


def key_json(obj):
    """JSON text (str) for a key. Not canonical: the library canonicalizes it.

    Iterative, so a key 1024 levels deep needs no deep Python recursion.
    """
    if type(obj) is str:  # the common key: what the loop below makes of it, without the loop
        return _encode_str(obj)
    return _key_json(obj, 0)


def stable_key_json(obj):
    """key_json(obj), except that a repr() standing for an object has its addresses masked
    (``at 0x?``), without a warning: the same text in every run, for values that only need
    to be told apart by kind (a decorated function's default values)."""
    return _key_json(obj, 0, True)


def _key_json(obj, depth, stable=False, active=None):
    out = []
    work = [obj]
    if active is None:
        active = set()  # ids of the containers and objects being written: a cycle is an error
    # depth: JSON nesting, limited as the library limits it
    objects = 0  # objects being expanded into their state
    while work:
        item = work.pop()
        t = type(item)
        if t is _Literal:
            out.append(item)
        elif t is _Close:
            out.append(item.text)
            active.discard(item.ident)
            if item.is_object:
                objects -= 1
            else:
                depth -= 1
        elif item is None:
            out.append('null')
        elif item is True:
            out.append('true')
        elif item is False:
            out.append('false')
        elif isinstance(item, str):
            out.append(_encode_str(item))
        elif isinstance(item, int):
            out.append(int.__repr__(item))
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError('%r is not a valid key value: NaN and infinities are not '
                                 'JSON' % item)
            out.append(float.__repr__(item))
        else:
            ident = id(item)
            if ident in active:
                raise ValueError('circular reference in key')
            if isinstance(item, (list, tuple)):
                depth += 1
                if depth > MAX_KEY_DEPTH:
                    raise ValueError('key nested deeper than %d levels' % MAX_KEY_DEPTH)
                active.add(ident)
                out.append('[')
                work.append(_Close(']', ident, False))
                for i in range(len(item) - 1, -1, -1):
                    work.append(item[i])
                    if i:
                        work.append(_Literal(','))
            elif isinstance(item, Mapping):
                depth += 1
                if depth > MAX_KEY_DEPTH:
                    raise ValueError('key nested deeper than %d levels' % MAX_KEY_DEPTH)
                active.add(ident)
                out.append('{')
                work.append(_Close('}', ident, False))
                members = list(item.items())
                for i in range(len(members) - 1, -1, -1):
                    name, value = members[i]
                    if not isinstance(name, str):
                        raise TypeError('key dicts must have str keys, not %s (%r): convert '
                                        'them, e.g. with str()' % (type(name).__name__, name))
                    work.append(value)
                    work.append(_Literal(_encode_str(name) + ':'))
                    if i:
                        work.append(_Literal(','))
            elif t is _SortedSet:
                depth += 1
                if depth > MAX_KEY_DEPTH:
                    raise ValueError('key nested deeper than %d levels' % MAX_KEY_DEPTH)
                ident = id(item.items)
                if ident in active:
                    raise ValueError('circular reference in key')
                active.add(ident)
                texts = sorted(_canonical(e, depth, stable, active) for e in item.items)
                active.discard(ident)
                out.append('[')
                out.append(','.join(t.decode('utf-8') for t in texts))
                out.append(']')
                depth -= 1
            elif (tagged := tagged_form(item)) is not None:
                work.append(tagged)
            else:
                # An object stands for its state (which adds no JSON nesting of its own).
                objects += 1
                if objects > MAX_KEY_DEPTH:
                    raise ValueError('key objects nested deeper than %d levels' % MAX_KEY_DEPTH)
                active.add(ident)
                work.append(_Close('', ident, True))
                work.append(object_state(item, stable))
    return ''.join(out)
