/**
 * Reading one line a child printed: a JSON log line (pino, bunyan and most JSON loggers: an object
 * with `level` and `msg`, `message` or `time`) keeps its fields, its time and its level mapped to
 * pino's; anything else is a plain message at `info` (stdout) or `warn` (stderr). See logger.ts.
 */
import type { Level } from 'pino';

export type ChildStream = 'stdout' | 'stderr';

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

/** How the log reads a child's line: its level, message and the fields to keep. */
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

export function safeStringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
