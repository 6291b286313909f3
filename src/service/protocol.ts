/**
 * What a service speaks, in one place and without the code that serves it, so that a process
 * that only calls services, or supervises them, loads nothing of the server: the peer methods
 * of a service connection as typed descriptors, the call format (call-format.ts), and the IPC
 * messages a service process sends its parent, with validators for the receiving side (an IPC
 * message comes from another process: it is checked, never cast). docs/protocol.md §13.
 */
import { method, notification } from '../peer/contract.js';
import type { MetricsSnapshot } from './metrics.js';

export { decodeCall, decodeReply, encodeCall, encodeReply } from './call-format.js';

/** The peer methods of a service connection, by name. */
export const SERVICE_METHODS = {
  hello: 'warren.hello',
  call: 'warren.call',
  metrics: 'warren.metrics',
  /** Notification from the service: it is draining; send no more calls on this connection and close it when idle. */
  goaway: 'warren.goaway',
} as const;

export interface HelloParams {
  token: string;
  /** The caller's name, for the service's logs (at most 200 characters are kept). */
  client?: string;
}

export interface HelloResult {
  service: string;
  instance: number;
  pid: number;
}

/** The same methods as typed descriptors, for peer.request / peer.onRequest. */
export const serviceMethods = Object.freeze({
  hello: method<HelloParams, HelloResult>(SERVICE_METHODS.hello),
  /** A call in the compact form of call-format.ts; the result is an encoded answer. */
  call: method<unknown[] | Record<string, unknown>, unknown[]>(SERVICE_METHODS.call),
  metrics: method<void, MetricsSnapshot>(SERVICE_METHODS.metrics),
  goaway: notification<void>(SERVICE_METHODS.goaway),
});

/** Environment variable holding the instance number of a service process. */
export const INSTANCE_ENV = 'WARREN_INSTANCE';

/**
 * Environment variable holding the number in a service process's socket name when it differs
 * from WARREN_INSTANCE (the supervisor's successor of a slot during a reload); see socketIdFromEnv.
 */
export const SOCKET_ID_ENV = 'WARREN_SOCKET_ID';

/** Environment variable: how often (ms) a service process with an IPC channel reports its counters (1000). */
export const REPORT_INTERVAL_ENV = 'WARREN_REPORT_MS';

/** The message a service process sends over its IPC channel once it listens. */
export interface ReadyMessage {
  warren: 'ready';
  service: string;
  instance: number;
  path: string;
  pid: number;
}

/**
 * Whether the instance ran out of file descriptors (EMFILE, or ENFILE for the whole system):
 * while it lasts new connections are refused, the instance goes on serving those it has.
 */
export interface FdCondition {
  /** Out of descriptors now: set by a failure, cleared once one could be had again. */
  exhausted: boolean;
  /** The code of the last failure (EMFILE or ENFILE), null if none ever. */
  code: string | null;
  /** When the last failure happened (ms since the epoch), null if none ever. */
  lastAt: number | null;
  /** Failures since the instance started. */
  count: number;
}

/**
 * What a service process sends its parent every report interval: its counters, so that the
 * supervisor shows them (and recycles on them) without asking each process.
 */
export interface ReportMessage {
  warren: 'report';
  service: string;
  instance: number;
  pid: number;
  /** Wall clock (ms since the epoch) when the report was made. */
  at: number;
  metrics: MetricsSnapshot;
  inFlight: number;
  /** How long the oldest asynchronous call still running has run (ms), 0 when none. */
  oldestCallMs: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** process.cpuUsage() since the process started (µs). */
  cpuUserMicros: number;
  cpuSystemMicros: number;
  /**
   * Whether the instance ran out of file descriptors (then it refuses new connections and its
   * rssBytes is the last value it could read).
   */
  fds: FdCondition;
}

export type ServiceProcessMessage = ReadyMessage | ReportMessage;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isAmount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function isFdCondition(v: unknown): v is FdCondition {
  return (
    isObject(v) &&
    typeof v.exhausted === 'boolean' &&
    (v.code === null || typeof v.code === 'string') &&
    (v.lastAt === null || isAmount(v.lastAt)) &&
    isCount(v.count)
  );
}

/**
 * A message received from a service process, checked: a ReadyMessage or ReportMessage when it
 * is one with every field of the right type, else undefined (the receiver ignores it).
 * The metrics of a report are checked for their shape (objects), not field by field.
 */
export function parseServiceMessage(message: unknown): ServiceProcessMessage | undefined {
  if (!isObject(message)) return undefined;
  if (typeof message.service !== 'string' || !isCount(message.instance) || !isCount(message.pid)) return undefined;
  if (message.warren === 'ready') {
    return typeof message.path === 'string' ? (message as unknown as ReadyMessage) : undefined;
  }
  if (message.warren === 'report') {
    const ok =
      isAmount(message.at) &&
      isObject(message.metrics) &&
      isObject(message.metrics.service) &&
      isObject(message.metrics.routes) &&
      isCount(message.inFlight) &&
      isAmount(message.oldestCallMs) &&
      isAmount(message.rssBytes) &&
      isAmount(message.heapUsedBytes) &&
      isAmount(message.cpuUserMicros) &&
      isAmount(message.cpuSystemMicros) &&
      isFdCondition(message.fds);
    return ok ? (message as unknown as ReportMessage) : undefined;
  }
  return undefined;
}
