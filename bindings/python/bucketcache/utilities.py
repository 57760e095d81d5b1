"""The decorator (``@bucket``) and the named tuples of BucketCache's API."""
import functools
import inspect
from collections import namedtuple

from . import _lib
from .keymakers import stable_key_json

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
    the nocache parameter and ignored ones are left out.

    Without ``name=``, the name is ``<module>.<qualified name>`` and the key also holds
    ``"argspec"``: the function's parameters (names, kinds, defaults, annotations), so a
    function whose signature changed never gets results cached for the old one (as
    BucketCache keys by name and full argspec). With ``name=``, the key is exactly the C++
    memoize() key: ``@bucket(name='square')`` on ``def square(x)`` shares entries with
    ``bucketcache::memoize(bucket, "square", ...)`` over the same backend.

    The decorated function has the original's signature (``inspect.getfullargspec`` gives
    the same), as BucketCache's ``decorator``-based wrapper does.
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
        if self.name is not None:
            name, argspec = self.name, None
        else:
            name = '%s.%s' % (f.__module__, f.__qualname__)
            argspec = argspec_key(sig)
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
            if argspec is not None:
                key['argspec'] = argspec
            if self_name:
                key['self'] = callargs[self_name]
            return key

        def varargs_of(callargs):
            for pname, p in params.items():
                if p.kind is inspect.Parameter.VAR_POSITIONAL:
                    return callargs[pname]
            return ()

        def call(*args, **kwargs):
            per_call = {name: kwargs.pop('bucketcache__' + name)
                        for name in _PER_CALL if 'bucketcache__' + name in kwargs}
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            callargs = dict(bound.arguments)
            key_bytes = bucket._key(call_key(callargs))

            if factory.nocache and callargs[factory.nocache]:
                result = f(*args, **kwargs)
                bucket._set_value(key_bytes, result)
                called = True
            else:
                result, hit = bucket._get_or_compute(key_bytes, lambda: f(*args, **kwargs),
                                                     **per_call)
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

        inner = with_signature(f, sig, call)

        def wrapper(*args, **kwargs):
            # cachier's per-call keywords (bucketcache__max_age=, bucketcache__refresh=,
            # bucketcache__skip_cache=) are taken out before the call; f never sees them.
            if kwargs and any(k.startswith('bucketcache__') for k in kwargs):
                unknown = [k for k in kwargs
                           if k.startswith('bucketcache__') and k[13:] not in _PER_CALL]
                if unknown:
                    raise TypeError('unknown per-call argument(s): %s' % ', '.join(unknown))
                return call(*args, **kwargs)
            return inner(*args, **kwargs)

        functools.update_wrapper(wrapper, inner)
        wrapper.__wrapped__ = f
        wrapper.__signature__ = sig
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


_PER_CALL = ('max_age', 'refresh', 'skip_cache')


def _bound_key(sig, call_key, args, kwargs):
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    return call_key(dict(bound.arguments))


_KIND_NAMES = {
    inspect.Parameter.POSITIONAL_ONLY: 'positional_only',
    inspect.Parameter.POSITIONAL_OR_KEYWORD: 'positional_or_keyword',
    inspect.Parameter.VAR_POSITIONAL: 'var_positional',
    inspect.Parameter.KEYWORD_ONLY: 'keyword_only',
    inspect.Parameter.VAR_KEYWORD: 'var_keyword',
}


def argspec_key(sig):
    """A function's parameters as a key value: one object per parameter with its name, kind
    and, if it has them, its default and annotation (as the canonical key text of their
    values, object addresses masked), and the return annotation."""
    params = []
    for p in sig.parameters.values():
        entry = {'name': p.name, 'kind': _KIND_NAMES[p.kind]}
        if p.default is not p.empty:
            entry['default'] = stable_key_json(p.default)
        if p.annotation is not p.empty:
            entry['annotation'] = stable_key_json(p.annotation)
        params.append(entry)
    spec = {'parameters': params}
    if sig.return_annotation is not sig.empty:
        spec['return'] = stable_key_json(sig.return_annotation)
    return spec


def with_signature(f, sig, call):
    """A function with f's signature (parameters, defaults, annotations; name, docstring
    and the rest as functools.wraps copies them) that calls call() with its arguments.

    Generated from source, as the ``decorator`` package does, so that
    inspect.getfullargspec(), which does not follow __wrapped__, sees f's parameters.
    """
    params = list(sig.parameters.values())
    names = {p.name for p in params}
    impl = '_bc_call'
    while impl in names:
        impl += '_'
    namespace = {impl: call}
    defs, args = [], []
    for i, p in enumerate(params):
        text = p.name
        if p.default is not p.empty:
            default = '_bc_default_%d' % i
            while default in names:
                default += '_'
            namespace[default] = p.default
            text += '=' + default
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            defs.append('*' + text)
            args.append('*' + p.name)
        elif p.kind is inspect.Parameter.VAR_KEYWORD:
            defs.append('**' + text)
            args.append('**' + p.name)
        elif p.kind is inspect.Parameter.KEYWORD_ONLY:
            if not any(q.kind is inspect.Parameter.VAR_POSITIONAL for q in params) \
                    and '*' not in defs:
                defs.append('*')
            defs.append(text)
            args.append('%s=%s' % (p.name, p.name))
        else:
            defs.append(text)
            args.append(p.name)
        if p.kind is inspect.Parameter.POSITIONAL_ONLY and (
                i + 1 == len(params) or
                params[i + 1].kind is not inspect.Parameter.POSITIONAL_ONLY):
            defs.append('/')
    source = 'def wrapper(%s):\n    return %s(%s)\n' % (', '.join(defs), impl, ', '.join(args))
    try:
        exec(compile(source, '<bucketcache wrapper of %s>' % getattr(f, '__qualname__', f),
                     'exec'), namespace)
    except SyntaxError:  # parameter names Python source cannot spell: a plain wrapper
        @functools.wraps(f)
        def plain(*args, **kwargs):
            return call(*args, **kwargs)
        return plain
    wrapper = namespace['wrapper']
    functools.update_wrapper(wrapper, f)
    wrapper.__annotations__ = dict(getattr(f, '__annotations__', None) or {})
    return wrapper
