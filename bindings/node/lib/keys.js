'use strict';

// Keys: JS values are written as JSON text and sent with key format "json"; the library
// turns the text into the canonical key form (docs/keys.md).

const MAX_DEPTH = 1024; // bucketcache::kMaxKeyDepth

// JSON text given as it is, for keys a JS value cannot hold (integers past 2^53 such as
// 18446744073709551615) or text you already have. The library canonicalizes it, so
// jsonKey('{"b":1, "a":2}') and {a: 2, b: 1} name the same entry.
class JsonKey {
  constructor(text) {
    if (typeof text === 'string') {
      this.bytes = Buffer.from(text, 'utf8');
    } else if (text instanceof Uint8Array) {
      this.bytes = Buffer.from(text);
    } else {
      throw new TypeError('jsonKey(text): text must be a string or a Buffer of JSON text');
    }
    Object.freeze(this);
  }

  get text() {
    return this.bytes.toString('utf8');
  }
}

function jsonKey(text) {
  return new JsonKey(text);
}

function describe(value) {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'bigint') return `a BigInt (${value}n; use jsonKey('${value}') for exact big integers)`;
  if (typeof value === 'number') return String(value);
  const ctor = value && value.constructor && value.constructor.name;
  return ctor ? `a ${ctor}` : 'an object';
}

function fail(value, where, what) {
  const at = where ? ` at ${where}` : '';
  return new TypeError(`${what} is not JSON-representable${at}: ${describe(value)}`);
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// JSON text of value, which must be JSON-representable all the way down: null, booleans,
// finite numbers, strings, arrays and plain objects (or objects with toJSON(), such as
// Date, whose result must be representable too). Where JSON.stringify would silently drop
// or change something (undefined, functions, NaN, Infinity, Map, class instances), this
// throws a TypeError instead, so two different keys never become the same text by accident.
function toJsonText(value, what = 'key') {
  const parts = [];
  const open = new Set();

  // name: the member name or array index, passed to toJSON() as JSON.stringify does.
  function walk(v, where, depth, name) {
    if (v !== null && typeof v === 'object' && typeof v.toJSON === 'function') v = v.toJSON(name);
    switch (typeof v) {
      case 'string':
        parts.push(JSON.stringify(v));
        return;
      case 'boolean':
        parts.push(v ? 'true' : 'false');
        return;
      case 'number':
        if (!Number.isFinite(v)) throw fail(v, where, what);
        parts.push(JSON.stringify(v)); // -0 is written 0; others as Number#toString
        return;
      case 'object':
        break;
      default:
        throw fail(v, where, what);
    }
    if (v === null) {
      parts.push('null');
      return;
    }
    if (depth >= MAX_DEPTH) {
      throw new TypeError(`${what} nests deeper than ${MAX_DEPTH} arrays/objects${where ? ` at ${where}` : ''}`);
    }
    if (open.has(v)) throw new TypeError(`${what} is cyclic${where ? ` at ${where}` : ''}`);
    if (Array.isArray(v)) {
      open.add(v);
      parts.push('[');
      for (let i = 0; i < v.length; i++) {
        if (i) parts.push(',');
        walk(v[i], `${where}[${i}]`, depth + 1, String(i));
      }
      parts.push(']');
      open.delete(v);
      return;
    }
    if (!isPlainObject(v)) {
      throw new TypeError(
        `${what} is not JSON-representable${where ? ` at ${where}` : ''}: ${describe(v)} ` +
          '(use a plain object, an array, or give the class a toJSON() method)',
      );
    }
    open.add(v);
    parts.push('{');
    let first = true;
    for (const member of Object.keys(v)) {
      if (!first) parts.push(',');
      first = false;
      parts.push(JSON.stringify(member), ':');
      walk(v[member], where ? `${where}.${member}` : member, depth + 1, member);
    }
    parts.push('}');
    open.delete(v);
  }

  walk(value, '', 0, '');
  return parts.join('');
}

// The bytes of a JSON-format key.
function jsonKeyBytes(key) {
  if (key instanceof JsonKey) return key.bytes;
  return Buffer.from(toJsonText(key, 'key'), 'utf8');
}

// The bytes of a raw-format key: a Buffer/Uint8Array as it is, a string as UTF-8.
function rawKeyBytes(key) {
  if (typeof key === 'string') return Buffer.from(key, 'utf8');
  if (key instanceof Uint8Array) return key;
  throw new TypeError(`with keyFormat 'raw', a key must be a Buffer, a Uint8Array or a string, not ${describe(key)}`);
}

module.exports = { JsonKey, jsonKey, toJsonText, jsonKeyBytes, rawKeyBytes, MAX_DEPTH };
