#!/usr/bin/env python3
"""The bindings' copies of the C API's constants equal bucketcache.h's.

Usage: bindings_constants_test.py <repo root>. Every BC_* constant a binding defines must
have the header's value (a binding may define a subset). Prints one line per mismatch and
exits 1; prints the counts checked and exits 0 otherwise.
"""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1])
header = (root / 'include/bucketcache/bucketcache.h').read_text()
want = {m.group(1): int(m.group(2))
        for m in re.finditer(r'^#define (BC_[A-Z0-9_]+) \(?(-?\d+)\)?', header, re.M)}

found = {}  # binding -> {name: value}

py = (root / 'bindings/python/bucketcache/_lib.py').read_text()
found['python'] = {m.group(1): int(m.group(2))
                   for m in re.finditer(r'^(BC_[A-Z0-9_]+) = (-?\d+)$', py, re.M)}
levels = re.search(r'^\((BC_LOG_[^)]*)\) = range\((\d+)\)', py, re.M | re.S)
if levels:
    names = [n.strip() for n in levels.group(1).replace('\n', ' ').split(',') if n.strip()]
    found['python'].update({n: i for i, n in enumerate(names)})

node_errors = (root / 'bindings/node/lib/errors.js').read_text()
found['node errors.js'] = {m.group(1): int(m.group(2))
                           for m in re.finditer(r'^\s+(BC_[A-Z0-9_]+): (-?\d+),', node_errors, re.M)}
native = (root / 'bindings/node/lib/native.js').read_text()
opt_block = re.search(r'const opt = Object\.freeze\(\{(.*?)\}\);', native, re.S)
found['node native.js'] = {'BC_OPT_' + m.group(1): int(m.group(2))
                           for m in re.finditer(r'(\w+): (\d+)', opt_block.group(1))}

bad = 0
for binding, consts in found.items():
    if not consts:
        print(f'{binding}: no constants found (parser out of date?)')
        bad += 1
    for name, value in sorted(consts.items()):
        if name not in want:
            print(f'{binding}: {name} is not in bucketcache.h')
            bad += 1
        elif want[name] != value:
            print(f'{binding}: {name} = {value}, bucketcache.h says {want[name]}')
            bad += 1
checked = sum(len(c) for c in found.values())
print(f'{checked} passed, {bad} failed')
sys.exit(1 if bad else 0)
