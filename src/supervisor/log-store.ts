/**
 * The log lines the supervisor keeps in memory: the last N of each service (for `warren logs`,
 * merged in the order they were logged when no service is named) and the live readers of new
 * lines (`warren logs -f`). Nothing here formats or writes: logger.ts hands it finished lines.
 */

import { TailBuffer } from '../util/tail-buffer.js';
import type { ChildStream } from './child-line.js';
import type { LogRecord } from './protocol.js';

/** The `service` tag of the supervisor's own lines (and the name of their file). */
export const SUPERVISOR_SERVICE = 'supervisor';
/** Lines kept in memory per service by default. */
export const DEFAULT_RECENT_LINES = 1000;
/** New lines a `logs({ follow: true })` reader may fall behind before the oldest are dropped. */
export const FOLLOW_QUEUE_LIMIT = 10_000;

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

export interface LogsOptions {
  service?: string | undefined;
  /** How many recent lines first (default: every line kept). */
  lines?: number | undefined;
  /** Then new lines as they come, until the signal aborts or the log closes. */
  follow?: boolean;
}

interface Entry {
  seq: number;
  line: LogLine;
}

interface Subscriber {
  service: string | undefined;
  listener: LogListener;
}

export class LogStore {
  private readonly buffers = new Map<string, TailBuffer<Entry>>();
  private readonly subscribers = new Set<Subscriber>();
  private readonly closeWaiters = new Set<() => void>();
  private seq = 0;
  private closed = false;

  /** `capacity`: lines kept per service (0 keeps none; readers still get new lines). */
  constructor(private readonly capacity: number) {}

  /** Keeps `line` and hands it to every reader of its service. */
  add(line: LogLine): void {
    if (this.closed) return;
    if (this.capacity > 0) {
      let buffer = this.buffers.get(line.service);
      if (buffer === undefined) {
        buffer = new TailBuffer<Entry>(this.capacity);
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

  /** The newest `limit` lines kept (every one kept by default) of a service, or of all merged in order; oldest first. */
  recent(service?: string, limit = Number.POSITIVE_INFINITY): LogLine[] {
    const take = Number.isNaN(limit) ? 0 : Math.max(0, Math.floor(limit));
    if (service !== undefined) return (this.buffers.get(service)?.last(take) ?? []).map((entry) => entry.line);
    const all: Entry[] = [];
    for (const buffer of this.buffers.values()) for (const entry of buffer.last(take)) all.push(entry);
    all.sort((a, b) => a.seq - b.seq);
    return all.slice(Math.max(0, all.length - take)).map((entry) => entry.line);
  }

  /** Calls `listener` with each new line of a service (or of all); returns the unsubscribe function. */
  subscribe(service: string | undefined, listener: LogListener): () => void {
    const subscriber: Subscriber = { service, listener };
    if (!this.closed) this.subscribers.add(subscriber);
    return () => {
      this.subscribers.delete(subscriber);
    };
  }

  /** `recent`, then with `follow` new lines as they come, until `signal` aborts or the store closes. */
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

  /** Ends every reader; later lines are dropped. */
  close(): void {
    this.closed = true;
    this.subscribers.clear();
    for (const awaken of this.closeWaiters) awaken();
  }
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
