/**
 * HTTP in and out of the gateway, as plain functions: which headers cross (hop-by-hop ones never
 * do, RFC 9110 §7.6.1), how a request body becomes a service call's body, how a service's answer
 * becomes bytes, and the error body every layer answers with.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { httpStatusOf, isWarrenError } from '../errors.js';

/** Headers that concern one connection only: never forwarded, in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** The request headers a service sees: every header but the hop-by-hop ones (and those `Connection` names) and HTTP/2's pseudo-headers, lower case. */
export function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  const named = headers.connection;
  for (const name in headers) {
    const value = headers[name];
    // HTTP/2's pseudo-headers (`:path`, `:authority`, …) are the request line, not headers.
    if (typeof value !== 'string' || HOP_BY_HOP.has(name) || name.charCodeAt(0) === 58) continue;
    out[name] = value;
  }
  if (named !== undefined && named !== 'keep-alive' && named !== 'close') {
    for (const name of named.split(',')) delete out[name.trim().toLowerCase()];
  }
  return out;
}

/** The response headers a client sees from a service's answer: hop-by-hop ones and any length dropped (the gateway sets it). */
export function responseHeaders(headers: Record<string, string>, into: Record<string, string>): boolean {
  let hasType = false;
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'content-length') continue;
    if (lower === 'content-type') hasType = true;
    into[lower] = headers[name] as string;
  }
  return hasType;
}

/** Whether a content type is JSON (`application/json`, `application/problem+json`, …). */
function isJson(type: string): boolean {
  const semi = type.indexOf(';');
  const bare = (semi < 0 ? type : type.slice(0, semi)).trim().toLowerCase();
  return bare === 'application/json' || bare.endsWith('+json');
}

function isText(type: string): boolean {
  const lower = type.toLowerCase();
  return lower.startsWith('text/') || lower.startsWith('application/x-www-form-urlencoded');
}

/** A request body as the service gets it: JSON parsed, text as a string, anything else as bytes. Throws SyntaxError on bad JSON. */
export function decodeBody(bytes: Buffer, contentType: string | undefined): unknown {
  if (bytes.length === 0) return undefined;
  if (contentType === undefined || isJson(contentType)) {
    // Without a type, JSON is tried (what curl -d and most clients of a JSON API mean), else text.
    if (contentType !== undefined) return JSON.parse(bytes.toString('utf8'));
    const text = bytes.toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  if (isText(contentType)) return bytes.toString('utf8');
  return bytes;
}

export const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';
const BYTES_TYPE = 'application/octet-stream';

/** A service's answer body as bytes and the content type it implies (when the service set none). */
export function encodeBody(body: unknown): { bytes: Buffer | string; type: string } {
  if (body === null || body === undefined) return { bytes: '', type: JSON_TYPE };
  if (typeof body === 'string') return { bytes: body, type: TEXT_TYPE };
  if (Buffer.isBuffer(body)) return { bytes: body, type: BYTES_TYPE };
  if (body instanceof Uint8Array) return { bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength), type: BYTES_TYPE };
  return { bytes: JSON.stringify(body), type: JSON_TYPE };
}

/** The JSON error body of every layer (docs/protocol.md §13.2): `{ error: { code, message, data? } }`. */
export function errorBody(code: string, message: string, data?: unknown): string {
  const error: Record<string, unknown> = { code, message };
  if (data !== undefined) error.data = data;
  return JSON.stringify({ error });
}

/** A failed forward as status, code and message: the errors table gives the status (502 when it has none). */
export function failureOf(error: unknown, requestId: string): { status: number; code: string; message: string } {
  if (isWarrenError(error)) {
    const status = httpStatusOf(error.code) ?? 502;
    return { status, code: error.code, message: error.message };
  }
  return { status: 500, code: 'WARREN_INTERNAL', message: `internal error (request ${requestId})` };
}
