/** The options of a ServiceClient and of one call, resolved once into a frozen object. */
import { invalidArgument } from '../errors.js';
import { positiveMs, wholeNumber } from '../util/options.js';
import { type NatsOptions, type ResolvedNatsOptions, resolveNatsOptions, resolveTransport, type Transport } from './nats/options.js';
import { resolveSocketDir } from './socket-dir.js';

export interface ClientOptions {
  /** Socket directory (default: as for serveService). */
  socketDir?: string | undefined;
  /** The socket directory and token are shared with a group. */
  group?: boolean;
  /** Give up connecting to an instance after this many ms (2000); connect refusals are retried within it. */
  connectTimeoutMs?: number;
  /** @deprecated the old name of connectTimeoutMs */
  connectTimeout?: number;
  /** Default call timeout in ms (30000). */
  timeoutMs?: number;
  /** @deprecated the old name of timeoutMs */
  timeout?: number;
  /** Connections opened per instance as soon as it is found and kept (1), and at most when they are busy (4). */
  minConnections?: number;
  maxConnections?: number;
  /** How long an instance that refused a connection is skipped (1 s). */
  downForMs?: number;
  /** This client's name in the services' logs. */
  name?: string;
  /**
   * Check each open connection this often (ms; 0, the default, never): a connection that does not
   * answer within connectTimeoutMs is dropped and replaced, and an instance without one is
   * connected to again, so that a dead connection is found before a call is sent on it.
   */
  healthCheckIntervalMs?: number;
  /** When a connection's calls are written: see PeerOptions.batchWrites ('tick'). A front serving many HTTP connections says 'loop'. */
  batchWrites?: 'tick' | 'loop';
  /**
   * `nats`: a call goes over NATS when no instance on this host can take it (none, or all down
   * or draining). Default: WARREN_TRANSPORT, else `unix` (this host only).
   */
  transport?: Transport;
  /** Where NATS is and how to log in (default: NATS_URL, NATS_USER, … from the environment). */
  nats?: NatsOptions;
}

export interface ResolvedClientOptions {
  socketDir: string;
  group: boolean;
  connectTimeoutMs: number;
  timeoutMs: number;
  minConnections: number;
  maxConnections: number;
  downForMs: number;
  name: string;
  healthCheckIntervalMs: number;
  batchWrites: 'tick' | 'loop';
  /** Set when the transport is `nats`. */
  nats: ResolvedNatsOptions | undefined;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** This call's timeout in ms (the client's timeoutMs). */
  timeoutMs?: number;
  /** @deprecated the old name of timeoutMs */
  timeout?: number;
  signal?: AbortSignal;
  /** Safe to send twice (GET, HEAD, PUT, DELETE are by default). */
  idempotent?: boolean;
  /** Names the call in the service (the handler's `requestId`, its log lines); the service makes one when absent. */
  requestId?: string;
  /**
   * When the whole call must be over (ms since the epoch, as Date.now()), retries included: each
   * attempt's timeout is cut to what is left, and none starts after it (WARREN_TIMEOUT).
   */
  deadline?: number;
  /**
   * Tell apart the failures of a call that was never written from those of one that was: a call
   * no instance could take (every connect refused or timed out, or the instance went away before
   * the call was written) rejects with WARREN_UNAVAILABLE (503), a call whose instance died
   * after it was written with WARREN_PEER_CLOSED (502). Without it the connect error itself is thrown.
   */
  classifyFailures?: boolean;
}

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  const resolved = {
    socketDir: resolveSocketDir(options.socketDir),
    group: options.group ?? false,
    connectTimeoutMs: positiveMs('connectTimeoutMs', options.connectTimeoutMs ?? options.connectTimeout, 2_000),
    timeoutMs: positiveMs('timeoutMs', options.timeoutMs ?? options.timeout, 30_000),
    minConnections: wholeNumber('minConnections', options.minConnections, 1),
    maxConnections: wholeNumber('maxConnections', options.maxConnections, 4),
    downForMs: positiveMs('downForMs', options.downForMs, 1_000),
    name: options.name ?? `pid-${process.pid}`,
    batchWrites: (options.batchWrites === 'loop' ? 'loop' : 'tick') as 'tick' | 'loop',
    healthCheckIntervalMs: !options.healthCheckIntervalMs ? 0 : positiveMs('healthCheckIntervalMs', options.healthCheckIntervalMs, 0),
    nats: resolveTransport(options.transport) === 'nats' ? resolveNatsOptions(options.nats) : undefined,
  };
  if (resolved.minConnections > resolved.maxConnections) {
    throw invalidArgument(`minConnections (${resolved.minConnections}) is more than maxConnections (${resolved.maxConnections})`);
  }
  return Object.freeze(resolved);
}
