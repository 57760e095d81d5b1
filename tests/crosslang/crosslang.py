"""Cross-language check, Python side: python3 crosslang.py write|read <dir>."""
import os
import sys

from bucketcache import Bucket, JSONBackend, MessagePackBackend

KEYS = ["spam", 42, [1, "two", 3.5], {"user": "ada", "id": 7}, 1.5]
JSON_VALUES = [
    {"a": 1, "b": [1, 2, 3]},
    "forty-two",
    [True, None, "x", 0.25],
    {"name": "Ada Lovelace", "langs": ["en", "fr"]},
    2.25,
]
MSGPACK_VALUES = [
    {"a": [1], "b": [1, 2, 3]},
    "forty-two",
    [0.5, 1.5],
    {"lang": "en", "name": "Ada Lovelace"},
    -7,
]


def main(mode, root):
    # With BUCKETCACHE_CROSSLANG_STORE (a redis:// URL), root names buckets on that server.
    store = os.environ.get("BUCKETCACHE_CROSSLANG_STORE")
    extra = {"store": store} if store else {}
    j = Bucket(root + "/json", backend=JSONBackend, **extra)
    m = Bucket(root + "/msgpack", backend=MessagePackBackend, **extra)
    if mode == "write":
        for k, v in zip(KEYS, JSON_VALUES):
            j[k] = v
        for k, v in zip(KEYS, MSGPACK_VALUES):
            m[k] = v
        print("Python wrote 10 entries")
        return 0
    failures = 0
    for name, bucket, values in (("json", j, JSON_VALUES), ("msgpack", m, MSGPACK_VALUES)):
        for k, want in zip(KEYS, values):
            try:
                got = bucket[k]
            except KeyError:
                print("Python reader: %s %r: missing" % (name, k), file=sys.stderr)
                failures += 1
                continue
            if got != want:
                print("Python reader: %s %r: %r != %r" % (name, k, got, want), file=sys.stderr)
                failures += 1
    print("Python read 10 entries, %d wrong or missing" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
