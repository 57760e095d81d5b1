"""The decorator (``@bucket``) and the named tuples of BucketCache's API."""
import functools
import inspect
from collections import namedtuple

from . import _lib

__all__ = ('CachedCallInfo', 'PrunedFilesInfo')

CachedCallInfo = namedtuple(
    'CachedCallInfo', ['varargs', 'callargs', 'return_value', 'expiration_date'])
CachedCallInfo.__doc__ = """What a decorated function's callback receives on a cache hit.

varargs: the call's ``*args`` tuple (``()`` without one); callargs: every parameter by name
(defaults applied, as inspect.getcallargs gives them); return_value: the cached value;
expiration_date: naive UTC datetime, or None if the entry never expires."""

PrunedFilesInfo = namedtuple('PrunedFilesInfo', ['size', 'num'])
PrunedFilesInfo.__doc__ = """What prune_directory() removed: size in bytes, num files."""

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def raise_invalid_keys(valid_keys, passed_keys, message):
    invalid = set(passed_keys) - set(valid_keys)
    if invalid:
        raise TypeError(message.format(s='s' if len(invalid) > 1 else '',
                                       keys=', '.join(sorted(invalid))))


class DecoratorFactory:
    """Wraps functions with a bucket.

    The key of a call is ``{"args": [...], "name": <name>}``, plus ``"kwargs": {...}`` for
    keyword-only and ``**kwargs`` arguments and ``"self": <instance>`` with method=True
    (the instance stands for its state: __getstate__, __slots__ or __dict__). "args" holds
    the positional parameters' values in order (defaults applied) followed by ``*args``;
    the nocache parameter and ignored ones are left out. This is the C++ memoize() key, so
    ``@bucket(name='square')`` on ``def square(x)`` shares entries with
    ``bucketcache::memoize(bucket, "square", ...)`` over the same backend. The default name
    is ``<module>.<qualified name>``.
    """

    def __init__(self, bucket, method=False, nocache=None, callback=None, ignore=None,
                 name=None):
        self.bucket = bucket
        self.method = bool(method)
        self.nocache = nocache
        self.callback = callback
        self.ignore = tuple(ignore) if ignore is not None else ()
        self.name = name
        self.wrapped = None

    def decorate(self, f):
        is_property = isinstance(f, property)
        if is_property:
            f = f.fget
            self.method = True  # detectable, so method=True may be left out
        sig = inspect.signature(f)
        params = sig.parameters
        if self.nocache and self.nocache not in params:
            raise TypeError("nocache decorator argument '{}' missing from argspec."
                            .format(self.nocache))
        raise_invalid_keys(params, self.ignore,
                           'parameter{s} cannot be ignored if not present in argspec: {keys}')
        self_name = None
        if self.method:
            first = next(iter(params.values()), None)
            if first is None or first.kind not in _POSITIONAL:
                raise TypeError('method=True needs a function whose first parameter is the '
                                'instance')
            self_name = first.name
        name = self.name if self.name is not None else '%s.%s' % (f.__module__, f.__qualname__)
        skipped = set(self.ignore)
        if self.nocache:
            skipped.add(self.nocache)
        if self_name:
            skipped.add(self_name)
        bucket = self.bucket
        factory = self

        def call_key(callargs):
            args, kwargs = [], {}
            for pname, value in callargs.items():
                if pname in skipped:
                    continue
                kind = params[pname].kind
                if kind in _POSITIONAL:
                    args.append(value)
                elif kind is inspect.Parameter.VAR_POSITIONAL:
                    args.extend(value)
                elif kind is inspect.Parameter.KEYWORD_ONLY:
                    kwargs[pname] = value
                else:
                    kwargs.update(value)
            key = {'args': args, 'name': name}
            if kwargs:
                key['kwargs'] = kwargs
            if self_name:
                key['self'] = callargs[self_name]
            return key

        def varargs_of(callargs):
            for pname, p in params.items():
                if p.kind is inspect.Parameter.VAR_POSITIONAL:
                    return callargs[pname]
            return ()

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            callargs = dict(bound.arguments)
            key_bytes = bucket._key(call_key(callargs))

            if factory.nocache and callargs[factory.nocache]:
                result = f(*args, **kwargs)
                bucket._set_value(key_bytes, result)
                called = True
            else:
                result, hit = bucket._get_or_compute(key_bytes, lambda: f(*args, **kwargs))
                called = not hit
                callback = factory.callback
                if hit and callback is not None:
                    info = CachedCallInfo(varargs_of(callargs), callargs, result,
                                          bucket._expiration_date(key_bytes))
                    if self_name:
                        callback(callargs[self_name], info)
                    else:
                        callback(info)

            if called:
                # As BucketCache: the key is made before the call; a function that changes
                # its arguments (or its instance) cannot be cached under it.
                after = bucket._key(call_key(callargs))
                if after != key_bytes and (
                        _lib.canonical_key(after) != _lib.canonical_key(key_bytes)):
                    raise ValueError("modification of input parameters{} by function '{}' "
                                     "cannot be cached.".format(
                                         ' or instance state' if self_name else '', f.__name__))
            return result

        wrapper.callback = self.add_callback
        # The key of a call, without calling: f.cache_key(*args, **kwargs).
        wrapper.cache_key = lambda *a, **kw: _bound_key(sig, call_key, a, kw)
        self.wrapped = property(wrapper) if is_property else wrapper
        return self.wrapped

    def add_callback(self, f):
        """``@fun.callback``: f is called on cache hits with a CachedCallInfo (and the
        instance first, with method=True). Returns the decorated function."""
        self.callback = f
        return self.wrapped


def _bound_key(sig, call_key, args, kwargs):
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    return call_key(dict(bound.arguments))
