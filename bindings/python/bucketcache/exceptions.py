"""Exceptions. BucketCache's names, all deriving from BucketCacheError.

A miss (absent, expired, corrupt or unreadable entry) raises a KeyInvalidError subclass,
which is also a KeyError, so ``except KeyError`` works as with BucketCache.
"""

__all__ = (
    'BucketCacheError',
    'KeyInvalidError',
    'KeyFileNotFoundError',
    'KeyExpirationError',
    'CorruptEntryError',
    'CacheLoadError',
    'BackendLoadError',
    'InvalidArgumentError',
    'BucketIOError',
    'SerializationError',
    'OutOfMemoryError',
    'UnsupportedError',
    'LockTimeoutError',
    'LibraryNotFoundError',
    'UnstableKeyWarning',
)


class BucketCacheError(Exception):
    """Base class of every bucketcache exception. ``code`` is the C API's result code
    (a negative ``BC_E*`` value) when the library reported the error, else None."""
    code = None


class KeyInvalidError(BucketCacheError, KeyError):
    """A key has no usable entry (a miss). Raised by ``bucket[key]`` and ``del bucket[key]``."""

    def __str__(self):
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class KeyFileNotFoundError(KeyInvalidError):
    """No entry exists for the key."""


class KeyExpirationError(KeyInvalidError):
    """The key's entry had expired (it has been deleted)."""


class CorruptEntryError(KeyInvalidError):
    """The key's entry failed its checksums; treated as a miss."""


class CacheLoadError(BucketCacheError):
    """An entry could not be loaded (BucketCache's name; reading it is a miss)."""


class BackendLoadError(CacheLoadError):
    """The backend could not turn an entry's bytes back into a value (reading it is a miss).
    Raise it from a backend's ``from_file`` or ``loads``; any other exception propagates."""


class InvalidArgumentError(BucketCacheError, ValueError):
    """The library rejected an argument (an invalid key or value, a bad option)."""


class BucketIOError(BucketCacheError, OSError):
    """The file system failed (permission denied, disk full, ...). Not a miss."""


class SerializationError(BucketCacheError, ValueError):
    """The library could not serialize or deserialize a value."""


class OutOfMemoryError(BucketCacheError, MemoryError):
    """The library ran out of memory."""


class UnsupportedError(BucketCacheError):
    """The library does not support an option or feature."""


class LockTimeoutError(BucketCacheError, TimeoutError):
    """A wait timed out."""


class LibraryNotFoundError(BucketCacheError, ImportError):
    """libbucketcache could not be loaded. Set BUCKETCACHE_LIBRARY to its path."""


class UnstableKeyWarning(UserWarning):
    """A key stands for a repr() holding a memory address (``<... at 0x...>``): it names
    a different entry in every run, so the cache never hits across runs."""
