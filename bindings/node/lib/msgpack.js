'use strict';

// A small MessagePack codec (https://github.com/msgpack/msgpack/blob/master/spec.md), so
// the 'msgpack' backend needs no npm package besides koffi.
//
// encode: null/undefined -> nil; booleans; integers (Number.isInteger and within
// +-2^64) -> the smallest int format; other numbers (fractions, NaN, +-Infinity, -0) ->
// float 64; BigInt -> int 64 / uint 64 (RangeError outside that range); strings -> str
// (UTF-8); Buffer/Uint8Array -> bin; arrays -> array; Map -> map (any keys); Date ->
// timestamp (ext -1); MsgpackExt -> ext; plain objects (and other objects, by their own
// enumerable properties) -> map with string keys.
// decode: the inverse; integers outside Number's safe range -> BigInt; bin -> Buffer; a
// map whose keys are all strings -> plain object, otherwise a Map; ext -1 -> Date; other
// ext types -> MsgpackExt.

const MAX_DEPTH = 1024; // the library's limit for MessagePack values

class MsgpackExt {
  constructor(type, data) {
    this.type = type;
    this.data = Buffer.from(data);
  }
}

class Writer {
  constructor() {
    this.buf = Buffer.allocUnsafe(256);
    this.pos = 0;
  }
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v) {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u16(v) {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  u32(v) {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }
  bytes(b) {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  head(v, n) {
    this.u8(v);
    this.ensure(n);
  }
}

function encodeBigInt(w, v) {
  if (v >= 0n) {
    if (v > 0xffffffffffffffffn) throw new RangeError(`msgpack: integer ${v} does not fit uint64`);
    if (v <= 0xffffffffn) return encodeNumber(w, Number(v));
    w.head(0xcf, 8);
    w.buf.writeBigUInt64BE(v, w.pos);
  } else {
    if (v < -0x8000000000000000n) throw new RangeError(`msgpack: integer ${v} does not fit int64`);
    if (v >= -0x80000000n) return encodeNumber(w, Number(v));
    w.head(0xd3, 8);
    w.buf.writeBigInt64BE(v, w.pos);
  }
  w.pos += 8;
}

function encodeNumber(w, v) {
  if (Number.isInteger(v) && !Object.is(v, -0) && v >= -(2 ** 63) && v < 2 ** 64) {
    if (v >= 0) {
      if (v < 0x80) return w.u8(v);
      if (v < 0x100) return w.u8(0xcc), w.u8(v);
      if (v < 0x10000) return w.u8(0xcd), w.u16(v);
      if (v < 0x100000000) return w.u8(0xce), w.u32(v);
      return encodeBigInt(w, BigInt(v));
    }
    if (v >= -32) return w.u8(v & 0xff);
    if (v >= -0x80) return w.u8(0xd0), w.u8(v & 0xff);
    if (v >= -0x8000) {
      w.head(0xd1, 2);
      w.buf.writeInt16BE(v, w.pos);
      w.pos += 2;
      return;
    }
    if (v >= -0x80000000) {
      w.head(0xd2, 4);
      w.buf.writeInt32BE(v, w.pos);
      w.pos += 4;
      return;
    }
    return encodeBigInt(w, BigInt(v));
  }
  w.head(0xcb, 8);
  w.buf.writeDoubleBE(v, w.pos);
  w.pos += 8;
}

function encodeLength(w, n, fix, fixMax, c8, c16, c32) {
  if (fix !== null && n <= fixMax) return w.u8(fix | n);
  if (c8 !== null && n < 0x100) return w.u8(c8), w.u8(n);
  if (n < 0x10000) return w.u8(c16), w.u16(n);
  if (n <= 0xffffffff) return w.u8(c32), w.u32(n);
  throw new RangeError('msgpack: value too large');
}

function encodeExt(w, type, data) {
  const n = data.length;
  const fixed = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[n];
  if (fixed) {
    w.u8(fixed);
  } else {
    encodeLength(w, n, null, 0, 0xc7, 0xc8, 0xc9);
  }
  w.u8(type & 0xff);
  w.bytes(data);
}

function encodeDate(w, d) {
  const ms = d.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('msgpack: invalid Date');
  const sec = Math.floor(ms / 1000);
  const nsec = (ms - sec * 1000) * 1e6;
  const data = Buffer.alloc(12); // timestamp 96: works for any Date
  data.writeUInt32BE(nsec, 0);
  data.writeBigInt64BE(BigInt(sec), 4);
  encodeExt(w, -1, data);
}

function encodeValue(w, v, depth) {
  switch (typeof v) {
    case 'undefined':
      return w.u8(0xc0);
    case 'boolean':
      return w.u8(v ? 0xc3 : 0xc2);
    case 'number':
      return encodeNumber(w, v);
    case 'bigint':
      return encodeBigInt(w, v);
    case 'string': {
      const b = Buffer.from(v, 'utf8');
      encodeLength(w, b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
      return w.bytes(b);
    }
    case 'object':
      break;
    default:
      throw new TypeError(`msgpack: cannot encode a ${typeof v}`);
  }
  if (v === null) return w.u8(0xc0);
  if (depth >= MAX_DEPTH) throw new RangeError(`msgpack: value nests deeper than ${MAX_DEPTH}`);
  if (v instanceof Uint8Array) {
    encodeLength(w, v.length, null, 0, 0xc4, 0xc5, 0xc6);
    return w.bytes(v);
  }
  if (v instanceof Date) return encodeDate(w, v);
  if (v instanceof MsgpackExt) return encodeExt(w, v.type, v.data);
  if (Array.isArray(v)) {
    encodeLength(w, v.length, 0x90, 15, null, 0xdc, 0xdd);
    for (const item of v) encodeValue(w, item, depth + 1);
    return;
  }
  if (v instanceof Map) {
    encodeLength(w, v.size, 0x80, 15, null, 0xde, 0xdf);
    for (const [k, item] of v) {
      encodeValue(w, k, depth + 1);
      encodeValue(w, item, depth + 1);
    }
    return;
  }
  const names = Object.keys(v);
  encodeLength(w, names.length, 0x80, 15, null, 0xde, 0xdf);
  for (const name of names) {
    encodeValue(w, name, depth + 1);
    encodeValue(w, v[name], depth + 1);
  }
}

function encode(value) {
  const w = new Writer();
  encodeValue(w, value, 0);
  return w.buf.subarray(0, w.pos);
}

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }
  need(n) {
    if (this.pos + n > this.buf.length) throw new RangeError('msgpack: truncated value');
    const at = this.pos;
    this.pos += n;
    return at;
  }
}

function toNumberOrBigInt(b) {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function decodeTimestamp(data) {
  let sec;
  let nsec = 0;
  if (data.length === 4) {
    sec = data.readUInt32BE(0);
  } else if (data.length === 8) {
    const hi = data.readUInt32BE(0);
    nsec = hi >>> 2;
    sec = (hi & 0x3) * 2 ** 32 + data.readUInt32BE(4);
  } else if (data.length === 12) {
    nsec = data.readUInt32BE(0);
    sec = Number(data.readBigInt64BE(4));
  } else {
    return new MsgpackExt(-1, data);
  }
  return new Date(sec * 1000 + Math.floor(nsec / 1e6));
}

function decodeValue(r, depth) {
  const b = r.buf;
  const t = b[r.need(1)];
  if (t < 0x80) return t;
  if (t >= 0xe0) return t - 0x100;
  if ((t & 0xe0) === 0xa0) return decodeStr(r, t & 0x1f);
  if ((t & 0xf0) === 0x90) return decodeArray(r, t & 0x0f, depth);
  if ((t & 0xf0) === 0x80) return decodeMap(r, t & 0x0f, depth);
  switch (t) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return Buffer.from(b.subarray(r.need(b[r.need(1)]), r.pos));
    case 0xc5: return Buffer.from(b.subarray(r.need(b.readUInt16BE(r.need(2))), r.pos));
    case 0xc6: return Buffer.from(b.subarray(r.need(b.readUInt32BE(r.need(4))), r.pos));
    case 0xc7: return decodeExt(r, b[r.need(1)]);
    case 0xc8: return decodeExt(r, b.readUInt16BE(r.need(2)));
    case 0xc9: return decodeExt(r, b.readUInt32BE(r.need(4)));
    case 0xca: return b.readFloatBE(r.need(4));
    case 0xcb: return b.readDoubleBE(r.need(8));
    case 0xcc: return b[r.need(1)];
    case 0xcd: return b.readUInt16BE(r.need(2));
    case 0xce: return b.readUInt32BE(r.need(4));
    case 0xcf: return toNumberOrBigInt(b.readBigUInt64BE(r.need(8)));
    case 0xd0: return b.readInt8(r.need(1));
    case 0xd1: return b.readInt16BE(r.need(2));
    case 0xd2: return b.readInt32BE(r.need(4));
    case 0xd3: return toNumberOrBigInt(b.readBigInt64BE(r.need(8)));
    case 0xd4: return decodeExt(r, 1);
    case 0xd5: return decodeExt(r, 2);
    case 0xd6: return decodeExt(r, 4);
    case 0xd7: return decodeExt(r, 8);
    case 0xd8: return decodeExt(r, 16);
    case 0xd9: return decodeStr(r, b[r.need(1)]);
    case 0xda: return decodeStr(r, b.readUInt16BE(r.need(2)));
    case 0xdb: return decodeStr(r, b.readUInt32BE(r.need(4)));
    case 0xdc: return decodeArray(r, b.readUInt16BE(r.need(2)), depth);
    case 0xdd: return decodeArray(r, b.readUInt32BE(r.need(4)), depth);
    case 0xde: return decodeMap(r, b.readUInt16BE(r.need(2)), depth);
    case 0xdf: return decodeMap(r, b.readUInt32BE(r.need(4)), depth);
    default: throw new RangeError(`msgpack: invalid type byte 0x${t.toString(16)}`);
  }
}

function decodeStr(r, n) {
  const at = r.need(n);
  return r.buf.toString('utf8', at, at + n);
}

function decodeExt(r, n) {
  const type = r.buf.readInt8(r.need(1));
  const at = r.need(n);
  const data = Buffer.from(r.buf.subarray(at, at + n));
  return type === -1 ? decodeTimestamp(data) : new MsgpackExt(type, data);
}

function enter(r, n, depth) {
  if (depth >= MAX_DEPTH) throw new RangeError('msgpack: value nests too deep');
  if (n > r.buf.length - r.pos) throw new RangeError('msgpack: container larger than the value');
}

function decodeArray(r, n, depth) {
  enter(r, n, depth);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = decodeValue(r, depth + 1);
  return out;
}

function decodeMap(r, n, depth) {
  enter(r, n, depth);
  const pairs = [];
  let allStrings = true;
  for (let i = 0; i < n; i++) {
    const k = decodeValue(r, depth + 1);
    if (typeof k !== 'string') allStrings = false;
    pairs.push([k, decodeValue(r, depth + 1)]);
  }
  if (!allStrings) return new Map(pairs);
  const out = {};
  for (const [k, v] of pairs) {
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function decode(buf) {
  const r = new Reader(buf);
  const value = decodeValue(r, 0);
  if (r.pos !== buf.length) throw new RangeError('msgpack: trailing bytes after the value');
  return value;
}

module.exports = { encode, decode, MsgpackExt };
