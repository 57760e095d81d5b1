# Generates the seed corpora committed under fuzz/corpus/: python3 fuzz/gen_corpus.py
import hashlib, json, os, struct, zlib
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, 'corpus')
golden = os.path.join(here, '..', 'tests', 'golden')
shared = os.path.join(here, '..', '..', 'shared', 'testdata', 'canonical-keys.json')
for t in ('entry', 'canonical_json', 'capi_program'):
    os.makedirs(os.path.join(root, t), exist_ok=True)
def w(target, name, data):
    with open(os.path.join(root, target, name), 'wb') as f: f.write(data)

# entry: mode byte + entry file
def digest(backend, km, key):
    return hashlib.sha256(b'bucketcache-key-v1\0' + backend + b'\0' + km + b'\0' + key).digest()
def entry(value, key=b'fuzz-key', backend=b'raw', km=b'raw', created=1700000000000000, expires=0, version=2, flags=0, store_key=True):
    # Format v2: header, key bytes, value bytes; payload CRC over key then value.
    kb = key if store_key else b''
    h = bytearray(128)
    h[0:8] = b'BKTCACHE'
    h[8:10] = struct.pack('<H', version); h[10:12] = struct.pack('<H', 128); h[12:16] = struct.pack('<I', flags)
    h[16:16+len(backend)] = backend; h[32:32+len(km)] = km
    h[48:56] = struct.pack('<q', created); h[56:64] = struct.pack('<q', expires)
    h[64:72] = struct.pack('<Q', len(value)); h[72:76] = struct.pack('<I', zlib.crc32(kb + value))
    h[76:80] = struct.pack('<I', len(kb))
    h[80:112] = digest(backend, km, key)
    h[124:128] = struct.pack('<I', zlib.crc32(bytes(h[0:124])))
    return bytes(h) + kb + value
w('entry', 'valid-hello', b'\x00' + entry(b'hello'))
w('entry', 'valid-empty', b'\x00' + entry(b''))
w('entry', 'valid-4k', b'\x00' + entry(bytes(range(256)) * 16))
w('entry', 'expired', b'\x00' + entry(b'old', expires=1))
w('entry', 'expires-2100-lifetime', bytes([0x40]) + entry(b'x', expires=4102444800000000))
w('entry', 'other-key-fixups', bytes([0x1f]) + entry(b'value', key=b'other'))
w('entry', 'json-backend', b'\x00' + entry(b'{"x":1}', backend=b'json', km=b'json'))
w('entry', 'version1', b'\x00' + entry(b'v', version=1))
w('entry', 'key-omitted', b'\x00' + entry(b'v', flags=2, store_key=False))
w('entry', 'explicit-lifetime', bytes([0x40]) + entry(b'v', flags=1))
w('entry', 'unknown-flag', b'\x00' + entry(b'v', flags=4))
w('entry', 'truncated-header', b'\x00' + entry(b'abc')[:100])
w('entry', 'trailing-byte-prune', bytes([0x20]) + entry(b'abc') + b'!')
w('entry', 'random-fix-all', bytes([0x3f]) + bytes(range(200)))
for g in sorted(os.listdir(golden)):
    w('entry', 'golden-' + g, b'\x00' + open(os.path.join(golden, g), 'rb').read())

# canonical_json: the shared vectors
d = json.load(open(shared))
for i, v in enumerate(d['valid']): w('canonical_json', 'valid-%02d' % i, v['input'].encode())
for i, v in enumerate(d['invalid']): w('canonical_json', 'invalid-%02d' % i, v['input'].encode())
for i, v in enumerate(d['invalid_hex']): w('canonical_json', 'invalid-hex-%02d' % i, bytes.fromhex(v['input_hex']))
w('canonical_json', 'deep', b'[' * 1030 + b']' * 1030)
w('canonical_json', 'numbers', b'[0,-0,1.0,1e21,1e-7,123456789012345678901234567890,-1.5e-300,1E400]')

# capi_program: opcode programs (see capi_program_fuzz.cpp: op = byte % 12)
SET, GET, DEL, CONTAINS, UNLOAD, SYNC, PRUNE, GOC, REOPEN, EXPIRY, CANON, NULLS = range(12)
progs = {
  'set-get-delete': [SET, 5, 1, GET, 5, DEL, 5, GET, 5, CONTAINS, 5],
  'json-keys-canonical': [REOPEN, 0x05, 0, SET, 5, 3, GET, 6, GET, 7, SET, 7, 2, GET, 8, CONTAINS, 9],
  'deferred': [REOPEN, 0x08, 0, SET, 1, 1, GET, 1, UNLOAD, 1, SYNC, GET, 1, DEL, 1, GET, 1],
  'lifetime-rule': [SET, 2, 1, REOPEN, 0x00, 1, GET, 2, SET, 3, 2, REOPEN, 0x00, 2, GET, 3, PRUNE, REOPEN, 0, 1, GET, 3],
  'get-or-compute': [GOC, 4, 1, GOC, 4, 2, GOC, 5, 0x81, GET, 5, EXPIRY, 4],
  'msgpack': [REOPEN, 0x02, 0, SET, 1, 2, SET, 2, 4, GET, 1, GET, 2, GOC, 3, 5],
  'canonical-and-nulls': [CANON, 5, ord('['), ord('1'), ord(','), ord('2'), ord(']'), NULLS, CANON, 2, ord('{'), ord('}')],
  'memory-checkfile': [REOPEN, 0x50, 1, SET, 1, 2, GET, 1, SET, 1, 3, GET, 1, PRUNE, DEL, 1],
  'raw-bytes-keys': [SET, 0xe5, 3, 0, ord('/'), ord('.'), 0xe1, 2, 1, 2, GET, 0xe5, 3, 0, ord('/'), ord('.')],
}
for name, p in progs.items(): w('capi_program', name, bytes(p))
