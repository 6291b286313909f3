/**
 * The supervisor's log: its own messages and every line its children print, through one pino
 * logger, each line tagged with `service` (and `instance`, and `stream` for a child's lines).
 *
 * Where a line goes, once it passes the level:
 * - the terminal (stdout, or `destination`): pino-pretty when `pretty` (default: stdout is a
 *   TTY), one JSON object per line otherwise;
 * - with `logDir`: `<logDir>/<service>.log` for the lines of a service (its children's output and
 *   the supervisor's messages about it), `<logDir>/supervisor.log` for the supervisor's own,
 *   always JSON, opened for append;
 * - memory: the last `recent` (1000) lines of each service, for `warren logs`, and the listeners
 *   of `subscribe` (`warren logs -f`).
 *
 * Decisions:
 * - One level for everything: a line below `level` reaches no output, `silent` writes nothing,
 *   not even to the files or to `recent` (docs/config.md: "silent logs nothing"). The stderr tail
 *   that `warren status` shows is kept by the slot (TailBuffer) whatever the level.
 * - A child's line that is a JSON object with `level` and `msg`, `message` or `time` (pino,
 *   bunyan and most JSON loggers) keeps its fields and its time; its level is mapped to pino's
 *   (numbers 10–60, and names such as `warning`, `err`, `critical`). Its own `service`,
 *   `instance` or `stream` fields, when they differ from the supervisor's tags, are kept as
 *   `childService`, `childInstance`, `childStream`. Any other line is logged as `msg`: at
 *   `info` from stdout, at `warn` from stderr (stderr carries warnings and crashes, but also
 *   ordinary progress from many tools: `warn` makes it stand out without calling every such
 *   line an error). Blank lines are dropped. Nothing a child prints makes this throw.
 * - Every destination is synchronous: the terminal is written with `write()` (synchronous on
 *   Linux for files, pipes and terminals) and the files are `pino.destination({ sync: true })`.
 *   A line is in the file when the call that logged it returns, so the last lines before a
 *   crash are not lost, `warren status` and tests read them at once, and `flush()`/`close()`
 *   have nothing left to lose. The cost, one write per line and file, is small next to what
 *   a supervisor logs.
 * - pino-pretty runs in this thread as a function (`prettyFactory`) on each line: no worker
 *   transport, so no thread, nothing to resolve at run time (it works bundled and under ESM),
 *   and pretty output keeps its order with everything else.
 * - logDir is created 0700 and its files 0600, like the socket directory: logs hold request
 *   details and error messages that may be private. An existing directory keeps its mode.
 * - Lines are JSON with pino's numeric `level` and `time` in ms since the epoch; no `pid` or
 *   `hostname` of the supervisor (a child's own are kept).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Level, type Logger, pino } from 'pino';
import { isColorSupported, prettyFactory } from 'pino-pretty';
import { ConfigError, invalidArgument } from '../errors.js';
import { SERVICE_NAME_PATTERN } from '../service/socket-dir.js';
import type { LogLevel } from './config.js';
import { TailBuffer } from './lines.js';
import type { LogRecord } from './protocol.js';

/** The `service` tag of the supervisor's own lines (and the name of their file). */
export const SUPERVISOR_SERVICE = 'supervisor';
/** Lines kept in memory per service by default. */
export const DEFAULT_RECENT_LINES = 1000;
/** New lines a `logs({ follow: true })` reader may fall behind before the oldest are dropped. */
export const FOLLOW_QUEUE_LIMIT = 10_000;
/** Mode of a log directory the supervisor creates, and of its files. */
export const LOG_DIR_MODE = 0o700;
export const LOG_FILE_MODE = 0o600;

export type ChildStream = 'stdout' | 'stderr';

/** One log line as `recent`, `subscribe` and `logs` give it. */
export interface LogLine extends LogRecord {
  /** ms since the epoch (the child's own time for its JSON lines). */
  time: number;
  /** pino's level name: trace, debug, info, warn, error or fatal. */
  level: string;
  /** The service, or `supervisor` for the supervisor's own lines. */
  service: string;
  /** null for the supervisor's lines and its messages about a whole service. */
  instance: number | null;
  /** `supervisor` for the supervisor's messages (about a service or its own). */
  stream: ChildStream | 'supervisor';
  msg: string;
  /** Every other field of the JSON line (a child's own fields, `err`, `truncated`…). */
  fields: Readonly<Record<string, unknown>>;
}

export type LogListener = (line: LogLine) => void;

export interface SupervisorLogOptions {
  level: LogLevel;
  /** Directory for `<service>.log` and `supervisor.log`; null for none. */
  logDir: string | null;
  /** pino-pretty instead of JSON lines on the terminal; default: the destination is a TTY. */
  pretty?: boolean;
  /** Colours in pretty output; default: when writing to process.stdout and it supports them. */
  colorize?: boolean;
  /** Where terminal output goes; default process.stdout (tests pass their own). */
  destination?: NodeJS.WritableStream;
  /** Lines kept in memory per service for `recent` and `logs` (1000). */
  recent?: number;
}

export interface LogsOptions {
  service?: string;
  /** How many recent lines first (default: every line kept). */
  lines?: number;
  /** Then new lines as they come, until the signal aborts or the log closes. */
  follow?: boolean;
}

export interface SupervisorLog {
  /** The supervisor's own logger: its lines carry `service: 'supervisor'`. */
  readonly logger: Logger;
  readonly level: LogLevel;
  readonly logDir: string | null;
  /** A logger for the supervisor's messages about a service as a whole (`{ service }`). */
  service(service: string): Logger;
  /** A logger for the supervisor's messages about one instance (`{ service, instance }`). */
  instance(service: string, instance: number): Logger;
  /** Logs one line a child printed (see the module comment for how it is read). */
  childLine(service: string, instance: number, stream: ChildStream, line: string, truncated?: boolean): void;
  /** The supervisor's message about itself (service null), a service or an instance: SupervisorOutput.event. */
  event(level: 'info' | 'warn' | 'error', service: string | null, instance: number | null, msg: string): void;
  /** Same as childLine: SupervisorOutput.line. */
  line(service: string, instance: number, stream: ChildStream, line: string, truncated?: boolean): void;
  /** The newest `limit` lines kept (every one kept by default) of a service, or of all merged in order; oldest first. */
  recent(service?: string, limit?: number): LogLine[];
  /** Calls `listener` with each new line of a service (or of all); returns the unsubscribe function. */
  subscribe(service: string | undefined, listener: LogListener): () => void;
  /** `recent`, then with `follow` new lines as they come: SupervisorOutput.logs, for `warren logs [-f]`. */
  logs(options: LogsOptions, signal?: AbortSignal): AsyncIterable<LogLine>;
  /** Resolves once everything logged so far is written (files are synchronous; waits for the terminal to drain). */
  flush(): Promise<void>;
  /** Flushes and closes the files; later lines are dropped and `logs` readers end. Idempotent. */
  close(): Promise<void>;
}

/** Creates the log. Throws a ConfigError (WARREN_CONFIG) when logDir cannot be created or written. */
export function createSupervisorLog(options: SupervisorLogOptions): SupervisorLog {
  return new Log(options);
}

// ---------------------------------------------------------------------------------------------
// Reading a child's line.

const PINO_LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

const LEVEL_NAMES: Readonly<Record<string, Level>> = {
  trace: 'trace',
  silly: 'trace',
  debug: 'debug',
  verbose: 'debug',
  info: 'info',
  information: 'info',
  notice: 'info',
  log: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  err: 'error',
  fatal: 'fatal',
  critical: 'fatal',
  crit: 'fatal',
  alert: 'fatal',
  emerg: 'fatal',
  emergency: 'fatal',
  panic: 'fatal',
};

/**
 * pino's level for a child's `level` value: pino/bunyan numbers (10 trace … 60 fatal, values in
 * between rounded down), their names and common aliases in any case; null when not recognised.
 */
export function childLevel(value: unknown): Level | null {
  let number: number | null = null;
  if (typeof value === 'number') number = value;
  else if (typeof value === 'string') {
    const name = value.trim().toLowerCase();
    if (/^\d+$/.test(name)) number = Number(name);
    else return LEVEL_NAMES[name] ?? null;
  }
  if (number === null || !Number.isFinite(number)) return null;
  return PINO_LEVELS[Math.min(5, Math.max(0, Math.floor(number / 10) - 1))] ?? null;
}

/** How `childLine` reads a line: its level, message and the fields to keep. */
export interface ChildLineParts {
  level: Level;
  msg: string;
  /** The child's fields (none for a plain line), without level and message; `time` when it had one. */
  fields: Record<string, unknown>;
  /** True when the line was a JSON log line. */
  json: boolean;
}

const TAGS = { service: 'childService', instance: 'childInstance', stream: 'childStream' } as const;

/**
 * Reads one line a child printed: a JSON log line keeps its fields (see the module comment),
 * anything else is a plain message at `info` (stdout) or `warn` (stderr). Never throws.
 */
export function readChildLine(service: string, instance: number, stream: ChildStream, line: string): ChildLineParts {
  const plain = (): ChildLineParts => ({ level: stream === 'stderr' ? 'warn' : 'info', msg: line, fields: {}, json: false });
  const trimmed = line.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) return plain();
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return plain();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return plain();
  const record = parsed as Record<string, unknown>;
  const has = (key: string) => Object.hasOwn(record, key);
  if (!has('level') || !(has('msg') || has('message') || has('time'))) return plain();

  const fields: Record<string, unknown> = {};
  const messageKey = has('msg') ? 'msg' : has('message') ? 'message' : null;
  const ours = { service, instance, stream };
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (key === 'level' || key === messageKey || key === '__proto__') continue;
    if (key === 'time') {
      if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'string') fields.time = value;
      else fields.childTime = value;
    } else if (key === 'service' || key === 'instance' || key === 'stream') {
      if (value !== ours[key]) fields[TAGS[key]] = value;
    } else {
      fields[key] = value;
    }
  }
  const level = childLevel(record.level);
  if (level === null) fields.childLevel = record.level;
  const message = messageKey === null ? '' : record[messageKey];
  return {
    level: level ?? (stream === 'stderr' ? 'warn' : 'info'),
    msg: typeof message === 'string' ? message : (safeStringify(message) ?? String(message)),
    fields,
    json: true,
  };
}

function safeStringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The log.

type FileDestination = ReturnType<typeof pino.destination>;

interface Entry {
  seq: number;
  line: LogLine;
}

interface Subscriber {
  service: string | undefined;
  listener: LogListener;
}

/** Child loggers kept for `instance()`; instance numbers are reused, so this stays small, but it is capped. */
const MAX_CACHED_LOGGERS = 4096;

class Log implements SupervisorLog {
  readonly logger: Logger;
  readonly level: LogLevel;
  readonly logDir: string | null;
  private readonly root: Logger;
  private readonly out: NodeJS.WritableStream;
  private terminalBroken = false;
  private readonly onTerminalError = () => {
    // EPIPE (`warren up | head`) and the like: stop writing there, keep the files and memory.
    this.terminalBroken = true;
  };
  private readonly pretty: ((log: object) => string) | null;
  private readonly files = new Map<string, FileDestination | null>();
  private readonly recentCapacity: number;
  private readonly buffers = new Map<string, TailBuffer<Entry>>();
  private readonly subscribers = new Set<Subscriber>();
  private readonly loggers = new Map<string, Logger>();
  private readonly closeWaiters = new Set<() => void>();
  private seq = 0;
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(options: SupervisorLogOptions) {
    this.level = options.level;
    this.logDir = options.logDir;
    this.out = options.destination ?? process.stdout;
    this.out.on?.('error', this.onTerminalError);
    const recent = options.recent ?? DEFAULT_RECENT_LINES;
    if (!Number.isSafeInteger(recent) || recent < 0) throw invalidArgument(`recent must be a whole number ≥ 0, got ${String(recent)}`);
    this.recentCapacity = recent;

    const pretty = options.pretty ?? (this.out as { isTTY?: boolean }).isTTY === true;
    this.pretty = pretty ? makePrettifier(options.colorize ?? (this.out === process.stdout && isColorSupported)) : null;

    if (this.logDir !== null) {
      try {
        mkdirSync(this.logDir, { recursive: true, mode: LOG_DIR_MODE });
      } catch (error) {
        throw logDirError(this.logDir, error);
      }
      // Opened now, so that a directory that cannot be written stops `warren up` at once.
      const file = this.openFile(SUPERVISOR_SERVICE);
      if (file instanceof Error) throw logDirError(this.logDir, file);
    }

    this.root = pino(
      {
        level: this.level,
        base: null,
        // `time` comes from the mixin, so that a child's own `time` (in the merge object) wins
        // instead of appearing twice in the line.
        timestamp: false,
        mixin: () => ({ time: Date.now() }),
        // A child's `err` field is plain JSON already: only real Errors go through pino's serializer.
        serializers: { err: (value: unknown) => (value instanceof Error ? pino.stdSerializers.err(value) : value) },
      },
      { write: (line: string) => this.route(line) },
    );
    this.logger = this.root.child({ service: SUPERVISOR_SERVICE });
  }

  service(service: string): Logger {
    return this.cached(service, null);
  }

  instance(service: string, instance: number): Logger {
    return this.cached(service, instance);
  }

  childLine(service: string, instance: number, stream: ChildStream, line: string, truncated = false): void {
    if (this.closed || this.level === 'silent') return;
    try {
      if (typeof line !== 'string' || line.trim() === '') return;
      const parts = readChildLine(service, instance, stream, line);
      if (!this.root.isLevelEnabled(parts.level)) return;
      const fields: Record<string, unknown> = { service, instance, stream, ...parts.fields };
      if (truncated) fields.truncated = true;
      this.root[parts.level](fields, parts.msg);
    } catch {
      // A line that cannot be logged is dropped rather than taking the supervisor down.
    }
  }

  line(service: string, instance: number, stream: ChildStream, line: string, truncated = false): void {
    this.childLine(service, instance, stream, line, truncated);
  }

  event(level: 'info' | 'warn' | 'error', service: string | null, instance: number | null, msg: string): void {
    const logger = service === null ? this.logger : this.cached(service, instance);
    logger[level](msg);
  }

  recent(service?: string, limit = Number.POSITIVE_INFINITY): LogLine[] {
    const take = Number.isNaN(limit) ? 0 : Math.max(0, Math.floor(limit));
    if (service !== undefined) return (this.buffers.get(service)?.last(take) ?? []).map((entry) => entry.line);
    const all: Entry[] = [];
    for (const buffer of this.buffers.values()) for (const entry of buffer.last(take)) all.push(entry);
    all.sort((a, b) => a.seq - b.seq);
    return all.slice(Math.max(0, all.length - take)).map((entry) => entry.line);
  }

  subscribe(service: string | undefined, listener: LogListener): () => void {
    const subscriber: Subscriber = { service, listener };
    if (!this.closed) this.subscribers.add(subscriber);
    return () => {
      this.subscribers.delete(subscriber);
    };
  }

  async *logs(options: LogsOptions, signal?: AbortSignal): AsyncGenerator<LogLine> {
    const { service, follow = false } = options;
    if (signal?.aborted) return;
    const queue: LogLine[] = [];
    let dropped = 0;
    let wake: (() => void) | null = null;
    const awaken = () => {
      const resolve = wake;
      wake = null;
      resolve?.();
    };
    // Subscribed in the same tick as the backlog is taken: no line is missed or seen twice.
    const unsubscribe = follow
      ? this.subscribe(service, (line) => {
          queue.push(line);
          if (queue.length > FOLLOW_QUEUE_LIMIT) {
            queue.shift();
            dropped++;
          }
          awaken();
        })
      : null;
    const backlog = this.recent(service, options.lines);
    signal?.addEventListener('abort', awaken);
    this.closeWaiters.add(awaken);
    try {
      for (const line of backlog) {
        if (signal?.aborted) return;
        yield line;
      }
      while (follow && !signal?.aborted && !this.closed) {
        if (dropped > 0) {
          const count = dropped;
          dropped = 0;
          yield droppedNotice(service, count);
          continue;
        }
        const line = queue.shift();
        if (line !== undefined) {
          yield line;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      unsubscribe?.();
      signal?.removeEventListener('abort', awaken);
      this.closeWaiters.delete(awaken);
    }
  }

  async flush(): Promise<void> {
    for (const file of this.files.values()) {
      try {
        file?.flushSync();
      } catch {
        // Nothing buffered (synchronous destination) or a broken file: nothing to wait for.
      }
    }
    const out = this.out as NodeJS.WritableStream & { writableNeedDrain?: boolean; destroyed?: boolean };
    if (!this.terminalBroken && out.writableNeedDrain === true && out.destroyed !== true) {
      await new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done);
          out.off('close', done);
          out.off('error', done);
          resolve();
        };
        out.on('drain', done);
        out.on('close', done);
        out.on('error', done);
      });
    }
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    await this.flush();
    this.closed = true;
    this.subscribers.clear();
    for (const awaken of this.closeWaiters) awaken();
    const files = [...this.files.values()].filter((file): file is FileDestination => file !== null);
    this.files.clear();
    await Promise.all(files.map(closeFile));
    this.out.removeListener?.('error', this.onTerminalError);
  }

  private cached(service: string, instance: number | null): Logger {
    const key = instance === null ? service : `${service}\0${instance}`;
    let logger = this.loggers.get(key);
    if (logger === undefined) {
      if (this.loggers.size >= MAX_CACHED_LOGGERS) this.loggers.clear();
      logger = this.root.child(instance === null ? { service } : { service, instance });
      this.loggers.set(key, logger);
    }
    return logger;
  }

  /** pino's destination: every line that passed the level, serialized. */
  private route(json: string): void {
    if (this.closed) return;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(json) as Record<string, unknown>;
    } catch {
      return; // pino writes JSON: not reached
    }
    const line = toLogLine(parsed);
    this.toTerminal(this.pretty === null ? json : this.prettify(parsed, json));
    const file = this.fileFor(line.service);
    if (file !== null) {
      try {
        file.write(json);
      } catch {
        // A destroyed destination (after a write error, reported by its 'error' listener).
      }
    }
    this.remember(line);
  }

  private prettify(parsed: Record<string, unknown>, json: string): string {
    try {
      return (this.pretty as (log: object) => string)(parsed);
    } catch {
      return json; // never lose a line to the prettifier
    }
  }

  private toTerminal(text: string): void {
    if (this.terminalBroken) return;
    try {
      this.out.write(text);
    } catch {
      this.terminalBroken = true;
    }
  }

  private remember(line: LogLine): void {
    if (this.recentCapacity > 0) {
      let buffer = this.buffers.get(line.service);
      if (buffer === undefined) {
        buffer = new TailBuffer<Entry>(this.recentCapacity);
        this.buffers.set(line.service, buffer);
      }
      buffer.push({ seq: this.seq++, line });
    }
    for (const subscriber of this.subscribers) {
      if (subscriber.service !== undefined && subscriber.service !== line.service) continue;
      try {
        subscriber.listener(line);
      } catch {
        // A listener's failure is its own: the log goes on.
      }
    }
  }

  /** The file for a service's lines: its own when its name is a valid service name, else supervisor.log. */
  private fileFor(service: string): FileDestination | null {
    if (this.logDir === null) return null;
    const name = SERVICE_NAME_PATTERN.test(service) ? service : SUPERVISOR_SERVICE;
    const file = this.files.get(name);
    if (file !== undefined) return file;
    const opened = this.openFile(name);
    if (opened instanceof Error) {
      // Reported once, after this line (the report itself is logged: no re-entry into route).
      queueMicrotask(() =>
        this.logger.error({ err: opened }, `cannot open ${name}.log in ${this.logDir}: its lines go to the other outputs only`),
      );
      return null;
    }
    return opened;
  }

  /** Opens `<logDir>/<name>.log` for append; on failure records null (not retried) and returns the error. */
  private openFile(name: string): FileDestination | Error {
    const path = join(this.logDir as string, `${name}.log`);
    try {
      const file = pino.destination({ dest: path, append: true, sync: true, mkdir: false, mode: LOG_FILE_MODE });
      file.on('error', (error: Error) => {
        if (this.files.get(name) !== file) return;
        this.files.set(name, null);
        queueMicrotask(() => this.logger.error({ err: error }, `cannot write ${path}: its lines go to the other outputs only`));
      });
      this.files.set(name, file);
      return file;
    } catch (error) {
      this.files.set(name, null);
      return error instanceof Error ? error : new Error(String(error));
    }
  }
}

function logDirError(dir: string, error: unknown): ConfigError {
  const message = `cannot write log files in ${dir}: ${(error as Error).message}`;
  return new ConfigError(`logDir: ${message}`, { issues: [{ path: 'logDir', message }], cause: error });
}

function closeFile(file: FileDestination): Promise<void> {
  return new Promise<void>((resolve) => {
    if ((file as { destroyed?: boolean }).destroyed === true) {
      resolve();
      return;
    }
    file.once('close', () => resolve());
    file.once('error', () => resolve());
    try {
      file.end();
    } catch {
      resolve();
    }
  });
}

/** The structured form of a line pino wrote. */
function toLogLine(record: Record<string, unknown>): LogLine {
  const { level, time, msg, service, instance, stream, ...fields } = record;
  const label = typeof level === 'number' ? (pino.levels.labels[level] ?? String(level)) : String(level);
  let at = Date.now();
  if (typeof time === 'number' && Number.isFinite(time)) at = time;
  else if (typeof time === 'string') {
    const parsed = Date.parse(time);
    if (Number.isFinite(parsed)) at = parsed;
  }
  return Object.freeze({
    time: at,
    level: label,
    service: typeof service === 'string' ? service : SUPERVISOR_SERVICE,
    instance: typeof instance === 'number' ? instance : null,
    stream: stream === 'stdout' || stream === 'stderr' ? stream : 'supervisor',
    msg: typeof msg === 'string' ? msg : msg === undefined ? '' : (safeStringify(msg) ?? String(msg)),
    fields: Object.freeze(fields),
  });
}

function droppedNotice(service: string | undefined, count: number): LogLine {
  return Object.freeze({
    time: Date.now(),
    level: 'warn',
    service: service ?? SUPERVISOR_SERVICE,
    instance: null,
    stream: 'supervisor',
    msg: `${count} log lines dropped: this reader fell more than ${FOLLOW_QUEUE_LIMIT} lines behind`,
    fields: Object.freeze({ dropped: count }),
  });
}

/**
 * The `[service.instance]` tag of a pretty line: `[supervisor]`, `[users]`, `[users.0]` for the
 * supervisor's messages, `[users.0 out]` and `[users.0 err]` for what the instance printed.
 */
export function prettyTag(log: Record<string, unknown>): string {
  const service = typeof log.service === 'string' ? log.service : SUPERVISOR_SERVICE;
  const instance = typeof log.instance === 'number' ? `.${log.instance}` : '';
  const stream = log.stream === 'stdout' ? ' out' : log.stream === 'stderr' ? ' err' : '';
  return `[${service}${instance}${stream}]`;
}

function makePrettifier(colorize: boolean): (log: object) => string {
  return prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'service,instance,stream,pid,hostname',
    messageFormat: (log, messageKey, _levelLabel, { colors }) => {
      const msg = log[messageKey];
      return `${colors.bold(prettyTag(log))} ${typeof msg === 'string' ? msg : (safeStringify(msg) ?? '')}`;
    },
  });
}
