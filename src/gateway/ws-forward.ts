/**
 * WebSocket upgrades through the gateway (`gateway.websocket`, docs/gateway.md): an upgrade
 * request on the configured path is replayed to the hub over a TCP or Unix connection of its
 * own, with X-Forwarded-For / X-Forwarded-Proto added, and the two sockets are piped both ways
 * from then on. The gateway never parses a WebSocket frame: the hub answers the handshake (its
 * origin check, rate limit and authentication included) and speaks to the client directly.
 * Refusals made here (wrong path, too many sockets, hub down) are plain HTTP responses written
 * on the raw socket, in the error shape of every other gateway answer.
 */
import type { IncomingMessage, Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ResolvedGatewayConfig } from '../config/gateway.js';
import { formatHubAddress, type HubAddress, parseHubAddress } from '../config/gateway-websocket.js';
import type { GatewayLog } from './gateway-log.js';
import { errorBody } from './http-message.js';

export interface WebSocketForwardOptions {
  /** The path forwarded (without query). */
  path: string;
  /** `host:port` or a Unix socket path. */
  hub: string;
  /** Forwarded connections at once; one more is answered 503. */
  maxSockets: number;
  /** How long the hub may take to accept the connection, in ms; then 504. */
  connectTimeoutMs: number;
  /** Told when the hub cannot be reached. */
  onHubError?: (message: string) => void;
}

const REASONS: Record<number, string> = {
  404: 'Not Found',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Headers the gateway sets itself on the replayed request (whatever the client sent for them). */
const REPLACED = new Set(['x-forwarded-for', 'x-forwarded-proto']);

/** Answers an upgrade request with a plain HTTP error, as the gateway's other errors look, and closes. */
export function refuseSocket(socket: Duplex, status: number, code: string, message: string): void {
  if (socket.destroyed) return;
  const body = errorBody(code, message);
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(status === 503 ? ['Retry-After: 1'] : []),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  // A client that never reads must not keep the socket open.
  socket.once('finish', () => socket.destroy());
}

/** The request line and headers as the hub gets them: the client's, plus who the client is. */
export function replayedHead(req: IncomingMessage): string {
  const raw = req.rawHeaders;
  const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
  let forwardedFor: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? raw[i + 1] : `${forwardedFor}, ${raw[i + 1]}`;
    if (REPLACED.has(lower)) continue;
    lines.push(`${name}: ${raw[i + 1]}`);
  }
  // Appended, not replaced: the hub trusts only the last entry, the one the gateway wrote.
  const client = req.socket.remoteAddress ?? 'unknown';
  lines.push(`X-Forwarded-For: ${forwardedFor === undefined ? client : `${forwardedFor}, ${client}`}`);
  lines.push(`X-Forwarded-Proto: ${(req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http'}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Closes a socket whose other side has gone: at once, unless it is still writing what the other
 * side said last (a close frame), which it is left to finish.
 */
function release(socket: Duplex): void {
  if (socket.destroyed) return;
  if (!socket.writableEnded || socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}

/** The request's path without its query. */
function pathOf(url: string | undefined): string {
  const value = url ?? '/';
  const query = value.indexOf('?');
  return query >= 0 ? value.slice(0, query) : value;
}

export class WebSocketForwarder {
  readonly path: string;
  readonly hub: HubAddress;
  readonly #options: WebSocketForwardOptions;
  /** Each forwarded pair's client side; the hub side is destroyed with it. */
  readonly #clients = new Set<Duplex>();
  #closed = false;

  constructor(options: WebSocketForwardOptions) {
    this.#options = options;
    this.path = options.path;
    this.hub = parseHubAddress(options.hub);
  }

  /** Forwarded connections open now (connecting to the hub included). */
  get active(): number {
    return this.#clients.size;
  }

  /** The HTTP server's `upgrade` listener. */
  handle(req: IncomingMessage, client: Duplex, head: Buffer): void {
    // Errors after this point are handled by closing; without a listener one would crash the gateway.
    client.on('error', () => client.destroy());
    const path = pathOf(req.url);
    if (path !== this.path) {
      refuseSocket(client, 404, 'WARREN_NOT_FOUND', `no WebSocket endpoint at ${path}: WebSockets are taken on ${this.path}`);
      return;
    }
    if (this.#closed) {
      refuseSocket(client, 503, 'WARREN_UNAVAILABLE', 'the gateway is shutting down');
      return;
    }
    if (this.#clients.size >= this.#options.maxSockets) {
      refuseSocket(
        client,
        503,
        'WARREN_OVERLOADED',
        `the gateway holds as many WebSocket connections as it may (${this.#options.maxSockets}, gateway.websocket.maxSockets)`,
      );
      return;
    }
    this.#forward(req, client, head);
  }

  #forward(req: IncomingMessage, client: Duplex, head: Buffer): void {
    this.#clients.add(client);
    const where = formatHubAddress(this.hub);
    const upstream: Socket = 'path' in this.hub ? connect({ path: this.hub.path }) : connect({ host: this.hub.host, port: this.hub.port });
    let connected = false;
    const timer = setTimeout(() => {
      refuseSocket(
        client,
        504,
        'WARREN_TIMEOUT',
        `the WebSocket hub at ${where} did not accept a connection within ${this.#options.connectTimeoutMs} ms`,
      );
      upstream.destroy();
    }, this.#options.connectTimeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      this.#clients.delete(client);
      release(upstream);
    });
    upstream.once('close', () => {
      clearTimeout(timer);
      // Before the connection, a refusal is being written: it closes the client itself.
      if (connected) release(client);
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (connected) return;
      const message = `the WebSocket hub at ${where} is unreachable (${error.code ?? error.message})`;
      this.#options.onHubError?.(message);
      clearTimeout(timer);
      refuseSocket(client, 502, 'WARREN_HUB_UNREACHABLE', message);
    });
    upstream.once('connect', () => {
      clearTimeout(timer);
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      connected = true;
      upstream.setNoDelay(true);
      (client as Socket).setNoDelay?.(true);
      upstream.write(replayedHead(req));
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  /** Ends every forwarded connection (the gateway is closing): clients reconnect elsewhere or later. */
  close(): void {
    this.#closed = true;
    for (const client of this.#clients) client.destroy();
    this.#clients.clear();
  }
}

/**
 * Forwards the upgrades of `server` when the config has a `websocket` section (otherwise the
 * server is left as it is, and node answers upgrade requests as plain requests).
 */
export function forwardUpgrades(
  server: Server,
  config: ResolvedGatewayConfig,
  log: Pick<GatewayLog, 'event'>,
): WebSocketForwarder | undefined {
  const section = config.websocket;
  if (section === undefined) return undefined;
  const forwarder = new WebSocketForwarder({
    path: section.path,
    hub: section.hub as string,
    maxSockets: section.maxSockets,
    connectTimeoutMs: config.socketConnectionTimeoutMs,
    onHubError: (message) => log.event('warn', message, { hub: section.hub }),
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => forwarder.handle(req, socket, head));
  log.event('info', `WebSocket upgrades on ${section.path} go to the hub at ${section.hub}`, { path: section.path, hub: section.hub });
  return forwarder;
}
