/**
 * A bounded in-memory cache of the services' GET answers that say they may be kept
 * (`Cache-Control: max-age=N` or `s-maxage=N`, RFC 9111 as a shared cache), with validation by
 * ETag. Memory is bounded by entries and bytes: a Map keeps insertion order, and re-inserting an
 * entry on use makes its first key the least recently used, which goes first. An entry is the
 * answer as sent (compressed or not). The key is the request target; for an answer that varies
 * on Accept-Encoding, followed by the encoding the request's Accept-Encoding chooses (request
 * targets have no spaces, so the two kinds never meet). docs/gateway.md ("Response cache") is
 * the normative description.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { CacheConfig } from '../config/gateway-edge.js';
import { chooseEncoding } from './compression.js';
import type { Exchange } from './exchange.js';

interface Entry {
  /** The answer's headers, without its request id and length (the gateway sets them). */
  readonly headers: Record<string, string>;
  readonly body: Buffer | string;
  readonly etag: string;
  readonly storedAt: number;
  readonly expiresAt: number;
  /** What the entry counts against maxBytes: body, headers and key. */
  readonly size: number;
}

/** What the cache answers a request with: the stored answer, or 304 when the client has it. */
export interface CachedAnswer {
  status: 200 | 304;
  headers: Record<string, string>;
  body: Buffer | string;
}

/** Headers a 304 keeps (RFC 9110 §15.4.5), besides the request id the gateway adds. */
const NOT_MODIFIED_HEADERS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'age', 'x-request-id']);

export class ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly limits: CacheConfig,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Entries held now. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes held now, as counted against maxBytes. */
  get byteSize(): number {
    return this.bytes;
  }

  /**
   * A fresh stored answer for a GET or HEAD, or undefined: the request goes to the service then,
   * and `exchange.cacheKey` is set when its answer may be stored.
   */
  lookup(exchange: Exchange): CachedAnswer | undefined {
    const { method, req } = exchange;
    const headers = req.headers;
    if ((method !== 'GET' && method !== 'HEAD') || headers.authorization !== undefined) return undefined;
    const asked = directivesOf(headers['cache-control']);
    // HEAD is never compressed: it reads the entry of a GET answered without encoding.
    const encoding = method === 'GET' ? chooseEncoding(headers['accept-encoding']) : undefined;
    const encodedKey = `${exchange.url} ${encoding ?? 'identity'}`;
    if (method === 'GET' && !asked.has('no-store')) exchange.cacheKey = encodedKey;
    if (
      asked.has('no-cache') ||
      asked.has('no-store') ||
      (headers['cache-control'] === undefined && /no-cache/i.test(headers.pragma ?? ''))
    ) {
      return undefined;
    }
    let key = exchange.url;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      key = encodedKey;
      entry = this.entries.get(key);
      if (entry === undefined) return undefined;
    }
    const now = this.now();
    if (now >= entry.expiresAt) {
      this.remove(key, entry);
      return undefined;
    }
    const ageS = Math.floor((now - entry.storedAt) / 1000);
    const maxAge = asked.get('max-age');
    if (maxAge !== undefined && !(ageS <= Number(maxAge))) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    exchange.cacheKey = undefined;
    const out = { ...entry.headers, age: String(ageS) };
    if (matches(headers['if-none-match'], entry.etag)) return { status: 304, headers: notModified(out), body: '' };
    return { status: 200, headers: out, body: entry.body };
  }

  /**
   * A service's answer on its way out: a cacheable one gets a strong ETag (when it has none) and
   * is stored (when within maxEntryBytes); it becomes 304 without a body when the request's
   * If-None-Match matches. `headers` is changed in place.
   */
  admit(
    exchange: Exchange,
    status: number,
    headers: Record<string, string>,
    body: Buffer | string,
  ): { status: number; body: Buffer | string } {
    if (exchange.cacheKey === undefined || status !== 200) return { status, body };
    const lifetimeS = lifetimeOf(headers);
    if (lifetimeS === undefined) return { status, body };
    const key = headers.vary === undefined ? exchange.url : exchange.cacheKey;
    headers.etag ??= etagOf(body);
    const kept: Record<string, string> = {};
    let size = key.length + byteLength(body);
    for (const name in headers) {
      if (name === 'x-request-id' || name === 'age' || name === 'content-length') continue;
      kept[name] = headers[name] as string;
      size += name.length + (headers[name] as string).length;
    }
    if (size <= this.limits.maxEntryBytes) {
      const now = this.now();
      this.store(key, { headers: kept, body: own(body), etag: headers.etag, storedAt: now, expiresAt: now + lifetimeS * 1000, size });
    }
    if (!matches(exchange.req.headers['if-none-match'], headers.etag)) return { status, body };
    for (const name in headers) if (!NOT_MODIFIED_HEADERS.has(name)) delete headers[name];
    return { status: 304, body: '' };
  }

  private store(key: string, entry: Entry): void {
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old);
    this.entries.set(key, entry);
    this.bytes += entry.size;
    for (const [oldest, first] of this.entries) {
      if (this.entries.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      this.remove(oldest, first);
    }
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.size;
  }
}

/** Cache-Control directives, names lower case, values unquoted (a directive without one maps to ''). */
export function directivesOf(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (value === undefined) return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '') continue;
    out.set(
      name,
      eq < 0
        ? ''
        : part
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, '$1'),
    );
  }
  return out;
}

/**
 * How long, in seconds, a shared cache may keep an answer with these headers; undefined when it
 * may not: no max-age or s-maxage above 0, or no-store, private, no-cache, Set-Cookie, or a Vary
 * on anything but Accept-Encoding.
 */
export function lifetimeOf(headers: Record<string, string>): number | undefined {
  const directives = directivesOf(headers['cache-control']);
  if (directives.has('no-store') || directives.has('private') || directives.has('no-cache')) return undefined;
  if (headers['set-cookie'] !== undefined) return undefined;
  const vary = headers.vary;
  if (vary?.split(',').some((name) => name.trim() !== '' && name.trim().toLowerCase() !== 'accept-encoding')) {
    return undefined;
  }
  const given = directives.get('s-maxage') ?? directives.get('max-age');
  if (given === undefined || !/^\d+$/.test(given)) return undefined;
  const seconds = Number(given);
  return seconds > 0 ? seconds : undefined;
}

/** A strong ETag made of the body: the same bytes, the same tag. */
export function etagOf(body: Buffer | string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Whether If-None-Match names the tag (weak comparison, RFC 9110 §13.1.2; `*` matches any). */
export function matches(ifNoneMatch: IncomingHttpHeaders['if-none-match'], etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return (trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed) === bare;
  });
}

function notModified(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) if (NOT_MODIFIED_HEADERS.has(name)) out[name] = headers[name] as string;
  return out;
}

/**
 * The bytes on their own: a decoded body may be a view of the whole frame (or of node's shared
 * pool) it came in, which an entry would otherwise keep alive beyond what maxBytes counts.
 */
function own(body: Buffer | string): Buffer | string {
  if (typeof body === 'string' || body.byteLength === body.buffer.byteLength) return body;
  // allocUnsafeSlow: its own memory, not a slice of node's pool.
  const copy = Buffer.allocUnsafeSlow(body.length);
  body.copy(copy);
  return copy;
}

function byteLength(body: Buffer | string): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.length;
}
