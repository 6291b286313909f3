/**
 * The gateway's log through pino: its events (listening, routes, clashes) and one access line per
 * request (method, path, status, duration in ms, bytes, request id). The destination is
 * asynchronous and buffered (log-destination.ts): a synchronous write per request cost a quarter
 * of the gateway's throughput, and sonic-boom's asynchronous one still a fifth. Buffered lines are
 * written at least every FLUSH_EVERY_MS and at close, and event lines at once.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type DestinationStream, type Logger, pino } from 'pino';
import { BufferedDestination } from './log-destination.js';

const FLUSH_EVERY_MS = 1_000;

export interface GatewayLogOptions {
  level: string;
  /** Write to `<logDir>/gateway.log` instead of stdout. */
  logDir?: string | undefined;
  /** One line per request. */
  accessLog: boolean;
  /** Where lines go instead (tests): written synchronously as they come. */
  destination?: NodeJS.WritableStream | undefined;
}

export interface AccessEntry {
  requestId: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  bytes: number;
  service?: string | undefined;
}

export class GatewayLog {
  readonly logger: Logger;
  readonly accessLog: boolean;
  private readonly stream: BufferedDestination | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(options: GatewayLogOptions) {
    this.accessLog =
      options.accessLog &&
      options.level !== 'silent' &&
      pino.levels.values[options.level] !== undefined &&
      pino.levels.values[options.level]! <= 30;
    let destination: DestinationStream;
    if (options.destination !== undefined) {
      destination = options.destination as unknown as DestinationStream;
    } else {
      if (options.logDir !== undefined) mkdirSync(options.logDir, { recursive: true });
      const stream = new BufferedDestination(options.logDir === undefined ? 1 : join(options.logDir, 'gateway.log'));
      this.stream = stream;
      destination = stream as unknown as DestinationStream;
      this.timer = setInterval(() => this.flush(), FLUSH_EVERY_MS);
      this.timer.unref();
    }
    this.destination = destination as unknown as { write(line: string): unknown };
    // No pid or hostname on every line: the supervisor's log says which process wrote it.
    this.logger = pino({ level: options.level, base: { component: 'gateway' } }, destination);
  }

  /**
   * One access line (only when enabled: callers check `accessLog` first). Written as pino would
   * write `logger.info(entry, 'request')`, field for field, but built by hand: pino's generic
   * serialisation cost 3 µs a line, most of what the access log cost the gateway per request.
   */
  access(entry: AccessEntry): void {
    const service = entry.service === undefined ? '' : `,"service":${JSON.stringify(entry.service)}`;
    this.destination.write(
      `{"level":30,"time":${Date.now()},"component":"gateway","requestId":${JSON.stringify(entry.requestId)},"method":"${entry.method}","path":${JSON.stringify(entry.path)},"status":${entry.status},"ms":${entry.ms},"bytes":${entry.bytes}${service},"msg":"request"}\n`,
    );
  }

  /** Where pino writes: the access lines go there directly. */
  private readonly destination: { write(line: string): unknown };

  /** An event line, written at once. */
  event(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> = {}): void {
    this.logger[level](fields, message);
    this.flush();
  }

  flush(): void {
    this.stream?.flush();
  }

  /** Writes what is buffered and closes the log file. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.stream?.end();
  }
}
