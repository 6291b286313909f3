/**
 * What a service speaks, in one place and without the code that serves it, so that a process
 * that only calls services, or supervises them, loads nothing of the server: the peer methods
 * of a service connection as typed descriptors, the call format (call-format.ts), and the IPC
 * messages a service process sends its parent, with validators for the receiving side (an IPC
 * message comes from another process: it is checked, never cast). docs/protocol.md §13.
 */
import { method, notification } from '../peer/contract.js';
import type { MetricsSnapshot } from './metrics.js';
import type { PublishedRoute } from './published-routes.js';

export { decodeCall, decodeReply, encodeCall, encodeReply } from './call-format.js';

/** The peer methods of a service connection, by name. */
export const SERVICE_METHODS = {
  hello: 'warren.hello',
  call: 'warren.call',
  metrics: 'warren.metrics',
  /** The service's routes with their JSON Schemas (§13.5), for an HTTP front. */
  routes: 'warren.routes',
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
  routes: method<void, PublishedRoute[]>(SERVICE_METHODS.routes),
  goaway: notification<void>(SERVICE_METHODS.goaway),
});

/** Environment variable holding the instance number of a service process. */
export const INSTANCE_ENV = 'WARREN_INSTANCE';

/** PM2's name for the instance number: the supervisor sets it to the slot, as WARREN_INSTANCE. */
export const NODE_APP_INSTANCE_ENV = 'NODE_APP_INSTANCE';

/**
 * Environment variable holding the number in a service process's socket name when it differs
 * from WARREN_INSTANCE (the supervisor's successor of a slot during a reload); see socketIdFromEnv.
 */
export const SOCKET_ID_ENV = 'WARREN_SOCKET_ID';

/** Environment variable: how often (ms) a service process with an IPC channel reports its counters (1000). */
export const REPORT_INTERVAL_ENV = 'WARREN_REPORT_MS';

/**
 * Environment variable: `1` makes runService start as a standby (docs/config.md, `standby`): it
 * makes its dependencies but does not listen; it says so with a StandbyMessage and waits for an
 * ActivateMessage from its parent, which names its slot and socket number. Only with an IPC channel.
 */
export const STANDBY_ENV = 'WARREN_STANDBY';

/** What a standby process sends over its IPC channel once its dependencies are made: warmed up, not listening. */
export interface StandbyMessage {
  warren: 'standby';
  service: string;
  pid: number;
}

/**
 * What the supervisor sends a standby to make it serve: it sets WARREN_INSTANCE and
 * NODE_APP_INSTANCE to `slot` and WARREN_SOCKET_ID to `socket`, listens on
 * `<service>.<socket>.sock`, runs onReady and sends its ReadyMessage.
 */
export interface ActivateMessage {
  warren: 'activate';
  slot: number;
  socket: number;
}

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

export type ServiceProcessMessage = ReadyMessage | ReportMessage | StandbyMessage;

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

/** Largest slot or socket number an ActivateMessage may carry (as WARREN_INSTANCE accepts). */
const MAX_NUMBER = 999_999_999;

/**
 * A message received from a service process, checked: a ReadyMessage, ReportMessage or
 * StandbyMessage when it is one with every field of the right type, else undefined (the receiver
 * ignores it). The metrics of a report are checked for their shape (objects), not field by field.
 */
export function parseServiceMessage(message: unknown): ServiceProcessMessage | undefined {
  if (!isObject(message)) return undefined;
  if (typeof message.service !== 'string' || !isCount(message.pid)) return undefined;
  if (message.warren === 'standby') return message as unknown as StandbyMessage;
  if (!isCount(message.instance)) return undefined;
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

/** An ActivateMessage received from the parent, checked; undefined for anything else. */
export function parseActivateMessage(message: unknown): ActivateMessage | undefined {
  if (!isObject(message) || message.warren !== 'activate') return undefined;
  const { slot, socket } = message;
  if (!isCount(slot) || !isCount(socket) || slot > MAX_NUMBER || socket > MAX_NUMBER) return undefined;
  return { warren: 'activate', slot, socket };
}
