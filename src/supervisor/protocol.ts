/**
 * The supervisor's control socket: `<socketDir>/supervisor.sock`, a Warren peer (msgpack)
 * that first says `supervisor.hello` with the socket directory's token. The CLI (`warren
 * status`, `stop`, `reload`, …) and any program may drive a running supervisor through it.
 * The name has no instance number, so service discovery never mistakes it for a service.
 */
import { method } from '../peer/contract.js';
import type { FdCondition } from '../service/protocol.js';

/** File name of the control socket inside the socket directory. */
export const CONTROL_SOCKET = 'supervisor.sock';

/**
 * The life of one instance slot:
 * - starting: its process was spawned and has not said it is ready yet;
 * - online: ready and serving;
 * - draining: being replaced or stopped; it finishes its calls and takes no new ones;
 * - restarting: it exited unexpectedly and waits for its backoff delay before starting again;
 * - errored: it failed too many times in a row (or could not be started); `restart` revives it;
 * - stopped: stopped on purpose.
 */
export type InstanceState = 'starting' | 'online' | 'draining' | 'restarting' | 'errored' | 'stopped';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** Wall clock (ms since the epoch). */
  at: number;
  /**
   * Why the supervisor killed it, when it did so itself before the process was ready: `did not
   * say it was ready (Warren's ready message) within readyTimeoutMs 10000`, a service name that
   * does not match the config, … Absent when the process exited by itself (or was killed by
   * someone else).
   */
  reason?: string;
}

export interface InstanceStatus {
  service: string;
  /**
   * The number in the current process's socket name (`<service>.<instance>.sock`, its
   * WARREN_SOCKET_ID), log tag (`users.3`) and `x-served-by`: unique among the running processes
   * of the service, so a successor started during a reload has another one than its predecessor.
   * Usually equal to the slot. -1 when the slot never had a process.
   */
  instance: number;
  /**
   * The slot (0 … instances−1) this process fills: its WARREN_INSTANCE and NODE_APP_INSTANCE,
   * stable across crashes, restarts and reloads. `warren status` shows one row per slot.
   */
  slot: number;
  pid: number | null;
  state: InstanceState;
  /** Same as state, under the name other process managers use. */
  status: InstanceState;
  /** Wall clock (ms since the epoch) when the current process became ready; null when none is. */
  readySince: number | null;
  /** ms since readySince (0 when not ready). */
  uptime: number;
  /** Per slot, cumulative: unplanned restarts since the supervisor started (recycling and reloads not counted). */
  restarts: number;
  /** Per slot, cumulative: calls answered by all of this slot's processes since the supervisor started. */
  requests: number;
  /** Per slot, cumulative: of which answered with a status of 500 or more. */
  errors: number;
  /** Current process: calls per second over the last report interval. */
  reqPerSec: number;
  /** Mean and p99 latency of the current process (ms). */
  meanMs: number;
  p99Ms: number;
  /** Same as meanMs, under the name other process managers use. */
  avgResponseTime: number;
  /** Current process (and its descendants), measured from /proc at each report interval (its own report without /proc). */
  rssMB: number | null;
  /** Current process (and its descendants): CPU use over the last report interval, in % of one core (from /proc). */
  cpuPercent: number | null;
  /**
   * An online process that speaks Warren's messages but has sent no report for over 3 report
   * intervals (a handler stuck in a loop, say): ms since its last one; null otherwise. Its
   * request figures are then stale; RSS and CPU are still measured.
   */
  silentForMs: number | null;
  /** How the previous process of this slot ended; null when none has. */
  lastExit: ExitInfo | null;
  /**
   * Why the slot is errored, in the supervisor's words (`… serves 'x', but the config calls it
   * 'y' …`, `exited 6 times in a row within stableAfterMs; last: code 1`); null unless errored.
   */
  failure: string | null;
  /** The last lines (at most 20) the current process printed on stderr, or the last failed one's while its successor has printed none (shown for errored instances). */
  stderrTail: string[];
  /**
   * Whether the running process is out of file descriptors (it then refuses new connections and
   * goes on serving those it has), as its last report said; null without a report.
   */
  fds: FdCondition | null;
}

/**
 * A standby process (`standby` in the config): started, warmed up, not listening (no client
 * finds it) until a slot takes it over after a crash or for a recycle.
 */
export interface StandbyStatus {
  service: string;
  /** The number in its log tag (`users.2`); activated, it serves on the socket number its slot gives it. */
  instance: number;
  pid: number | null;
  /** starting: spawned, making its dependencies; standby: warmed up and waiting. */
  state: 'starting' | 'standby';
  /** Wall clock (ms since the epoch) when it said it was warmed up; null while starting. */
  readySince: number | null;
  /** ms since readySince (0 while starting). */
  uptime: number;
  /** Measured from /proc, as for instances; null before the first measurement. */
  rssMB: number | null;
  cpuPercent: number | null;
}

export interface ServiceStatus {
  name: string;
  entry: string;
  instances: InstanceStatus[];
  /**
   * The service's standbys: how many it should have (`standby` in the config), those running, and
   * why no more are started when the supervisor gave up on them (null otherwise). Absent from
   * supervisors older than the `standby` setting.
   */
  standby?: { wanted: number; processes: StandbyStatus[]; failure: string | null };
}

export interface SupervisorStatus {
  pid: number;
  socketDir: string;
  configPath: string | null;
  /** Wall clock (ms since the epoch). */
  startedAt: number;
  state: 'starting' | 'running' | 'stopping' | 'stopped';
  services: ServiceStatus[];
}

/** One line of a service's log as `warren logs` shows it. */
export interface LogRecord {
  time: number;
  level: string;
  service: string;
  instance: number | null;
  stream: 'stdout' | 'stderr' | 'supervisor';
  msg: string;
}

export interface ReloadResult {
  /**
   * What the reload found in the config file and did, one line each, as `warren reload` prints
   * them: `+ billing (1 instance)`, `- legacy`, `users: instances 2 → 3`, `orders: env (API_URL)
   * changed, replacing 2 instances`, `no changes; replacing 4 instances`, and top-level settings
   * it leaves for the next start. Absent from supervisors that do not read their config again.
   */
  changes?: string[];
  /** Per slot replaced: the old and new instance numbers. */
  replaced: { service: string; slot: number; from: number | null; to: number }[];
}

export interface ScaleResult {
  service: string;
  /** Instances before and after. */
  from: number;
  to: number;
  /** The service is stopped (`warren stop <service>`): the count is kept, no instance was started. */
  stopped: boolean;
}

export const CONTROL = {
  hello: method<{ token: string }, { pid: number; socketDir: string; version: string }>('supervisor.hello'),
  status: method<void, SupervisorStatus>('supervisor.status'),
  /**
   * Reads the config file again and applies it (to one service, or all): services added and
   * removed, instances scaled, other changes by a rolling replace; when nothing changed, a rolling
   * replace of every instance. Each instance is replaced only once its successor is ready. A
   * config that does not validate is refused with WARREN_CONFIG and nothing changes.
   */
  reload: method<{ service?: string }, ReloadResult>('supervisor.reload'),
  /** Sets a service's number of instances (1 … 256) until the next reload; answers once they are started or stopped. */
  scale: method<{ service: string; instances: number }, ScaleResult>('supervisor.scale'),
  /** Drains and stops every instance of one service (how many had a process); the others go on. */
  stopService: method<{ service: string }, { service: string; stopped: number }>('supervisor.stopService'),
  /** Starts a service's stopped or errored instances again (how many); answers once each is online or errored. */
  startService: method<{ service: string }, { service: string; started: number }>('supervisor.startService'),
  /** Stops and starts each instance of a service again (not zero-downtime); revives errored ones. */
  restart: method<{ service: string }, { restarted: number }>('supervisor.restart'),
  /** Answers, then stops every instance (drain, then SIGKILL after drainTimeoutMs) and exits. */
  stop: method<void, { stopping: true }>('supervisor.stop'),
  /** Recent log lines, then (with follow) new ones as they come: a stream of LogRecord. */
  logs: method<{ service?: string; lines?: number; follow?: boolean }, AsyncIterable<LogRecord>>('supervisor.logs'),
  /** A new token; the old one stays valid for graceMs (60 s). */
  rotateToken: method<{ graceMs?: number }, { rotated: true }>('supervisor.rotateToken'),
} as const;
