// Type declarations for the bucketcache Node binding. See docs/node.md.

/// <reference types="node" />

export type JsonKeyValue = null | boolean | number | string | JsonKeyValue[] | { [name: string]: JsonKeyValue };
/** A JSON-format key: a JSON-representable value, or JSON text given with jsonKey(). */
export type Key = JsonKeyValue | JsonKey | { toJSON(name?: string): unknown };
/** A raw-format key (keyFormat 'raw'): bytes, or a string as UTF-8. */
export type RawKey = Buffer | Uint8Array | string;

export type Lifetime =
  | number
  | {
      weeks?: number;
      days?: number;
      hours?: number;
      minutes?: number;
      seconds?: number;
      milliseconds?: number;
      microseconds?: number;
    };

export interface BucketOptions {
  /** ms, or {days, hours, ...}; 0 or absent = never expires. */
  lifetime?: Lifetime;
  /** 'json' (default): JS values as JSON; 'msgpack': JS values as MessagePack; 'raw': Buffers. */
  backend?: 'json' | 'msgpack' | 'raw';
  /** 'json' (default): keys are JS values; 'raw': keys are bytes. */
  keyFormat?: 'json' | 'raw';
  memoryLimitBytes?: number;
  deferred?: boolean;
  fsync?: boolean;
  checkFile?: boolean;
  lockWaitMs?: number;
  directoryMode?: number;
  fileMode?: number;
  /** 'file' (default: path is a directory) or 'redis://[user:password@]host:port[/db]'
   *  (path names the bucket on the server; docs/redis.md). */
  store?: string;
  /** Remote store connect and per-command timeout in ms (>= 1); default 2000. */
  timeoutMs?: number;
  /** Soft bound on the bytes of this bucket's entries (0: none, the default). */
  sizeLimitBytes?: number;
  /** Which entries a size-limited bucket evicts first: 'lrs' (default) or 'lru'. */
  eviction?: 'lrs' | 'lru';
  /** With a remote store: a local directory used as a file near-cache in front of it. */
  nearCacheDir?: string;
  /** Milliseconds a near-cache copy is served before the server is asked again (default 5000). */
  nearCacheTtlMs?: number;
  /** Computed results longer than this many bytes are returned, not stored (0: no limit). */
  entrySizeLimitBytes?: number;
  /** Gets miss, nothing is stored, computes always run (BC_OPT_DISABLED). */
  disabled?: boolean;
  /** Stale-while-revalidate (BC_OPT_STALE_TTL_US): getOrCompute / memoized calls return an
   *  entry expired less than this many ms ago at once and refresh it in the background, on
   *  this thread's event loop (docs/node.md). 0 (default): off. */
  staleTtlMs?: number;
}

export interface EntryInfo {
  /** The key bytes as stored: canonical JSON text for JSON keys; empty if omitted. */
  key: Buffer;
  /** Value bytes. */
  size: number | bigint;
  created: Date;
  /** null: never expires. */
  expires: Date | null;
}

export interface PruneInfo {
  bytes: number | bigint;
  files: number | bigint;
}

export interface HitInfo<A extends unknown[], R> {
  name: string;
  args: A;
  value: R;
  expires: Date | null | undefined;
}

export interface MemoizeOptions<A extends unknown[], R> {
  name?: string;
  ignore?: number[];
  method?: boolean;
  onHit?: (info: HitInfo<A, R>) => void;
}

export interface MemoizedMembers<A extends unknown[]> {
  readonly stats: { hits: number; misses: number };
  /** The canonical key text of a call. */
  key(...args: A): string;
  /** Deletes the cached result of a call; true if there was one. */
  delete(...args: A): boolean;
}

export class Bucket<V = any> {
  constructor(path: string, options?: BucketOptions);
  readonly path: string;
  readonly backend: 'json' | 'msgpack' | 'raw';
  readonly keyFormat: 'json' | 'raw';
  /** In milliseconds; 0 = never expires. */
  readonly lifetime: number;
  readonly deferred: boolean;
  /** The staleTtlMs option; 0 = off. */
  readonly staleTtlMs: number;
  readonly closed: boolean;
  get(key: Key | RawKey): V | undefined;
  getOrThrow(key: Key | RawKey): V;
  set(key: Key | RawKey, value: V): this;
  delete(key: Key | RawKey): boolean;
  has(key: Key | RawKey): boolean;
  unloadKey(key: Key | RawKey): void;
  expiry(key: Key | RawKey): Date | null | undefined;
  pruneDirectory(): PruneInfo;
  /** lifetime: milliseconds or {days, hours, ...}; 0 = never; undefined = the bucket's. */
  setEx(key: Key | RawKey, value: V, lifetime?: Lifetime | null): this;
  add(key: Key | RawKey, value: V, lifetime?: Lifetime | null): boolean;
  touch(key: Key | RawKey, lifetime?: Lifetime | null): boolean;
  incr(key: Key | RawKey, delta?: number | bigint, initial?: number | bigint): number | bigint;
  decr(key: Key | RawKey, delta?: number | bigint, initial?: number | bigint): number | bigint;
  getEx(key: Key | RawKey, options?: { maxAgeMs?: number }): { value: V; expires: Date | null } | undefined;
  clear(): number | bigint;
  /** Counters of every process using the bucket, and its entries and bytes now. */
  stats(): BucketStats;
  /** Zeroes the counters (hits..expired) for every process. */
  resetStats(): void;
  forEach(fn: (entry: EntryInfo) => boolean | void): void;
  sync(): void;
  /** With a background refresh queued for this thread, close() waits up to lockWaitMs and
   *  drops it; closeAsync() lets it run first. */
  close(): void;
  /** Resolves once no background refresh of a value this bucket served stale is pending. */
  settled(): Promise<void>;
  /** settled(), then close(). */
  closeAsync(): Promise<void>;
  /** Removes key's entry and returns its value (undefined if none); atomic across processes. */
  pop(key: Key | RawKey): V | undefined;
  getOrCompute(key: Key | RawKey, compute: () => V, options?: CallOptions): V;
  memoize<A extends unknown[], R extends V>(
    fn: (this: any, ...args: A) => R,
    options?: MemoizeOptions<A, R>,
  ): ((this: any, ...args: A) => R) & MemoizedMembers<A> & {
    refresh(...args: A): R;
    callWith(options: CallOptions, ...args: A): R;
  };
  memoizeAsync<A extends unknown[], R extends V>(
    fn: (this: any, ...args: A) => Promise<R> | R,
    options?: MemoizeOptions<A, R>,
  ): ((this: any, ...args: A) => Promise<R>) & MemoizedMembers<A> & { refresh(...args: A): Promise<R> };
}

export class BucketCacheError extends Error {
  /** 'BC_ENOTFOUND', 'BC_EINVAL', 'BC_EIO', ... */
  readonly code: string;
  /** The C result code: -1, -2, -3, ... */
  readonly errno: number;
  /** bc_last_error_message() at the failure. */
  readonly detail: string;
}

export const codes: Readonly<Record<string, number>>;

export class JsonKey {
  constructor(text: string | Uint8Array);
  readonly bytes: Buffer;
  readonly text: string;
}
export function jsonKey(text: string | Uint8Array): JsonKey;
export function canonicalKey(key: Key): string;
export function setLogLevel(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical' | 'off' | number): void;
export function setLogFullKeys(on: boolean): void;
/** Per-call options of getOrCompute (bc_get_or_compute_ex). */
export interface CallOptions {
  /** An entry created longer ago than this is recomputed and overwritten. */
  maxAgeMs?: number;
  /** Compute and overwrite. */
  refresh?: boolean;
  /** Compute only: neither read nor write the cache. */
  skipCache?: boolean;
}

/** Turns caching off for every bucket of this process (gets miss, nothing stored). */
export function disable(): void;
export function enable(): void;
export function isDisabled(): boolean;

export function version(): { library: string; number: number; format: number; path: string };

export namespace msgpack {
  class MsgpackExt {
    constructor(type: number, data: Uint8Array);
    type: number;
    data: Buffer;
  }
  function encode(value: unknown): Buffer;
  function decode(bytes: Uint8Array): unknown;
}

export interface BucketStats {
  hits: number | bigint;
  misses: number | bigint;
  writes: number | bigint;
  evictions: number | bigint;
  expired: number | bigint;
  entries: number | bigint;
  bytes: number | bigint;
}
