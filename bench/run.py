"""Benchmark driver (docs/performance.md): runs R rounds of the C++ benchmarks
(bench/bench_cpp.cpp) and the Python ones (bench/bench_python.py), alternating them, then
writes results.md (medians of the rounds, ratios, targets), results.png and results.json.

Within a round every workload runs each of its contenders once, back to back, in an order
rotated by the round number; the C++ and Python programs alternate round by round. So
machine noise (a busy shared machine) hits every contender of a workload alike, and the
median over rounds discards the outliers.

Usage (scripts/bench.sh does this): /usr/bin/python3 bench/run.py --bench-bin BIN
  --library LIB --data-dir DIR --out-dir bench/out --results-dir bench [--rounds N] [--quick]
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SIZES = [100, 4096, 65536, 1048576]
FILE_OPS = ['set', 'get_disk', 'contains', 'erase']
TARGETS = {'set': 1.2, 'get_disk': 1.3}


def human_size(n):
    n = int(n)
    for unit, div in (('GiB', 1 << 30), ('MiB', 1 << 20), ('KiB', 1 << 10)):
        if n >= div and n % div == 0:
            return '%d %s' % (n // div, unit)
    return '%d B' % n


def fmt_ns(ns):
    if ns is None:
        return 'n/a'
    if ns >= 1e6:
        return '%.2f ms' % (ns / 1e6)
    if ns >= 1e4:
        return '%.1f µs' % (ns / 1e3)
    if ns >= 1e3:
        return '%.2f µs' % (ns / 1e3)
    return '%.0f ns' % ns


def fmt_ratio(r):
    return 'n/a' if r is None else '%.2fx' % r


def loadavg():
    with open('/proc/loadavg') as f:
        return [float(x) for x in f.read().split()[:3]]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ''


def machine_info(data_dir):
    cpu = 'unknown'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    mem_kib = 0
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal'):
                mem_kib = int(line.split()[1])
    fs = sh('findmnt -n -o FSTYPE,SOURCE,OPTIONS --target %s' % data_dir).split()
    return {
        'cpu': cpu,
        'cores': os.cpu_count(),
        'memory_gib': round(mem_kib / (1 << 20), 1),
        'kernel': platform.release(),
        'bench_dir': data_dir,
        'bench_dir_fs': fs[0] if fs else sh('stat -f -c %%T %s' % data_dir),
        'bench_dir_mount': ' '.join(fs[1:]) if len(fs) > 1 else '',
    }


def parse_cpp(path, prefix=''):
    """[(workload, contender, record)] from one Google Benchmark JSON file; `prefix` is put
    before every workload name (the tmpfs runs)."""
    with open(path) as f:
        data = json.load(f)
    out = []
    for b in data.get('benchmarks', []):
        if b.get('run_type') == 'aggregate':
            continue
        # Names are <workload>/<size or kind>/<contender>, then Google Benchmark's suffixes.
        parts = b.get('run_name', b['name']).split('/')
        workload, contender = prefix + '/'.join(parts[:2]), parts[2]
        error = b.get('error_message') if b.get('error_occurred') else None
        if contender == 'interleaved':  # one record per lane: counters <lane>_ns
            for k, val in b.items():
                if k.endswith('_ns') and isinstance(val, (int, float)):
                    out.append((workload, k[:-3], {'ns_per_op': val, 'cpu_ns_per_op': None,
                                                   'error': error}))
            continue
        scale = {'ns': 1, 'us': 1e3, 'ms': 1e6, 's': 1e9}[b.get('time_unit', 'ns')]
        ops = b.get('ops', 1) or 1
        rec = {
            'ns_per_op': b['real_time'] * scale / ops,
            'cpu_ns_per_op': b['cpu_time'] * scale / ops,
            'error': error,
        }
        for k in ('bytes_per_second', 'computes', 'compute_ms', 'removed', 'ops'):
            if k in b:
                rec[k] = b[k]
        out.append((workload, contender, rec))
    return out, data.get('context', {})


def median_of(rounds, key='ns_per_op'):
    vals = [r[key] for r in rounds if r.get(key) is not None and not r.get('error')]
    return statistics.median(vals) if vals else None


def spread_of(rounds, key='ns_per_op'):
    vals = [r[key] for r in rounds if r.get(key) is not None and not r.get('error')]
    if len(vals) < 2:
        return None
    return (max(vals) - min(vals)) / statistics.median(vals)


def run(cmd, log_path, env=None):
    t0 = time.time()
    with open(log_path, 'w') as log:
        p = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if p.returncode != 0:
        with open(log_path) as f:
            sys.stderr.write(f.read()[-4000:])
        raise SystemExit('bench: %s failed (exit %d), log %s' % (cmd[0], p.returncode, log_path))
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--render', metavar='RESULTS_JSON',
                    help='only write results.md and results.png again from a results.json')
    ap.add_argument('--bench-bin')
    ap.add_argument('--library')
    ap.add_argument('--build-dir', default='build-bench')
    ap.add_argument('--data-dir')
    ap.add_argument('--out-dir', default=os.path.join(HERE, 'out'))
    ap.add_argument('--results-dir', default=HERE)
    ap.add_argument('--rounds', type=int)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--tmpfs-dir', default='/dev/shm',
                    help='also run the file operations here (if it is a tmpfs; "" = no)')
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            data = json.load(f)
        out = os.path.dirname(os.path.abspath(args.render))
        write_markdown(os.path.join(out, 'results.md'), data['meta'], data['summary'])
        write_chart(os.path.join(out, 'results.png'), data['summary'], data['meta'])
        return
    if not (args.bench_bin and args.library and args.data_dir):
        ap.error('--bench-bin, --library and --data-dir are required')

    rounds = args.rounds or (3 if args.quick else 5)
    prune_entries = 20000 if args.quick else 100000
    os.makedirs(args.out_dir, exist_ok=True)
    os.makedirs(args.results_dir, exist_ok=True)
    for name in os.listdir(args.out_dir):
        if re.match(r'(cpp|cpp-tmpfs|py|rss)-r\d+\.(json|log)$', name):
            os.remove(os.path.join(args.out_dir, name))

    tmpfs = None
    if args.tmpfs_dir and os.path.isdir(args.tmpfs_dir) and \
            sh('findmnt -n -o FSTYPE --target %s' % args.tmpfs_dir).split()[:1] == ['tmpfs']:
        tmpfs = os.path.join(args.tmpfs_dir, 'bucketcache-bench-%d' % os.getpid())

    env = dict(os.environ)
    env['BUCKETCACHE_LIBRARY'] = os.path.abspath(args.library)
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    env.pop('BUCKETCACHE_LOG', None)

    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.time()
    loads = [('start', loadavg())]
    results = {}  # (workload, contender) -> [record per round]
    context = {}
    py_versions = {}
    rss = []
    print('bench: %d rounds%s, bucket data in %s' % (rounds, ' (quick)' if args.quick else '',
                                                     args.data_dir), flush=True)
    for r in range(rounds):
        cpp_json = os.path.join(args.out_dir, 'cpp-r%d.json' % r)
        cmd = [args.bench_bin, '--data-dir=' + os.path.join(args.data_dir, 'cpp'),
               '--round=%d' % r, '--prune-entries=%d' % prune_entries,
               '--benchmark_out=' + cpp_json, '--benchmark_out_format=json']
        if args.quick:
            cmd.append('--quick')
        t_cpp = run(cmd, os.path.join(args.out_dir, 'cpp-r%d.log' % r), env)
        parsed, ctx = parse_cpp(cpp_json)
        context = ctx or context
        for workload, contender, rec in parsed:
            results.setdefault((workload, contender), []).append(rec)

        # The file operations again on tmpfs: no disk, no block allocator - what remains is
        # the system calls' own cost and ours.
        t_tmpfs = 0
        if tmpfs:
            tjson = os.path.join(args.out_dir, 'cpp-tmpfs-r%d.json' % r)
            cmd = [args.bench_bin, '--data-dir=' + tmpfs, '--round=%d' % r,
                   '--benchmark_filter=^(set|set_overwrite|get_disk|contains|erase)/',
                   '--benchmark_out=' + tjson, '--benchmark_out_format=json']
            if args.quick:
                cmd.append('--quick')
            try:
                t_tmpfs = run(cmd, os.path.join(args.out_dir, 'cpp-tmpfs-r%d.log' % r), env)
            finally:
                shutil.rmtree(tmpfs, ignore_errors=True)
            parsed, _ = parse_cpp(tjson, prefix='tmpfs:')
            for workload, contender, rec in parsed:
                results.setdefault((workload, contender), []).append(rec)

        py_json = os.path.join(args.out_dir, 'py-r%d.json' % r)
        cmd = ['/usr/bin/python3', os.path.join(HERE, 'bench_python.py'),
               '--data-dir', os.path.join(args.data_dir, 'py'), '--round', str(r),
               '--out', py_json] + (['--quick'] if args.quick else [])
        os.makedirs(os.path.join(args.data_dir, 'py'), exist_ok=True)
        t_py = run(cmd, os.path.join(args.out_dir, 'py-r%d.log' % r), env)
        with open(py_json) as f:
            py = json.load(f)
        py_versions = py['versions']
        for rec in py['results']:
            results.setdefault((rec['workload'], rec['contender']), []).append(
                {'ns_per_op': rec['ns_per_op'], 'cpu_ns_per_op': None})

        # Peak memory of hashing a generated 1 GiB key, in a process of its own. The
        # in-memory DefaultKeyMaker, for contrast, once (it needs ~2 GiB).
        rss_json = os.path.join(args.out_dir, 'rss-r%d.json' % r)
        cmd = [args.bench_bin, '--rss', '--rss-out=' + rss_json]
        if r == 0 and not args.quick:
            cmd.append('--rss-default')
        t_rss = run(cmd, os.path.join(args.out_dir, 'rss-r%d.log' % r), env)
        with open(rss_json) as f:
            rss.append(json.load(f))

        loads.append(('round %d' % (r + 1), loadavg()))
        print('bench: round %d/%d done (C++ %.0f s, C++ on tmpfs %.0f s, Python %.0f s, '
              '1 GiB key %.0f s), load average %.2f' % (r + 1, rounds, t_cpp, t_tmpfs, t_py,
                                                        t_rss, loads[-1][1][0]), flush=True)

    elapsed = time.time() - t_start
    versions = {
        'compiler': context.get('compiler', '?'),
        'bucketcache': context.get('bucketcache_version', '?'),
        'sqlite': context.get('sqlite_version', '?'),
        'openssl': context.get('openssl_version', '?'),
        'zlib': context.get('zlib_version', '?'),
        'google_benchmark': sh("dpkg-query -W -f='${Version}' libbenchmark-dev") or '?',
        'python': py_versions.get('python', '?'),
        'diskcache': py_versions.get('diskcache', '?'),
        'matplotlib': sh('/usr/bin/python3 -c "import matplotlib; print(matplotlib.__version__)"'),
        'git': sh('git -C %s describe --always --dirty' % ROOT) or '?',
    }
    machine = machine_info(args.data_dir)
    summary = summarize(results, rss)
    meta = {
        'date_utc': started.strftime('%Y-%m-%d %H:%M UTC'),
        'mode': 'quick' if args.quick else 'full',
        'rounds': rounds,
        'elapsed_s': round(elapsed),
        'prune_entries': prune_entries,
        'loads': loads,
        'machine': machine,
        'versions': versions,
    }
    with open(os.path.join(args.results_dir, 'results.json'), 'w') as f:
        json.dump({'meta': meta, 'summary': summary,
                   'rounds': {'%s/%s' % k: v for k, v in sorted(results.items())},
                   'rss': rss}, f, indent=1, sort_keys=True)
    write_markdown(os.path.join(args.results_dir, 'results.md'), meta, summary)
    png = os.path.join(args.results_dir, 'results.png')
    write_chart(png, summary, meta)
    print('bench: wrote %s/results.md, results.png, results.json in %.0f s' %
          (args.results_dir, elapsed), flush=True)


def summarize(results, rss):
    med = {k: median_of(v) for k, v in results.items()}
    spread = {k: spread_of(v) for k, v in results.items()}
    errors = sorted({'%s/%s: %s' % (k[0], k[1], r['error'])
                     for k, v in results.items() for r in v if r.get('error')})

    def m(w, c):
        return med.get((w, c))

    def ratio(w, c, base='raw'):
        """Median over rounds of the per-round ratio c/base: both were measured in the
        same round, interleaved, so each ratio is a paired comparison."""
        a_list, b_list = results.get((w, c), []), results.get((w, base), [])
        rs = [a['ns_per_op'] / b['ns_per_op'] for a, b in zip(a_list, b_list)
              if not a.get('error') and not b.get('error') and b['ns_per_op']]
        return statistics.median(rs) if rs else None

    def file_op_rows(prefix):
        rows = []
        for op in FILE_OPS + ['set_overwrite']:
            for size in SIZES:
                w = '%s%s/%d' % (prefix, op, size)
                if not any(k[0] == w for k in results):
                    continue
                rows.append(file_op_row(w, op, size))
        return rows

    def file_op_row(w, op, size):
        row = {'op': op, 'size': size}
        for c in ('raw', 'raw_c', 'cpp', 'c', 'sqlite'):
            row[c] = m(w, c)
            row[c + '_spread'] = spread.get((w, c))
        # Each against its raw twin in the same directories (bench_cpp.cpp, dir_for).
        row['cpp_ratio'] = ratio(w, 'cpp', 'raw')
        row['c_ratio'] = ratio(w, 'c', 'raw_c')
        row['sqlite_ratio'] = ratio(w, 'sqlite', 'raw')
        if (w, 'raw_fstat') in results:  # open+fstat+read+close, issue 12's small get
            row['raw_fstat'] = m(w, 'raw_fstat')
            row['raw_c_fstat'] = m(w, 'raw_c_fstat')
            row['cpp_fstat_ratio'] = ratio(w, 'cpp', 'raw_fstat')
            row['c_fstat_ratio'] = ratio(w, 'c', 'raw_c_fstat')
        if (w, 'cpp_into') in results:  # C++ try_get_into a reused string
            row['cpp_into'] = m(w, 'cpp_into')
            row['cpp_into_ratio'] = ratio(w, 'cpp_into', 'raw')
            if (w, 'raw_fstat') in results:
                row['cpp_into_fstat_ratio'] = ratio(w, 'cpp_into', 'raw_fstat')
        if (w, 'raw_xchg') in results:  # RENAME_EXCHANGE+unlink against rename-over
            row['raw_xchg'] = m(w, 'raw_xchg')
            row['raw_xchg_ratio'] = ratio(w, 'raw_xchg', 'raw_c')
        return row

    file_ops = file_op_rows('')
    file_ops_tmpfs = file_op_rows('tmpfs:')

    new_keys = []
    for op in ('set_fresh', 'set_new'):
        w = '%s/100' % op
        if not any(k[0] == w for k in results):
            continue
        row = {'op': op, 'size': 100}
        for c in ('raw_flat', 'raw', 'cpp', 'c'):
            row[c] = m(w, c)
            row[c + '_spread'] = spread.get((w, c))
        for c in ('cpp', 'c'):
            row[c + '_flat_ratio'] = ratio(w, c, 'raw_flat')
            row[c + '_ratio'] = ratio(w, c, 'raw')
        row['raw_flat_ratio'] = ratio(w, 'raw', 'raw_flat')
        new_keys.append(row)

    memory = []
    for op in ('get_memory', 'memo_hit'):
        for size in SIZES:
            w = '%s/%d' % (op, size)
            memory.append({'op': op, 'size': size, 'cpp': m(w, 'cpp'), 'c': m(w, 'c'),
                           'copy': m(w, 'copy')})

    hashing = []
    for size in (100, 4096, 65536, 1 << 20, 64 << 20):
        row = {'size': size}
        for c in ('sha256', 'raw_keymaker', 'default_keymaker', 'streaming_keymaker'):
            ns = m('hash/%d' % size, c)
            row[c] = size / ns if ns else None  # bytes per ns = GB/s
        hashing.append(row)

    prune = {}
    for (w, c), v in results.items():
        if w.startswith('prune/'):
            n = int(w.split('/')[1])
            total_ns = [r['ns_per_op'] * r.get('ops', n) for r in v if not r.get('error')]
            if total_ns:
                t = statistics.median(total_ns)
                prune[c] = {'entries': n, 'seconds': t / 1e9, 'entries_per_s': n / (t / 1e9)}
    rs = [a['ns_per_op'] / b['ns_per_op'] for (w, c), v in results.items()
          if w.startswith('prune/') and c == 'cpp'
          for a, b in zip(v, results.get((w, 'raw'), []))
          if not a.get('error') and not b.get('error') and b['ns_per_op']]
    if rs and 'cpp' in prune:
        prune['cpp']['ratio'] = statistics.median(rs)

    memo = {}
    for kind in ('threads', 'processes'):
        v = results.get(('memo_single_flight/' + kind, 'cpp'), [])
        if v:
            memo[kind] = {'total_ms': median_of(v) / 1e6,
                          'compute_ms': v[0].get('compute_ms'),
                          'computes': sorted({int(r.get('computes', -1)) for r in v}),
                          'spread': spread_of(v)}

    python = {}
    PY_CONTENDERS = ('bucketcache', 'bucketcache_disk', 'capi', 'capi_disk', 'diskcache')
    for op in ('set', 'set_new', 'get'):
        w = 'py_%s/100' % op
        if not any(k[0] == w for k in results):
            continue
        python[op] = {c: m(w, c) for c in PY_CONTENDERS}
        python[op]['ratio'] = ratio(w, 'bucketcache', 'diskcache')
        python[op]['ratio_disk'] = ratio(w, 'bucketcache_disk', 'diskcache')
        # The binding over its own library calls (capi: the calls alone, through ctypes).
        python[op]['over_capi'] = ratio(w, 'bucketcache', 'capi')
        python[op]['over_capi_disk'] = ratio(w, 'bucketcache_disk', 'capi_disk')

    rss_summary = {}
    for name in ('streaming_keymaker', 'default_keymaker'):
        runs = [x[name] for x in rss if name in x]
        if runs:
            key_bytes = rss[0]['key_bytes']
            secs = statistics.median(x['seconds'] for x in runs)
            rss_summary[name] = {
                'key_bytes': key_bytes,
                'seconds': secs,
                'gb_per_s': key_bytes / secs / 1e9,
                'extra_kib': max(x['extra_kib'] for x in runs),
                'runs': len(runs),
            }

    summary = {'new_keys': new_keys, 'file_ops': file_ops, 'file_ops_tmpfs': file_ops_tmpfs, 'memory': memory, 'hashing': hashing, 'prune': prune,
               'memo': memo, 'python': python, 'rss': rss_summary, 'errors': errors,
               'noisy': sorted('%s/%s %.0f%%' % (k[0], k[1], 100 * s)
                               for k, s in spread.items() if s is not None and s > 0.5)}
    summary['targets'] = evaluate_targets(summary)
    return summary


def evaluate_targets(s):
    """The targets of issue 12, each a ratio against a baseline measured in the same run
    (or an absolute figure where there is no baseline)."""
    t = []

    def row(name, figure, ok):
        t.append({'target': name, 'figure': figure, 'met': ok})

    def verdict(pairs, limit):
        vals = [(n, x) for n, x in pairs if x is not None]
        if not vals:
            return 'n/a'
        missed = [n for n, x in vals if x > limit]
        return 'met' if not missed else 'missed (%s)' % ', '.join(missed)

    nk = {r['op']: r for r in s.get('new_keys', [])}
    f = nk.get('set_fresh')
    if f:
        row('set into a fresh bucket (new keys), <= 1.2x raw flat-directory create+write+rename',
            'raw flat %s, raw sharded %s; C++ %s (%s), C %s (%s); vs sharded: C++ %s, C %s' % (
                fmt_ns(f['raw_flat']), fmt_ns(f['raw']), fmt_ns(f['cpp']),
                fmt_ratio(f['cpp_flat_ratio']), fmt_ns(f['c']), fmt_ratio(f['c_flat_ratio']),
                fmt_ratio(f['cpp_ratio']), fmt_ratio(f['c_ratio'])),
            verdict([('C++', f['cpp_flat_ratio']), ('C', f['c_flat_ratio'])], 1.2))
    n = nk.get('set_new')
    if n:
        row('set of new keys into a warm bucket, <= 1.2x raw flat directory',
            'raw flat %s, raw sharded %s; C++ %s (%s), C %s (%s)' % (
                fmt_ns(n['raw_flat']), fmt_ns(n['raw']), fmt_ns(n['cpp']),
                fmt_ratio(n['cpp_flat_ratio']), fmt_ns(n['c']), fmt_ratio(n['c_flat_ratio'])),
            verdict([('C++', n['cpp_flat_ratio']), ('C', n['c_flat_ratio'])], 1.2))

    ops = {(r['op'], r['size']): r for r in s['file_ops']}
    for op, size, limit, label in (
            ('set_overwrite', 100, 1.1, 'set overwriting an existing key, <= 1.1x raw rename-over'),
            ('get_disk', 100, 1.2, 'get from disk 100 B, <= 1.2x open+fstat+read+close'),
            ('get_disk', 1048576, 1.5, 'get from disk 1 MiB, <= 1.5x open+read+close')):
        r = ops.get((op, size))
        if r and op == 'get_disk' and r.get('cpp_fstat_ratio'):
            into = r.get('cpp_into_fstat_ratio')
            row(label, 'raw open+fstat+read+close %s; C++ %s (%s), C++ try_get_into %s (%s), '
                'C %s (%s); against open+read+close (%s): C++ %s, C %s' % (
                    fmt_ns(r['raw_fstat']), fmt_ns(r['cpp']), fmt_ratio(r['cpp_fstat_ratio']),
                    fmt_ns(r.get('cpp_into')), fmt_ratio(into),
                    fmt_ns(r['c']), fmt_ratio(r['c_fstat_ratio']), fmt_ns(r['raw']),
                    fmt_ratio(r['cpp_ratio']), fmt_ratio(r['c_ratio'])),
                verdict([('C++', r['cpp_fstat_ratio']), ('C++ try_get_into', into),
                         ('C', r['c_fstat_ratio'])], limit))
        elif r and op == 'get_disk':
            into = r.get('cpp_into_ratio')
            row(label, 'raw %s; C++ %s (%s), C++ try_get_into %s (%s), C %s (%s)' % (
                fmt_ns(r['raw']), fmt_ns(r['cpp']), fmt_ratio(r['cpp_ratio']),
                fmt_ns(r.get('cpp_into')), fmt_ratio(into), fmt_ns(r['c']),
                fmt_ratio(r['c_ratio'])),
                verdict([('C++', r['cpp_ratio']), ('C++ try_get_into', into),
                         ('C', r['c_ratio'])], limit))
        elif r:
            row(label, 'raw %s; C++ %s (%s), C %s (%s)' % (
                fmt_ns(r['raw']), fmt_ns(r['cpp']), fmt_ratio(r['cpp_ratio']), fmt_ns(r['c']),
                fmt_ratio(r['c_ratio'])),
                verdict([('C++', r['cpp_ratio']), ('C', r['c_ratio'])], limit))

    mem = {(r['op'], r['size']): r for r in s['memory']}
    for op, limit, label in (('get_memory', 150, 'memory hit 100 B, C and C++ (key hashing '
                                              'included), <= 150 ns'),
                             ('memo_hit', 200, 'memoized hit 100 B (bc_get_or_compute / '
                                               'memoize()), <= 200 ns')):
        g = mem.get((op, 100), {})
        row(label, 'C++ %s, C %s' % (fmt_ns(g.get('cpp')), fmt_ns(g.get('c'))),
            verdict([('C++', g.get('cpp') and g['cpp'] / limit),
                     ('C', g.get('c') and g['c'] / limit)], 1.0))

    p = s['prune'].get('cpp')
    if p:
        ok = p['entries_per_s'] >= 300000 and (p.get('ratio') or 99) <= 1.2
        row('prune %d entries, 10%% expired: >= 300k entries/s and <= 1.2x the raw walk' %
            p['entries'], '%.0f entries/s (%.2f s), %s the raw walk' % (
                p['entries_per_s'], p['seconds'], fmt_ratio(p.get('ratio'))),
            'met' if ok else 'missed')

    py = s['python']
    if py.get('get', {}).get('diskcache'):
        g, st = py['get'], py.get('set', {})
        parts = [('disk get <= 0.8x', g.get('ratio_disk'), 0.8),
                 ('set <= 0.5x', st.get('ratio'), 0.5),
                 ('memory get <= 0.3x', g.get('ratio'), 0.3)]
        row("Python binding vs python-diskcache (disk get <= 0.8x, set <= 0.5x, memory get "
            "<= 0.3x diskcache's)",
            'disk get %s (%s vs %s), set %s (%s vs %s), memory get %s (%s)' % (
                fmt_ratio(g.get('ratio_disk')), fmt_ns(g.get('bucketcache_disk')),
                fmt_ns(g.get('diskcache')), fmt_ratio(st.get('ratio')),
                fmt_ns(st.get('bucketcache')), fmt_ns(st.get('diskcache')),
                fmt_ratio(g.get('ratio')), fmt_ns(g.get('bucketcache'))),
            verdict([(n, x and x / lim) for n, x, lim in parts], 1.0))
    elif py.get('get'):
        row('Python binding vs python-diskcache', 'diskcache not importable', 'n/a')
    return t


def write_markdown(path, meta, s):
    m, v = meta['machine'], meta['versions']
    L = []
    add = L.append
    add('# Benchmark results')
    add('')
    add('Written by `bash scripts/bench.sh` (%s mode) on %s, in %d s. Every figure is the '
        'median of %d rounds. Within a round the contenders of a store workload take turns '
        'in slices of a few operations (a new random order every slice), the other '
        'workloads run their contenders back to back in an order rotated each round, and '
        'the C++ and Python programs alternate. What each figure measures and what limits '
        'it: [docs/performance.md](../docs/performance.md). Every round: `bench/out/` (not '
        'in git); every round\'s figures and the medians: `bench/results.json`.' % (
            meta['mode'], meta['date_utc'], meta['elapsed_s'], meta['rounds']))
    add('')
    add('![results](results.png)')
    add('')
    loads = meta['loads']
    max_load = max(l[1][0] for l in loads)
    add('## Machine')
    add('')
    add('| | |')
    add('|---|---|')
    add('| CPU | %s, %d cores |' % (m['cpu'], m['cores']))
    add('| memory | %.1f GiB |' % m['memory_gib'])
    add('| kernel | Linux %s |' % m['kernel'])
    add('| file system of the bench dir | %s (%s) |' % (m['bench_dir_fs'], m['bench_dir_mount']))
    add('| load average (1 min) | %s |' % ', '.join('%s %.2f' % (n, l[0]) for n, l in loads))
    add('')
    # The benchmark keeps about one core busy itself (one C++ or Python program at a time,
    # plus this driver), so its own load average approaches 1.2-1.3 on any machine. Others'
    # work shows as a load at the start above ~1 or a load above the number of cores.
    start_load = loads[0][1][0]
    if start_load > 1 or max_load > m['cores']:
        add('**The run was on a shared, busy machine**: the 1-minute load average was %.2f at '
            'the start and reached %.2f on %d cores (other work ran at the same time). '
            'Medians over alternating rounds damp this, but sub-microsecond figures and the '
            'file-system figures carry more noise than on an idle machine.'
            % (start_load, max_load, m['cores']))
    else:
        add('**A quiet machine**: the 1-minute load average was %.2f at the start and at most '
            '%.2f during the run on %d cores, which is the benchmark\'s own programs (about one '
            'core busy). Medians over alternating rounds damp what noise remains; '
            'sub-microsecond figures carry the most.' % (start_load, max_load, m['cores']))
    add('')
    add('## Versions')
    add('')
    add('| | |')
    add('|---|---|')
    for k, name in (('bucketcache', 'bucketcache (library)'), ('git', 'source (git describe)'),
                    ('compiler', 'compiler'), ('sqlite', 'SQLite'), ('openssl', 'OpenSSL'),
                    ('zlib', 'zlib'), ('google_benchmark', 'Google Benchmark'),
                    ('python', 'Python (Debian)'), ('diskcache', 'python-diskcache'),
                    ('matplotlib', 'matplotlib')):
        add('| %s | %s |' % (name, v.get(k, '?')))
    add('')
    add('## Targets')
    add('')
    add('| target | figure | result |')
    add('|---|---|---|')
    for t in s['targets']:
        add('| %s | %s | %s |' % (t['target'], t['figure'],
                                  'met' if t['met'] == 'met' else '**%s**' % t['met']))
    add('')
    if s.get('new_keys'):
        add('## New keys: a fresh bucket and a warm one')
        add('')
        add('Every operation stores a key never stored before (100 B values). set_fresh: each '
            'contender starts a new empty bucket every 256 keys (not timed), so most writes '
            'create their shard directory; set_new: new keys into the populated bucket of the '
            'file operations below (its shard directories exist). raw flat: temp+write+rename '
            'in ONE flat directory, what a user writing their own cache would do; raw sharded: '
            'the same on the library\'s paths (`<root>/<2 hex>/<digest>`), mkdir of a missing '
            'shard included. No fsync anywhere.')
        add('')
        add('| op | raw flat | raw sharded | C++ | C | sharded/flat | C++/flat | C/flat | '
            'C++/sharded | C/sharded |')
        add('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
        for r in s['new_keys']:
            add('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                r['op'], fmt_ns(r['raw_flat']), fmt_ns(r['raw']), fmt_ns(r['cpp']),
                fmt_ns(r['c']), fmt_ratio(r['raw_flat_ratio']), fmt_ratio(r['cpp_flat_ratio']),
                fmt_ratio(r['c_flat_ratio']), fmt_ratio(r['cpp_ratio']), fmt_ratio(r['c_ratio'])))
        add('')
    add('## File operations')
    add('')
    add('Time per operation (real time; median of the rounds). Ratios: median of the '
        'per-round ratios (the contenders of a workload run interleaved in slices of a few '
        'operations, so each round\'s ratio is a paired comparison). raw: the same file work '
        'as plain system calls, on the same sharded paths (set: open O_CREAT|O_EXCL temp in '
        'the directory, write, close, rename, **no fsync**; get: open, read, close into a '
        'reused buffer; contains: open, pread 128 bytes, close; erase: unlink). set creates '
        'a new entry (the key\'s file is removed first, not timed); set_overwrite replaces '
        'an existing one. C++: `Bucket<RawBackend>`, C: the C API, both with the memory layer '
        'off. Raw and C++ files share directories, and so do C\'s and a second raw twin '
        '(raw C-dirs): each ratio compares operations on the same directories (on this '
        'machine\'s ext4 the cost of creating a file depends on the recent churn in its '
        'directory\'s block group; see docs/performance.md). SQLite: `(key BLOB PRIMARY KEY, '
        'value BLOB)`, WAL, synchronous=OFF (no fsync either), prepared statements, one '
        'transaction per write. Working set: 1000 keys (100 B, 4 KiB), 256 (64 KiB), 64 '
        '(1 MiB), all in the page cache.')
    add('')
    add('| op | value | raw | C++ | raw (C dirs) | C | SQLite | C++/raw | C/raw | SQLite/raw |')
    add('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for r in s['file_ops']:
        add('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            r['op'], human_size(r['size']), fmt_ns(r['raw']), fmt_ns(r['cpp']),
            fmt_ns(r['raw_c']), fmt_ns(r['c']), fmt_ns(r['sqlite']), fmt_ratio(r['cpp_ratio']),
            fmt_ratio(r['c_ratio']), fmt_ratio(r['sqlite_ratio'])))

    fs = [r for r in s['file_ops'] if r.get('raw_fstat')]
    if fs:
        add('')
        add('get from disk against open+**fstat**+read+close (issue 12\'s baseline of a small '
            'get; raw and raw C-dirs read with an fstat first): %s.' % '; '.join(
                '%s raw %s, C++ %s; raw C-dirs %s, C %s' % (
                    human_size(r['size']), fmt_ns(r['raw_fstat']), fmt_ratio(r['cpp_fstat_ratio']),
                    fmt_ns(r['raw_c_fstat']), fmt_ratio(r['c_fstat_ratio'])) for r in fs))
    gi = [r for r in s['file_ops'] if r.get('cpp_into')]
    if gi:
        add('')
        add('get from disk in C++ into a reused string (`try_get_into`, as raw reads into a '
            'reused buffer; `get()` returns a new, zero-filled `std::string`): %s.' % '; '.join(
                '%s %s (%s)' % (human_size(r['size']), fmt_ns(r['cpp_into']),
                                fmt_ratio(r['cpp_into_ratio'])) for r in gi))
    xs = [r for r in s['file_ops'] if r.get('raw_xchg')]
    if xs:
        add('')
        add('Overwrite by RENAME_EXCHANGE of the temp file with the old one, then unlink of '
            'the old one (raw, same directories as raw C-dirs): %s. The library renames over '
            '(docs/performance.md, "Overwrite").' % '; '.join(
                '%s %s (%s rename-over)' % (human_size(r['size']), fmt_ns(r['raw_xchg']),
                                           fmt_ratio(r['raw_xchg_ratio'])) for r in xs))
    if s.get('file_ops_tmpfs'):
        add('')
        add('### The same on tmpfs')
        add('')
        add('The file operations again with the bucket data on tmpfs (`/dev/shm`): no disk and '
            'no block or inode allocator, so the ratios show the system calls\' own cost '
            'against ours (hashing, header, checksums, the extra calls).')
        add('')
        add('| op | value | raw | C++ | raw (C dirs) | C | SQLite | C++/raw | C/raw | '
            'SQLite/raw |')
        add('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
        for r in s['file_ops_tmpfs']:
            add('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                r['op'], human_size(r['size']), fmt_ns(r['raw']), fmt_ns(r['cpp']),
                fmt_ns(r['raw_c']), fmt_ns(r['c']), fmt_ns(r['sqlite']),
                fmt_ratio(r['cpp_ratio']), fmt_ratio(r['c_ratio']), fmt_ratio(r['sqlite_ratio'])))
    add('')
    add('## Memory layer and memoization')
    add('')
    add('Memory layer on (256 MiB, holds the working set); key hashing included (C++: '
        '`DefaultKeyMaker` on a `std::string` key; C: raw key bytes). memo_hit: C++ '
        '`memoize()` of a function of one `std::string`, C `bc_get_or_compute()`. copy: '
        'copying the value into a new `std::string`, the least any hit that hands out an '
        'owned value must do.')
    add('')
    add('| op | value | C++ | C | copy |')
    add('|---|---:|---:|---:|---:|')
    for r in s['memory']:
        add('| %s | %s | %s | %s | %s |' % (r['op'], human_size(r['size']), fmt_ns(r['cpp']),
                                           fmt_ns(r['c']),
                                           fmt_ns(r['copy']) if r['copy'] else ''))
    add('')
    add('## Key hashing')
    add('')
    add('GB/s of key bytes (ASCII letters, a `std::string` key). sha256: SHA-256 of the bytes '
        'alone (the limit); raw: `RawKeyMaker`; default: `DefaultKeyMaker` (canonical JSON '
        'text built in memory, then hashed); streaming: `StreamingDefaultKeyMaker` (canonical '
        'bytes streamed into the hash).')
    add('')
    add('| key | sha256 | raw | default | streaming |')
    add('|---:|---:|---:|---:|---:|')
    for r in s['hashing']:
        add('| %s | %s |' % (human_size(r['size']), ' | '.join(
            'n/a' if r[c] is None else '%.2f' % r[c]
            for c in ('sha256', 'raw_keymaker', 'default_keymaker', 'streaming_keymaker'))))
    add('')
    if s['rss']:
        add('Hashing a generated key of 1 GiB (one JSON string produced in 64 KiB pieces), in '
            'a process of its own; extra memory = peak RSS (VmHWM, reset through '
            '/proc/self/clear_refs) minus RSS before:')
        add('')
        add('| keymaker | time | GB/s | extra peak memory | runs |')
        add('|---|---:|---:|---:|---:|')
        for name, x in sorted(s['rss'].items(), reverse=True):
            add('| %s | %.2f s | %.2f | %s | %d |' % (
                name.replace('_', ' '), x['seconds'], x['gb_per_s'],
                ('%d KiB' % x['extra_kib']) if x['extra_kib'] < 10240
                else '%.0f MiB' % (x['extra_kib'] / 1024), x['runs']))
        add('')
    add('## prune_directory')
    add('')
    if s['prune']:
        p = s['prune']
        add('%d entries of 100 B, 10%% expired (deleted and re-created before each run); the '
            'dentry and inode caches are warm.' % next(iter(p.values()))['entries'])
        add('')
        add('| | time | entries scanned per second |')
        add('|---|---:|---:|')
        for c, name in (('cpp', 'prune_directory()'),
                        ('raw', 'raw walk: openat/getdents, open+pread 128+close, unlink')):
            if c in p:
                add('| %s | %.3f s | %.0f |' % (name, p[c]['seconds'], p[c]['entries_per_s']))
        add('')
        if p.get('cpp', {}).get('ratio'):
            add('prune_directory() / raw walk: %s (median of the per-round ratios).' %
                fmt_ratio(p['cpp']['ratio']))
            add('')
    add('## Single-flight memoization')
    add('')
    if s['memo']:
        add('Four callers of one memoized key at once; the function sleeps %d ms (it computes '
            'once, the others wait on the key\'s lock file and read the stored entry). Total: '
            'from the start signal until the last caller has its value.' %
            (next(iter(s['memo'].values()))['compute_ms'] or 0))
        add('')
        add('| callers | total | over the compute time | computations |')
        add('|---|---:|---:|---:|')
        for kind, x in s['memo'].items():
            add('| 4 %s | %.1f ms | %.1f ms | %s |' % (
                kind, x['total_ms'], x['total_ms'] - (x['compute_ms'] or 0),
                ', '.join(str(c) for c in x['computes'])))
        add('')
    add('## Python')
    add('')
    add('Per operation, 100-byte `bytes` values, `str` keys (1000 of them; set replaces an '
        'existing entry, set_new stores a key never stored before). bucketcache: `Bucket(dir)` '
        '(PickleBackend, memory layer on); bucketcache_disk: `Bucket(dir, memory_limit=0)`; '
        'capi / capi_disk: the same buckets\' library calls made directly through ctypes with '
        'the key and pickled value bytes prepared in advance (get: `bc_get_into_buffer` and '
        '`pickle.loads`), the floor of the binding\'s cost; diskcache: `diskcache.Cache(dir)`. '
        'Ratio: median of the per-round ratios.')
    add('')
    add('| op | bucketcache | bucketcache_disk | capi | capi_disk | diskcache | '
        'bucketcache/diskcache | bucketcache_disk/diskcache | bucketcache/capi | '
        'bucketcache_disk/capi_disk |')
    add('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for op, x in s['python'].items():
        add('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            op, fmt_ns(x['bucketcache']), fmt_ns(x['bucketcache_disk']), fmt_ns(x.get('capi')),
            fmt_ns(x.get('capi_disk')), fmt_ns(x['diskcache']), fmt_ratio(x['ratio']),
            fmt_ratio(x.get('ratio_disk')), fmt_ratio(x.get('over_capi')),
            fmt_ratio(x.get('over_capi_disk'))))
    if not s['python'].get('get', {}).get('diskcache'):
        add('')
        add('python-diskcache could not be imported: its rows are skipped (see the Python '
            'round\'s log in bench/out/).')
    add('')
    if s['noisy']:
        add('Figures whose rounds spread by more than 50%% of the median (max - min): %s.' %
            ', '.join(s['noisy']))
        add('')
    if s['errors']:
        add('Errors: ' + '; '.join(s['errors']))
        add('')
    with open(path, 'w') as f:
        f.write('\n'.join(L))


def write_chart(path, s, meta):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    colors = {'raw': '#555555', 'cpp': '#1f77b4', 'c': '#2ca02c', 'sqlite': '#ff7f0e',
              'cpp_memory_on': '#9ecae1'}
    labels = {'raw': 'raw syscalls', 'cpp': 'bucketcache C++', 'c': 'bucketcache C API',
              'sqlite': 'SQLite'}
    xl = [human_size(x) for x in SIZES]

    def bars(ax, op, title):
        rows = [r for r in s['file_ops'] if r['op'] == op]
        cs = ['raw', 'cpp', 'c', 'sqlite']
        w = 0.2
        for i, c in enumerate(cs):
            ys = [(r[c] or 0) / 1e3 for r in rows]
            ax.bar([j + (i - 1.5) * w for j in range(len(rows))], ys, w, label=labels[c],
                   color=colors[c])
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(xl)
        ax.set_yscale('log')
        ax.set_ylabel('µs per operation (log)')
        ax.set_title(title)
        ax.grid(axis='y', alpha=0.3, which='both')

    bars(axes[0][0], 'set', 'set (no fsync)')
    axes[0][0].legend(fontsize=8)
    bars(axes[0][1], 'get_disk', 'get from disk (memory layer off)')

    ax = axes[0][2]
    for op, style in (('set', 'o-'), ('get_disk', 's-'), ('contains', '^-'), ('erase', 'v-')):
        rows = [r for r in s['file_ops'] if r['op'] == op]
        ax.plot(xl, [r['cpp_ratio'] or float('nan') for r in rows], style, label=op + ' C++')
        ax.plot(xl, [r['c_ratio'] or float('nan') for r in rows], style, alpha=0.4,
                label=op + ' C')
    for op, style in (('set', 'o--'), ('get_disk', 's--')):
        rows = [r for r in s.get('file_ops_tmpfs', []) if r['op'] == op]
        if rows:
            ax.plot(xl, [r['cpp_ratio'] or float('nan') for r in rows], style, color='gray',
                    alpha=0.7, label=op + ' C++ on tmpfs')
    ax.axhline(1.2, color='red', ls='--', lw=0.8)
    ax.axhline(1.5, color='red', ls=':', lw=0.8)
    ax.text(3, 1.18, 'get 100 B target 1.2x', color='red', fontsize=7, ha='right', va='top')
    ax.text(3, 1.52, 'get 1 MiB target 1.5x', color='red', fontsize=7, ha='right',
            va='bottom')
    ax.set_ylim(0.8, None)
    ax.set_ylabel('time / raw system calls (same directories)')
    ax.set_title('overhead over the file system\'s limit')
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, which='both')

    ax = axes[1][0]
    for op, c, style in (('get_memory', 'cpp', 'o-'), ('get_memory', 'c', 'o--'),
                         ('memo_hit', 'cpp', 's-'), ('memo_hit', 'c', 's--'),
                         ('get_memory', 'copy', 'k:')):
        rows = [r for r in s['memory'] if r['op'] == op]
        ax.plot(xl, [r[c] or float('nan') for r in rows], style,
                label='value copy (floor)' if c == 'copy' else
                '%s %s' % (op, 'C++' if c == 'cpp' else 'C'))
    ax.axhline(150, color='red', ls='--', lw=0.8)
    ax.axhline(200, color='red', ls=':', lw=0.8)
    ax.set_yscale('log')
    ax.set_ylabel('ns per operation (log)')
    ax.set_title('memory layer hits (targets 150 / 200 ns at 100 B)')
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which='both')

    ax = axes[1][1]
    nk = s.get('new_keys', [])
    cs = [('raw_flat', 'raw, one flat directory', '#aaaaaa'),
          ('raw', 'raw, sharded paths', '#555555'), ('cpp', 'bucketcache C++', '#1f77b4'),
          ('c', 'bucketcache C API', '#2ca02c')]
    w = 0.2
    for i, (c, label, col) in enumerate(cs):
        ys = [(r[c] or 0) / 1e3 for r in nk]
        ax.bar([j + (i - 1.5) * w for j in range(len(nk))], ys, w, label=label, color=col)
    ax.set_xticks(range(len(nk)))
    ax.set_xticklabels(['%s (100 B)' % r['op'] for r in nk])
    ax.set_ylabel('µs per operation')
    ax.set_title('new keys: fresh bucket, warm bucket (target 1.2x flat)')
    ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)

    ax = axes[1][2]
    ops = list(s['python'])
    cs = [('bucketcache', '#1f77b4'), ('bucketcache_disk', '#9ecae1'), ('capi', '#2ca02c'),
          ('diskcache', '#ff7f0e')]
    w = 0.2
    for i, (c, col) in enumerate(cs):
        xs = [j + (i - 1.5) * w for j in range(len(ops))]
        ys = [(s['python'][op].get(c) or 0) / 1e3 for op in ops]
        ax.bar(xs, ys, w, label=c, color=col)
        for x, y in zip(xs, ys):
            ax.text(x, y, '%.1f' % y, ha='center', va='bottom', fontsize=7)
    ax.set_xticks(range(len(ops)))
    ax.set_xticklabels(['Python %s (100 B)' % op for op in ops])
    ax.set_yscale('log')
    ax.set_ylabel('µs per operation (log)')
    ax.set_title('Python: bucketcache binding vs diskcache')
    ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)

    max_load = max(l[1][0] for l in meta['loads'])
    fig.suptitle('bucketcache benchmarks — %s, %s mode, median of %d rounds; %s, %d cores, '
                 '%s; max load average %.1f' % (meta['date_utc'], meta['mode'], meta['rounds'],
                                                meta['machine']['cpu'],
                                                meta['machine']['cores'],
                                                meta['machine']['bench_dir_fs'], max_load),
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == '__main__':
    main()
