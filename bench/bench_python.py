"""One round of the Python benchmarks (docs/performance.md): bucketcache's binding against
python-diskcache on the same workload, get and set of small values.

Run by bench/run.py once per round, between the C++ rounds; within a round the contenders
of a workload take turns in slices of a few operations, in a new random order every slice,
so machine noise hits them alike. Writes JSON:
{"round": r, "results": [{"workload", "contender", "ns_per_op"}], "versions": {...}}.

Contenders (values: 100-byte bytes objects, keys: str 'key-000123', 1000 of them):
  bucketcache        Bucket(dir) - PickleBackend, memory layer on (the defaults)
  bucketcache_disk   Bucket(dir, memory_limit=0) - every get reads the entry file
  capi, capi_disk    the same two buckets' library calls made directly through ctypes, with
                     the key's JSON bytes and the pickled value prepared in advance (get:
                     bc_get_into_buffer and pickle.loads): the floor of the binding's cost,
                     what is left after every Python-side step but unpickling
  diskcache          diskcache.Cache(dir) - SQLite (WAL) index, small values inline
Workloads: set (overwrite one of the 1000 keys), set_new (a key never stored before), get.
Neither side fsyncs: bucketcache's default is no fsync, diskcache's is SQLite
synchronous=NORMAL in WAL mode (no fsync at commit). diskcache stores a bytes value as it
is; the binding pickles it (~0.3 us per set and 0.1 us per get of the 100 B here).
"""
import argparse
import itertools
import json
import os
import pickle
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'bindings', 'python'))

try:
    import diskcache  # noqa: E402  (Debian's python3-diskcache)
except ImportError as e:  # the diskcache rows are skipped, with the reason printed
    diskcache = None
    print('bench_python: skipping the diskcache contender: cannot import diskcache (%s); '
          'install python3-diskcache' % e, flush=True)

import bucketcache  # noqa: E402
from bucketcache import _lib  # noqa: E402

KEYS = ['key-%06d' % i for i in range(1000)]
VALUE = bytes(range(100))
NEW_KEYS = ('new-%09d' % i for i in itertools.count())  # set_new: never stored before


class CapiLane:
    """A bucket's library calls without the binding: bc_set of prepared bytes, and
    bc_get_into_buffer (as the binding makes it) then pickle.loads."""

    def __init__(self, bucket):
        self.bucket = bucket
        self.handle = bucket._handle
        self.pickled = pickle.dumps(VALUE)
        self.keys = {k: bucket._key(k) for k in KEYS}

    def key(self, k):
        kb = self.keys.get(k)
        return kb if kb is not None else self.bucket._key(k)

    def __setitem__(self, k, value):
        kb = self.key(k)
        _lib.check(_lib.lib.bc_set(self.handle.ptr, kb, len(kb), self.pickled,
                                   len(self.pickled)))

    def __getitem__(self, k):
        code, data = _lib.get_bytes(self.handle, self.keys[k])
        _lib.check(code)
        return pickle.loads(data)

    def close(self):
        pass  # the Bucket's own contender closes it


def make_contenders(data_dir):
    contenders = {
        'bucketcache': bucketcache.Bucket(os.path.join(data_dir, 'py-bucketcache')),
        'bucketcache_disk': bucketcache.Bucket(os.path.join(data_dir, 'py-bucketcache-disk'),
                                               memory_limit=0),
    }
    contenders['capi'] = CapiLane(contenders['bucketcache'])
    contenders['capi_disk'] = CapiLane(contenders['bucketcache_disk'])
    if diskcache is not None:
        contenders['diskcache'] = diskcache.Cache(os.path.join(data_dir, 'py-diskcache'))
    return contenders


def op_set(cache, keys, value):
    for k in keys:
        cache[k] = value


def op_set_new(cache, keys, value):
    for _ in keys:
        cache[next(NEW_KEYS)] = value


def op_get(cache, keys, value):
    for k in keys:
        v = cache[k]
    assert v == value


def interleave(contenders, op, batch, budget_s, rng):
    """Contenders take turns (a new random order every slice) doing `batch` operations
    until the budget is spent; returns {name: ns per operation}."""
    names = list(contenders)
    spent = dict.fromkeys(names, 0)
    done = dict.fromkeys(names, 0)
    pos = dict.fromkeys(names, 0)
    n = len(KEYS)
    t_start = time.perf_counter()
    slices = 0
    while slices < 6 or time.perf_counter() - t_start < budget_s:
        rng.shuffle(names)
        for name in names:
            i = pos[name]
            keys = [KEYS[(i + b) % n] for b in range(batch)]
            t0 = time.perf_counter_ns()
            op(contenders[name], keys, VALUE)
            spent[name] += time.perf_counter_ns() - t0
            done[name] += batch
            pos[name] = (i + batch) % n
        slices += 1
    return {name: spent[name] / done[name] for name in spent}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data-dir', required=True)
    ap.add_argument('--round', type=int, default=0)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--out', required=True)
    args = ap.parse_args()

    contenders = make_contenders(args.data_dir)
    for c in contenders.values():  # every key present before timing
        op_set(c, KEYS, VALUE)
        op_get(c, KEYS, VALUE)  # and read once (fills bucketcache's memory layer)

    rng = random.Random(args.round)
    results = []
    for workload, op, batch, budget in (('set', op_set, 10, 0.5), ('set_new', op_set_new, 10, 0.5),
                                        ('get', op_get, 100, 0.5)):
        if args.quick:
            budget /= 3
        for name, ns in sorted(interleave(contenders, op, batch, budget, rng).items()):
            results.append({'workload': 'py_%s/100' % workload, 'contender': name,
                            'ns_per_op': ns})
            print('py_%s/100/%s: %.0f ns/op' % (workload, name, ns), flush=True)

    for c in contenders.values():
        c.close()
    versions = {
        'python': sys.version.split()[0],
        'diskcache': diskcache.__version__ if diskcache is not None else 'not importable',
        'bucketcache_python': bucketcache.__version__,
        'bucketcache_library': bucketcache.library_version(),
        'bucketcache_library_path': str(bucketcache.library_path),
    }
    with open(args.out, 'w') as f:
        json.dump({'round': args.round, 'results': results, 'versions': versions}, f, indent=1)


if __name__ == '__main__':
    main()
