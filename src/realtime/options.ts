/** The hub's options, resolved once into a frozen `ResolvedHubOptions` with every default applied. */
import type { IncomingMessage, Server } from 'node:http';
import { invalidArgument } from '../errors.js';
import { durationMs, wholeNumber } from '../util/options.js';
import type { Identity } from './handshake.js';
import type { FormatName } from './protocol.js';
import type { RateLimit } from './rate-limit.js';
import type { Broadcaster, Registry } from './seams.js';

export const DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024;
export const DEFAULT_WRITE_BUFFER_SIZE = 5 * 1024 * 1024;
export const DEFAULT_HEARTBEAT_MS = 60_000;
export const DEFAULT_WS_PATH = '/ws';

export type Authenticate = (req: IncomingMessage) => Identity | null | undefined | Promise<Identity | null | undefined>;

export interface HubOptions {
  /** Port to listen on (0: any free one, see `hub.port`). Ignored with `server` or `listen: false`. */
  port?: number;
  /** Address to listen on (127.0.0.1). */
  host?: string;
  /** Path of the WebSocket endpoint (/ws); upgrades elsewhere get 404. */
  path?: string;
  /** Attach to this HTTP server instead of creating one (its 'upgrade' events on `path` become the hub's). */
  server?: Server;
  /** Do not listen at all: upgrades reach the hub through `hub.handleUpgrade` (a gateway forwarding `/ws`). */
  listen?: boolean;
  /** Turns the handshake request (token, cookie) into a user; null/undefined or a throw → 401. Without it every connection is anonymous. */
  authenticate?: Authenticate;
  /** Origins allowed to connect; empty or ['*']: any. A request without Origin (not a browser) passes. */
  allowedOrigins?: readonly string[];
  /** New connections per IP: `burst` at once, refilled at `perSecond` (20/s, burst 40); perSecond 0 turns it off. */
  connectionRate?: { perSecond?: number | undefined; burst?: number | undefined };
  /** Largest message a client may send, in bytes (10 MiB); a bigger one closes with 1009. */
  maxMessageSize?: number;
  /** Unsent bytes a connection may hold (5 MiB); over it the connection is closed with 4008. */
  writeBufferSize?: number;
  /** Ping interval in ms (60 s); a connection that has not answered the previous ping is closed with 4001. */
  heartbeatMs?: number;
  /** permessage-deflate (off: it costs memory per connection and CPU per message). */
  perMessageDeflate?: boolean;
  /** Secret of HMAC channel tokens (private and presence channels); without it channel tokens are refused. */
  channelSecret?: string;
  /** Broadcasts kept per channel for recovery (100) and for how long (120 s). */
  recovery?: { size?: number | undefined; windowMs?: number | undefined };
  /** The cross-hub seams (local in-memory ones by default). */
  broadcaster?: Broadcaster;
  registry?: Registry;
  /** The format of a client that offers no subprotocol (json). */
  defaultFormat?: FormatName;
  /** Listen on `<socketDir>/hub.sock` for broadcasts from other processes (createBroadcaster, warren emit). */
  socketDir?: string;
  /** Undecodable messages tolerated before closing with 4002 (3). */
  maxBadMessages?: number;
}

export interface ResolvedHubOptions {
  readonly port: number;
  readonly host: string;
  readonly path: string;
  readonly server: Server | undefined;
  readonly listen: boolean;
  readonly authenticate: Authenticate | undefined;
  readonly allowedOrigins: readonly string[];
  readonly connectionRate: RateLimit;
  readonly maxMessageSize: number;
  readonly writeBufferSize: number;
  readonly heartbeatMs: number;
  readonly perMessageDeflate: boolean;
  readonly channelSecret: string | undefined;
  readonly recoverySize: number;
  readonly recoveryWindowMs: number;
  readonly maxBadMessages: number;
  readonly socketDir: string | undefined;
  readonly defaultFormat: FormatName;
}

export function resolveHubOptions(options: HubOptions = {}): ResolvedHubOptions {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw invalidArgument(`option 'port' must be a port number (0 to 65535), got ${port}`);
  const path = options.path ?? DEFAULT_WS_PATH;
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw invalidArgument(`option 'path' must start with '/', got ${JSON.stringify(path)}`);
  if (options.authenticate !== undefined && typeof options.authenticate !== 'function') {
    throw invalidArgument("option 'authenticate' must be a function (req) => { userId, info? } | null");
  }
  const origins = options.allowedOrigins ?? [];
  if (!Array.isArray(origins) || origins.some((o) => typeof o !== 'string'))
    throw invalidArgument("option 'allowedOrigins' must be a list of strings");
  const rate = options.connectionRate ?? {};
  const perSecond = rate.perSecond ?? 20;
  if (!(Number.isFinite(perSecond) && perSecond >= 0))
    throw invalidArgument(`option 'connectionRate.perSecond' must be a number >= 0, got ${perSecond}`);
  if (options.channelSecret !== undefined && (typeof options.channelSecret !== 'string' || options.channelSecret.length < 16)) {
    throw invalidArgument("option 'channelSecret' must be a string of at least 16 characters");
  }
  const defaultFormat = options.defaultFormat ?? 'json';
  if (defaultFormat !== 'json' && defaultFormat !== 'msgpack')
    throw invalidArgument(`option 'defaultFormat' must be 'json' or 'msgpack', got ${String(defaultFormat)}`);
  return Object.freeze({
    port,
    host: options.host ?? '127.0.0.1',
    path,
    server: options.server,
    listen: options.listen ?? true,
    authenticate: options.authenticate,
    allowedOrigins: Object.freeze([...origins]),
    connectionRate: Object.freeze({ perSecond, burst: wholeNumber('connectionRate.burst', rate.burst, Math.max(1, perSecond * 2)) }),
    maxMessageSize: wholeNumber('maxMessageSize', options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE),
    writeBufferSize: wholeNumber('writeBufferSize', options.writeBufferSize, DEFAULT_WRITE_BUFFER_SIZE),
    heartbeatMs: durationMs('heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS, 10),
    perMessageDeflate: options.perMessageDeflate ?? false,
    channelSecret: options.channelSecret,
    recoverySize: wholeNumber('recovery.size', options.recovery?.size, 100, 0),
    recoveryWindowMs: durationMs('recovery.windowMs', options.recovery?.windowMs, 120_000),
    maxBadMessages: wholeNumber('maxBadMessages', options.maxBadMessages, 3),
    socketDir: options.socketDir,
    defaultFormat,
  });
}
