/** The options of serveService, and the one function that resolves them (defaults, checks) into a frozen object. */
import { durationMs, wholeNumber } from '../util/options.js';
import type { InternalErrorHandler } from './internal-error-log.js';
import { type NatsOptions, type ResolvedNatsOptions, resolveNatsOptions, resolveTransport, type Transport } from './nats/options.js';
import { resolveSocketDir } from './socket-dir.js';

export interface ServeOptions {
  /** Socket directory (default: WARREN_SOCKET_DIR, else $XDG_RUNTIME_DIR/warren, else a folder in the temp dir). */
  socketDir?: string;
  /** Instance number, part of the socket name (0). */
  instance?: number;
  /** Make the socket 0660 and the directory group-readable, for clients of the same group. */
  group?: boolean;
  /** Failed hellos before a connection is closed (3). */
  maxAuthFailures?: number;
  /**
   * Called with each error that became a 500 (the caller only saw the request id). By default
   * it is logged as one JSON line on stderr (level error, request id, route, message, stack),
   * which `warren up` keeps in `warren logs`; a function of yours replaces that, `null` turns
   * it off.
   */
  onInternalError?: InternalErrorHandler | null;
  /**
   * How long close() waits, once the calls in progress are done, for the clients to close their
   * connections after `warren.goaway` before it closes them itself (2000 ms).
   */
  closeGraceMs?: number;
  /** A connection that has not said a good hello within this many ms is closed (5000). */
  helloTimeoutMs?: number;
  /** Largest frame payload accepted from a connection before its hello, in bytes (4096). */
  maxPreHelloFrameBytes?: number;
  /** Connections held at once (10000); one more has its hello refused with WARREN_OVERLOADED and is closed. */
  maxConnections?: number;
  /** Length of the accept queue (4096; Linux caps it at net.core.somaxconn). */
  listenBacklog?: number;
  /**
   * `nats`: also serve on NATS, for callers on other hosts (docs/protocol.md, "Service calls over
   * NATS"). Default: WARREN_TRANSPORT, else `unix` (the socket only).
   */
  transport?: Transport;
  /** Where NATS is and how to log in (default: NATS_URL, NATS_USER, … from the environment). */
  nats?: NatsOptions;
}

export interface ResolvedServeOptions {
  readonly socketDir: string;
  readonly instance: number;
  readonly group: boolean;
  readonly maxAuthFailures: number | undefined;
  /** null when turned off; undefined means the default log (made by the server, which knows its name). */
  readonly onInternalError: InternalErrorHandler | null | undefined;
  readonly closeGraceMs: number;
  readonly helloTimeoutMs: number;
  readonly maxPreHelloFrameBytes: number;
  readonly maxConnections: number;
  readonly listenBacklog: number;
  readonly transport: Transport;
  /** Set when transport is `nats`. */
  readonly nats: ResolvedNatsOptions | undefined;
}

export function resolveServeOptions(options: ServeOptions = {}): ResolvedServeOptions {
  const transport = resolveTransport(options.transport);
  return Object.freeze({
    socketDir: resolveSocketDir(options.socketDir),
    instance: options.instance ?? 0,
    group: options.group ?? false,
    maxAuthFailures: options.maxAuthFailures,
    onInternalError: options.onInternalError,
    closeGraceMs: durationMs('closeGraceMs', options.closeGraceMs, 2_000),
    helloTimeoutMs: durationMs('helloTimeoutMs', options.helloTimeoutMs, 5_000),
    maxPreHelloFrameBytes: wholeNumber('maxPreHelloFrameBytes', options.maxPreHelloFrameBytes, 4096),
    maxConnections: wholeNumber('maxConnections', options.maxConnections, 10_000),
    listenBacklog: wholeNumber('listenBacklog', options.listenBacklog, 4096),
    transport,
    nats: transport === 'nats' ? resolveNatsOptions(options.nats) : undefined,
  });
}
