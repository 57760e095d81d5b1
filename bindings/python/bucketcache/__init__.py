"""bucketcache: persistent on-disk keyed caches, Python BucketCache's API over libbucketcache.

See docs/python.md. The library is found through BUCKETCACHE_LIBRARY, the system loader,
or the checkout's build trees (build*/libbucketcache.so.0, never a sanitizer build).
"""
from . import backends, buckets, config, exceptions, keymakers, utilities
from ._lib import library_path, version as library_version
from .backends import *  # noqa: F401,F403
from .buckets import *  # noqa: F401,F403
from .config import *  # noqa: F401,F403
from .exceptions import *  # noqa: F401,F403
from .keymakers import *  # noqa: F401,F403
from .log import logger, logger_config
from .utilities import *  # noqa: F401,F403

__all__ = (backends.__all__ + buckets.__all__ + config.__all__ + exceptions.__all__ +
           keymakers.__all__ + utilities.__all__ +
           ('logger', 'logger_config', 'library_path', 'library_version'))

__version__ = '0.1.0'
