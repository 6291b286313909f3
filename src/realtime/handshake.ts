/**
 * What is decided before a WebSocket upgrade: the path, the origin, the per-IP rate, the
 * subprotocol and who the user is. A refusal is a plain HTTP response on the raw socket, so a
 * refused client never holds an upgraded connection.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { type FormatName, formatOfSubprotocol } from './protocol.js';

/** Who a connection belongs to, as the `authenticate` callback says. */
export interface Identity {
  userId: string;
  info?: Record<string, unknown> | undefined;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  // A client that never reads must not keep the socket open.
  socket.once('finish', () => socket.destroy());
}

/** The token a request carries: `?token=`, the `warren_token` cookie or `Authorization: Bearer`. */
export function tokenOf(req: IncomingMessage): string | undefined {
  const url = req.url ?? '';
  const query = url.indexOf('?');
  if (query >= 0) {
    const token = new URLSearchParams(url.slice(query + 1)).get('token');
    if (token) return token;
  }
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const cookie = req.headers.cookie;
  if (cookie) {
    for (const part of cookie.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === 'warren_token') return decodeURIComponent(part.slice(eq + 1).trim());
    }
  }
  return undefined;
}

/** The request's path without its query. */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query >= 0 ? url.slice(0, query) : url;
}

/**
 * The subprotocol to answer with and its format: the first offered one the hub speaks; none
 * offered means the default format (JSON unless configured) without a subprotocol; only unknown
 * ones offered means refusal (null).
 */
export function chooseFormat(
  req: IncomingMessage,
  defaultFormat: FormatName = 'json',
): { protocol: string | undefined; format: FormatName } | null {
  const header = req.headers['sec-websocket-protocol'];
  if (header === undefined || header.trim() === '') return { protocol: undefined, format: defaultFormat };
  for (const offered of header.split(',')) {
    const protocol = offered.trim();
    const format = formatOfSubprotocol(protocol);
    if (format !== undefined) return { protocol, format };
  }
  return null;
}

/**
 * Whether an Origin header is allowed: an empty list or `*` allows all, otherwise an exact match.
 * A request without Origin is not a browser's (browsers always send it on a WebSocket handshake),
 * and cross-site WebSocket hijacking needs a browser, so it passes.
 */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  if (allowed.length === 0 || allowed.includes('*') || origin === undefined) return true;
  return allowed.includes(origin);
}

/** Whether a peer address is this machine's own: a loopback address, or none (a Unix socket). */
function isLocal(address: string | undefined): boolean {
  if (address === undefined) return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * The address a connection is counted under (the per-IP rate limit): the peer's, unless the peer
 * is on this machine (the gateway forwarding `gateway.websocket`, over loopback or a Unix socket)
 * and says who its client is in X-Forwarded-For, whose last entry the gateway wrote. Earlier
 * entries come from the client and are not trusted; nor is the header from any other peer.
 */
export function clientAddress(req: IncomingMessage): string {
  const peer = req.socket.remoteAddress;
  const forwarded = req.headers['x-forwarded-for'];
  if (typeof forwarded === 'string' && isLocal(peer)) {
    const last = forwarded.slice(forwarded.lastIndexOf(',') + 1).trim();
    if (isIP(last) !== 0) return last;
  }
  return peer ?? 'unknown';
}
