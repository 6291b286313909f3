/**
 * Where the supervisor's messages and its instances' lines go: the one interface the supervisor
 * writes to, and the pino log (logger.ts) that implements it for `warren up`: pretty when stdout
 * is a terminal (unless WARREN_LOG_PRETTY=0), JSON lines otherwise, per-service files in logDir.
 */
import type { ResolvedConfig } from './config.js';
import type { LogsOptions } from './log-store.js';
import { createSupervisorLog, type SupervisorLog } from './logger.js';
import type { LogRecord } from './protocol.js';

export interface SupervisorOutput {
  /** The supervisor's message about itself (service null), a service (instance null) or an instance. */
  event(level: 'info' | 'warn' | 'error', service: string | null, instance: number | null, msg: string): void;
  /** A line an instance printed; `truncated` when it was cut at its maximum length (it ends with a marker). */
  line(service: string, instance: number, stream: 'stdout' | 'stderr', line: string, truncated?: boolean): void;
  /** Recent and (with follow) new log records, for `warren logs`; without it `warren logs` has nothing to show. */
  logs?(options: LogsOptions, signal?: AbortSignal): AsyncIterable<LogRecord>;
  /** Flushes and closes what it writes to; later lines are dropped and `logs` readers end. Idempotent. */
  close?(): Promise<void>;
}

/** Environment variable: `0` forces JSON lines on a terminal, `1` forces pretty output. */
export const LOG_PRETTY_ENV = 'WARREN_LOG_PRETTY';

export function createSupervisorOutput(
  config: Pick<ResolvedConfig, 'logLevel' | 'logDir'>,
  env: NodeJS.ProcessEnv = process.env,
): SupervisorLog {
  const forced = env[LOG_PRETTY_ENV];
  // Unset: the log decides (pretty on a terminal, when pino-pretty is installed); forced on, it must be.
  const pretty = forced === '0' ? false : forced === '1' ? true : undefined;
  return createSupervisorLog({ level: config.logLevel, logDir: config.logDir, pretty });
}
