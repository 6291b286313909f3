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
 *   transport, so no thread, and pretty output keeps its order with everything else. It is an
 *   optional peer dependency (a lighter install for servers, whose stdout is rarely a terminal),
 *   so it is required only when pretty output is wanted: asked for without it installed is a
 *   ConfigError saying to install it; pretty only by default (a TTY) falls back to JSON lines
 *   and says so once.
 * - logDir is created 0700 and its files 0600, like the socket directory: logs hold request
 *   details and error messages that may be private. An existing directory keeps its mode.
 * - Lines are JSON with pino's numeric `level` and `time` in ms since the epoch; no `pid` or
 *   `hostname` of the supervisor (a child's own are kept).
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { ConfigError, invalidArgument } from '../errors.js';
import { SERVICE_NAME_PATTERN } from '../service/socket-dir.js';
import { type ChildStream, readChildLine, safeStringify } from './child-line.js';
import type { LogLevel } from './config.js';
import { DEFAULT_RECENT_LINES, type LogLine, type LogListener, LogStore, type LogsOptions, SUPERVISOR_SERVICE } from './log-store.js';
import type { SupervisorOutput } from './output.js';

export type { ChildLineParts, ChildStream } from './child-line.js';
export { childLevel, readChildLine } from './child-line.js';
export type { LogLine, LogListener, LogsOptions } from './log-store.js';
export { DEFAULT_RECENT_LINES, FOLLOW_QUEUE_LIMIT, SUPERVISOR_SERVICE } from './log-store.js';

/** Mode of a log directory the supervisor creates, and of its files. */
export const LOG_DIR_MODE = 0o700;
export const LOG_FILE_MODE = 0o600;

export interface SupervisorLogOptions {
  level: LogLevel;
  /** Directory for `<service>.log` and `supervisor.log`; null for none. */
  logDir: string | null;
  /** pino-pretty instead of JSON lines on the terminal; default: the destination is a TTY. */
  pretty?: boolean | undefined;
  /** Colours in pretty output; default: when writing to process.stdout and it supports them. */
  colorize?: boolean;
  /** Where terminal output goes; default process.stdout (tests pass their own). */
  destination?: NodeJS.WritableStream;
  /** Lines kept in memory per service for `recent` and `logs` (1000). */
  recent?: number;
}

/**
 * The supervisor's output (event, line, logs) made of pino: terminal, files and memory, and
 * loggers for the supervisor's own messages.
 */
export interface SupervisorLog extends Required<SupervisorOutput> {
  /** The supervisor's own logger: its lines carry `service: 'supervisor'`. */
  readonly logger: Logger;
  readonly level: LogLevel;
  readonly logDir: string | null;
  /** A logger for the supervisor's messages about a service as a whole (`{ service }`). */
  service(service: string): Logger;
  /** A logger for the supervisor's messages about one instance (`{ service, instance }`). */
  instance(service: string, instance: number): Logger;
  /** The newest `limit` lines kept (every one kept by default) of a service, or of all merged in order; oldest first. */
  recent(service?: string, limit?: number): LogLine[];
  /** Calls `listener` with each new line of a service (or of all); returns the unsubscribe function. */
  subscribe(service: string | undefined, listener: LogListener): () => void;
  /** `recent`, then with `follow` new lines as they come, for `warren logs [-f]`. */
  logs(options: LogsOptions, signal?: AbortSignal): AsyncIterable<LogLine>;
  /** Resolves once everything logged so far is written (files are synchronous; waits for the terminal to drain). */
  flush(): Promise<void>;
}

/** Creates the log. Throws a ConfigError (WARREN_CONFIG) when logDir cannot be created or written. */
export function createSupervisorLog(options: SupervisorLogOptions): SupervisorLog {
  return new Log(options);
}

// ---------------------------------------------------------------------------------------------
// The log.

type FileDestination = ReturnType<typeof pino.destination>;

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
  private readonly store: LogStore;
  private readonly loggers = new Map<string, Logger>();
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(options: SupervisorLogOptions) {
    this.level = options.level;
    this.logDir = options.logDir;
    this.out = options.destination ?? process.stdout;
    this.out.on?.('error', this.onTerminalError);
    const recent = options.recent ?? DEFAULT_RECENT_LINES;
    if (!Number.isSafeInteger(recent) || recent < 0) throw invalidArgument(`recent must be a whole number ≥ 0, got ${String(recent)}`);
    this.store = new LogStore(recent);

    const pretty = options.pretty ?? (this.out as { isTTY?: boolean }).isTTY === true;
    const pinoPretty = pretty ? loadPinoPretty() : null;
    if (pretty && pinoPretty === null && options.pretty === true) {
      throw new ConfigError(
        'pretty logs need the pino-pretty package, which is not installed: npm install pino-pretty (or WARREN_LOG_PRETTY=0 for JSON lines)',
      );
    }
    this.pretty =
      pinoPretty === null
        ? null
        : makePrettifier(pinoPretty, options.colorize ?? (this.out === process.stdout && pinoPretty.isColorSupported));
    const prettyMissing = pretty && pinoPretty === null;

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
    if (prettyMissing) this.logger.info('pino-pretty is not installed: logging JSON lines (npm install pino-pretty for readable ones)');
  }

  service(service: string): Logger {
    return this.cached(service, null);
  }

  instance(service: string, instance: number): Logger {
    return this.cached(service, instance);
  }

  line(service: string, instance: number, stream: ChildStream, line: string, truncated = false): void {
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

  event(level: 'info' | 'warn' | 'error', service: string | null, instance: number | null, msg: string): void {
    const logger = service === null ? this.logger : this.cached(service, instance);
    logger[level](msg);
  }

  recent(service?: string, limit?: number): LogLine[] {
    return this.store.recent(service, limit);
  }

  subscribe(service: string | undefined, listener: LogListener): () => void {
    return this.store.subscribe(service, listener);
  }

  logs(options: LogsOptions, signal?: AbortSignal): AsyncIterable<LogLine> {
    return this.store.logs(options, signal);
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
    this.store.close();
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
    this.store.add(line);
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

type PinoPretty = typeof import('pino-pretty');

/** pino-pretty, or null when it is not installed (it is an optional peer dependency). */
function loadPinoPretty(): PinoPretty | null {
  try {
    // pino-pretty is CommonJS: a synchronous require keeps the log's construction synchronous.
    return createRequire(import.meta.url)('pino-pretty') as PinoPretty;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((error as Error).message).includes("'pino-pretty'"))
      return null;
    throw error;
  }
}

function makePrettifier({ prettyFactory }: PinoPretty, colorize: boolean): (log: object) => string {
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
