/**
 * The supervisor's output for `warren up`: pino through createSupervisorLog, pretty when stdout is
 * a terminal (unless WARREN_LOG_PRETTY=0), JSON lines otherwise, per-service files in logDir.
 */
import type { ResolvedConfig } from './config.js';
import { createSupervisorLog, type SupervisorLog } from './logger.js';

/** Environment variable: `0` forces JSON lines on a terminal, `1` forces pretty output. */
export const LOG_PRETTY_ENV = 'WARREN_LOG_PRETTY';

export function createSupervisorOutput(
  config: Pick<ResolvedConfig, 'logLevel' | 'logDir'>,
  env: NodeJS.ProcessEnv = process.env,
): SupervisorLog {
  const forced = env[LOG_PRETTY_ENV];
  const pretty = forced === '0' ? false : forced === '1' ? true : process.stdout.isTTY === true;
  return createSupervisorLog({ level: config.logLevel, logDir: config.logDir, pretty });
}
