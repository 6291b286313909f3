/**
 * The supervisor's configuration: `warren.config.{json,mjs,js,cjs,ts,mts}`, a `.env` file beside
 * it and the `WARREN_*` environment variables, validated by one zod schema and turned once into a
 * frozen `ResolvedConfig` (absolute paths, defaults filled in). docs/config.md describes every key.
 *
 * Precedence for `socketDir`, `logLevel` and `logDir`: the real environment, then `.env`, then the
 * config file, then the defaults. A bad value is reported with its key path, the value received
 * and what was expected, one line per problem and every problem at once, in a `ConfigError`
 * (`WARREN_CONFIG`), so `warren up` can print it and refuse to start.
 *
 * `parseConfig` only validates and resolves (no I/O); `loadConfig` finds and reads the files and
 * checks that every service's entry file exists.
 */
import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type ParseError, parse as parseJson } from 'jsonc-parser';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { MAX_SOCKET_PATH_BYTES, resolveSocketDir, SERVICE_NAME_PATTERN, SOCKET_DIR_ENV } from '../service/socket-dir.js';
import { parseEnvFile } from './env-file.js';

/** pino's levels, most to least severe; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Environment variable that overrides `logLevel`. */
export const LOG_LEVEL_ENV = 'WARREN_LOG_LEVEL';
/** Environment variable that overrides `logDir`. */
export const LOG_DIR_ENV = 'WARREN_LOG_DIR';

/** The keys that environment variables (real, or from `.env`) override, and their variables. */
export const CONFIG_ENV_VARS = Object.freeze({ socketDir: SOCKET_DIR_ENV, logLevel: LOG_LEVEL_ENV, logDir: LOG_DIR_ENV });
type OverriddenKey = keyof typeof CONFIG_ENV_VARS;

/** The file names `loadConfig` looks for when it is given a directory or no path. */
export const CONFIG_FILE_NAMES = [
  'warren.config.json',
  'warren.config.mjs',
  'warren.config.js',
  'warren.config.cjs',
  'warren.config.ts',
  'warren.config.mts',
] as const;

/** The `.env` file read from the config file's directory. */
export const ENV_FILE_NAME = '.env';

const MODULE_EXTENSIONS = new Set(['.mjs', '.js', '.cjs']);
const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts']);

/** Most instances one service may have: a typo should not start thousands of processes. */
export const MAX_INSTANCES = 256;
/** Longest duration accepted, in ms: Node timers fire at once for anything longer (about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

/** The defaults, as documented in docs/config.md. */
export const CONFIG_DEFAULTS = Object.freeze({
  logLevel: 'info' as LogLevel,
  instances: 1,
  restart: Object.freeze({ minDelayMs: 100, maxDelayMs: 10_000, maxUnstableRestarts: 5, stableAfterMs: 5_000 }),
  drainTimeoutMs: 10_000,
  readyTimeoutMs: 10_000,
});

// ---------------------------------------------------------------------------------------------
// The schema. Every check carries the phrase "expected …"; the value received is added when the
// issues are turned into lines (see toIssues).

function integer(min: number, max: number, expected: string) {
  const error = `expected ${expected}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

function duration(min: number) {
  return integer(min, MAX_TIMER_MS, `a whole number of ms from ${min} to ${MAX_TIMER_MS}`);
}

function path(expected: string) {
  const error = `expected ${expected} (a non-empty string)`;
  return z.string({ error }).min(1, { error });
}

/** An object that refuses unknown keys; `what` describes it when something else is found. */
function strict<T extends z.ZodRawShape>(shape: T, what: string) {
  return z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? undefined : `expected ${what}`) });
}

/** Environment variable names: anything but '=', NUL and whitespace. */
const ENV_NAME = /^[^=\0\s]+$/;
const envName = z.string().regex(ENV_NAME, { error: 'expected a variable name without "=", NUL or whitespace' });
const envValue = z
  .string({ error: 'expected a string (write numbers and booleans in quotes)' })
  .regex(/^[^\0]*$/, { error: 'expected a string without NUL characters' });
/** Environment variables: a record of names to string values. */
export const envVarsSchema = z.record(envName, envValue, { error: 'expected an object of variable names to string values' });

/** A section reserved for a later layer: any object, passed through unchecked for now. */
const reserved = z.looseObject({}, { error: 'expected an object (this section is reserved: its keys are not checked yet)' }).optional();

const nameError = `expected a service name: a lower-case letter, then up to 62 lower-case letters, digits, "_" or "-"`;

export const restartSchema = strict(
  {
    minDelayMs: duration(0).default(CONFIG_DEFAULTS.restart.minDelayMs),
    maxDelayMs: duration(0).default(CONFIG_DEFAULTS.restart.maxDelayMs),
    maxUnstableRestarts: integer(0, Number.MAX_SAFE_INTEGER, 'a whole number ≥ 0').default(CONFIG_DEFAULTS.restart.maxUnstableRestarts),
    stableAfterMs: duration(0).default(CONFIG_DEFAULTS.restart.stableAfterMs),
  },
  'an object with minDelayMs, maxDelayMs, maxUnstableRestarts and stableAfterMs',
).superRefine((restart, ctx) => {
  // Zod runs this even when a field failed its own checks: compare only two valid delays.
  const valid = (ms: number) => Number.isSafeInteger(ms) && ms >= 0 && ms <= MAX_TIMER_MS;
  if (valid(restart.minDelayMs) && valid(restart.maxDelayMs) && restart.minDelayMs > restart.maxDelayMs) {
    const { minDelayMs, maxDelayMs } = CONFIG_DEFAULTS.restart;
    ctx.addIssue({
      code: 'custom',
      path: ['maxDelayMs'],
      input: restart.maxDelayMs,
      message: `expected at least minDelayMs (${restart.minDelayMs}), got ${restart.maxDelayMs} (defaults: minDelayMs ${minDelayMs}, maxDelayMs ${maxDelayMs})`,
    });
  }
});

export const serviceSchema = strict(
  {
    name: z.string({ error: nameError }).regex(SERVICE_NAME_PATTERN, { error: nameError }),
    entry: path("a path to the service's main file"),
    instances: integer(1, MAX_INSTANCES, `a whole number from 1 to ${MAX_INSTANCES}`).default(CONFIG_DEFAULTS.instances),
    env: envVarsSchema.default({}),
    restart: restartSchema.prefault({}),
    maxMemoryMB: integer(1, Number.MAX_SAFE_INTEGER, 'a whole number of MB ≥ 1, or null for no limit').nullable().default(null),
    maxRequests: integer(1, Number.MAX_SAFE_INTEGER, 'a whole number ≥ 1, or null for no limit').nullable().default(null),
    execTimeoutMs: integer(1, MAX_TIMER_MS, `a whole number of ms from 1 to ${MAX_TIMER_MS}, or null for no limit`)
      .nullable()
      .default(null),
    drainTimeoutMs: duration(0).default(CONFIG_DEFAULTS.drainTimeoutMs),
    readyTimeoutMs: duration(1).default(CONFIG_DEFAULTS.readyTimeoutMs),
  },
  'a service: an object with at least name and entry',
);

/** The whole config file (after the environment overrides are applied to it). */
export const configSchema = strict(
  {
    $schema: z.string({ error: 'expected a string (the URL of a JSON schema, for editors)' }).optional(),
    socketDir: path('a path to a directory').optional(),
    logLevel: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default(CONFIG_DEFAULTS.logLevel),
    logDir: path('a path to a directory').optional(),
    services: z
      .array(serviceSchema, { error: 'expected a list of services (an array of objects with name and entry)' })
      .min(1, { error: 'expected at least one service' })
      .superRefine((services, ctx) => {
        const first = new Map<string, number>();
        services.forEach((service, index) => {
          if (typeof service?.name !== 'string') return;
          const earlier = first.get(service.name);
          if (earlier === undefined) first.set(service.name, index);
          else {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'name'],
              input: service.name,
              message: `expected a unique name, got ${JSON.stringify(service.name)} again (services[${earlier}].name has it)`,
            });
          }
        });
      }),
    gateway: reserved,
    realtime: reserved,
  },
  'an object with a "services" list',
);

/** A config as written in a file: defaults may be left out. */
export type WarrenConfig = z.input<typeof configSchema>;
export type ServiceConfig = z.input<typeof serviceSchema>;

// ---------------------------------------------------------------------------------------------
// The resolved config.

export interface RestartPolicy {
  /** First delay before restarting a crashed instance, in ms; doubles up to maxDelayMs. */
  readonly minDelayMs: number;
  /** Longest delay between restarts, in ms. */
  readonly maxDelayMs: number;
  /** Crashes in a row, each within stableAfterMs of its start, after which the service is given up on. */
  readonly maxUnstableRestarts: number;
  /** An instance that ran this long counts as stable: the delay and the crash count start over. */
  readonly stableAfterMs: number;
}

export interface ResolvedService {
  readonly name: string;
  /** Absolute path of the entry file. */
  readonly entry: string;
  readonly instances: number;
  /**
   * Variables to add to the supervisor's own environment for this service's processes: the
   * `.env` values the real environment does not set, then the service's `env` (which wins).
   */
  readonly env: Readonly<Record<string, string>>;
  readonly restart: RestartPolicy;
  /** null: no limit. */
  readonly maxMemoryMB: number | null;
  /** null: no limit. */
  readonly maxRequests: number | null;
  /** null: no limit. */
  readonly execTimeoutMs: number | null;
  readonly drainTimeoutMs: number;
  readonly readyTimeoutMs: number;
}

export interface ResolvedConfig {
  /** Absolute path of the config file; null when the config did not come from a file. */
  readonly configPath: string | null;
  /** Directory that relative paths in the file (and in `.env`) are resolved against. */
  readonly baseDir: string;
  /** Absolute path of the `.env` file that was read; null when there was none. */
  readonly envFile: string | null;
  /** Absolute; `resolveSocketDir` applied, so never unset. */
  readonly socketDir: string;
  readonly logLevel: LogLevel;
  /** Absolute; null: logs go to the supervisor's stdout and stderr. */
  readonly logDir: string | null;
  readonly services: readonly ResolvedService[];
  /** Reserved for the gateway (not checked yet); null when absent. */
  readonly gateway: Readonly<Record<string, unknown>> | null;
  /** Reserved for the realtime hub (not checked yet); null when absent. */
  readonly realtime: Readonly<Record<string, unknown>> | null;
}

export interface ParseConfigOptions {
  /** Directory that relative paths in the config and in `.env` are resolved against: the config file's. */
  baseDir: string;
  /** The real environment, for the `WARREN_*` overrides and `XDG_RUNTIME_DIR` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Directory that relative paths in `env` are resolved against (default `process.cwd()`). */
  cwd?: string;
  /** The config file, for messages and `configPath`. */
  configPath?: string;
  /** The `.env` file beside the config, already read and parsed. */
  envFile?: { path: string; values: Readonly<Record<string, string>> };
}

export interface LoadConfigOptions {
  /** The real environment (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Where to look for the config file, and what a relative path is relative to (default `process.cwd()`). */
  cwd?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a config (the parsed file, or a module's default export) and resolves it: the
 * environment overrides applied, defaults filled in, paths made absolute, the socket directory
 * resolved. Reads no file. Throws a `ConfigError` listing every problem.
 *
 * @example
 * const config = parseConfig({ services: [{ name: 'users', entry: './users.mjs' }] }, { baseDir: '/srv/app' });
 * config.services[0].entry; // '/srv/app/users.mjs'
 */
export function parseConfig(raw: unknown, options: ParseConfigOptions): ResolvedConfig {
  const baseDir = resolve(options.baseDir);
  const cwd = resolve(options.cwd ?? process.cwd());
  const env = options.env ?? process.env;
  const envFile = options.envFile;
  const dotenv = envFile?.values ?? {};
  const configPath = options.configPath === undefined ? null : resolve(baseDir, options.configPath);

  // The overrides replace the file's values before validation, so one schema checks them all;
  // `sources` remembers where each came from, for the messages and for relative paths.
  const sources: Partial<Record<OverriddenKey, { label: string; dir: string }>> = {};
  let input = raw;
  if (isObject(raw)) {
    const merged: Record<string, unknown> = { ...raw };
    for (const [key, variable] of Object.entries(CONFIG_ENV_VARS) as [OverriddenKey, string][]) {
      // Empty strings count as unset, as in resolveSocketDir.
      const fromEnv = env[variable];
      const fromDotenv = dotenv[variable];
      if (fromEnv) {
        merged[key] = fromEnv;
        sources[key] = { label: `${variable} in the environment`, dir: cwd };
      } else if (fromDotenv && envFile) {
        merged[key] = fromDotenv;
        sources[key] = { label: `${variable} in ${envFile.path}`, dir: baseDir };
      }
    }
    input = merged;
  }

  const issues: ConfigIssue[] = [];
  if (envFile) {
    const checked = envVarsSchema.safeParse(envFile.values, { reportInput: true });
    if (!checked.success) {
      // A bad name is in its message already ("got …"); a bad value needs its variable's name.
      for (const issue of toIssues(checked.error, {})) {
        const name = issue.message.startsWith('expected a variable name') ? '' : `${issue.path}: `;
        issues.push({ path: '', message: `${envFile.path}: ${name}${issue.message}` });
      }
    }
  }
  const result = configSchema.safeParse(input, { reportInput: true });
  if (!result.success) issues.push(...toIssues(result.error, sources));
  if (!result.success || issues.length > 0) throw configError(issues, configPath);
  const config = result.data;

  const dirOf = (key: OverriddenKey) => sources[key]?.dir ?? baseDir;
  const socketDir = resolveSocketDir(config.socketDir === undefined ? undefined : resolve(dirOf('socketDir'), config.socketDir), env);
  const logDir = config.logDir === undefined ? null : resolve(dirOf('logDir'), config.logDir);
  // `.env` values reach the services, but never over a variable the real environment sets.
  const inherited = Object.entries(dotenv).filter(([key]) => env[key] === undefined);

  const services = config.services.map((service, index): ResolvedService => {
    const last = socketPathLength(socketDir, service.name, service.instances - 1);
    if (last.bytes > MAX_SOCKET_PATH_BYTES) {
      issues.push({
        path: `services[${index}].name`,
        message: `expected a socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes, got ${last.path} (${last.bytes} bytes): use a shorter socketDir or service name`,
      });
    }
    return Object.freeze({
      name: service.name,
      entry: resolve(baseDir, service.entry),
      instances: service.instances,
      env: Object.freeze(Object.fromEntries([...inherited, ...Object.entries(service.env)])),
      restart: Object.freeze({ ...service.restart }),
      maxMemoryMB: service.maxMemoryMB,
      maxRequests: service.maxRequests,
      execTimeoutMs: service.execTimeoutMs,
      drainTimeoutMs: service.drainTimeoutMs,
      readyTimeoutMs: service.readyTimeoutMs,
    });
  });
  if (issues.length > 0) throw configError(issues, configPath);

  return Object.freeze({
    configPath,
    baseDir,
    envFile: envFile ? resolve(baseDir, envFile.path) : null,
    socketDir,
    logLevel: config.logLevel,
    logDir,
    services: Object.freeze(services),
    gateway: config.gateway === undefined ? null : Object.freeze({ ...config.gateway }),
    realtime: config.realtime === undefined ? null : Object.freeze({ ...config.realtime }),
  });
}

function socketPathLength(dir: string, service: string, instance: number): { path: string; bytes: number } {
  const path = join(dir, `${service}.${instance}.sock`);
  return { path, bytes: Buffer.byteLength(path) };
}

/**
 * Finds, reads and resolves the config. `path` may name the file or a directory to look in;
 * without it the config is looked for in `cwd`. The `.env` file beside the config is read when
 * it exists. Every service's entry file must exist. Throws a `ConfigError`: no config file (or
 * several), unreadable file, bad JSON (with line and column), a module that fails to load or
 * has no default export, a TypeScript config without tsx, invalid values, missing entries.
 */
export async function loadConfig(path?: string, options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const file = await locateConfigFile(path === undefined ? cwd : resolve(cwd, path), path !== undefined);
  const raw = await readConfigFile(file);
  const baseDir = dirname(file);
  const envFile = await readEnvFile(join(baseDir, ENV_FILE_NAME), file);
  const config = parseConfig(raw, { baseDir, env: options.env ?? process.env, cwd, configPath: file, envFile });
  await checkEntries(config);
  return config;
}

/**
 * The config file in `dir`: the one of `CONFIG_FILE_NAMES` that exists. Throws a `ConfigError`
 * when none does, or when several do (which one wins would be a guess).
 */
export async function findConfigFile(dir: string): Promise<string> {
  const directory = resolve(dir);
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    throw new ConfigError(`cannot look for a config file in ${directory}: ${(error as Error).message}`, { cause: error });
  }
  const found = CONFIG_FILE_NAMES.filter((name) => names.includes(name));
  if (found.length === 0) {
    throw new ConfigError(`no config file in ${directory}: expected one of ${CONFIG_FILE_NAMES.join(', ')}`);
  }
  if (found.length > 1) {
    throw new ConfigError(`several config files in ${directory} (${found.join(', ')}): keep one, or name the one to use`);
  }
  return join(directory, found[0]!);
}

async function locateConfigFile(target: string, explicit: boolean): Promise<string> {
  let stats: Stats;
  try {
    stats = await stat(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && explicit) throw new ConfigError(`config file ${target} does not exist`, { file: target, cause: error });
    throw new ConfigError(`cannot read config file ${target}: ${(error as Error).message}`, { file: target, cause: error });
  }
  if (stats.isDirectory()) return findConfigFile(target);
  if (!stats.isFile()) throw new ConfigError(`config file ${target} is not a regular file`, { file: target });
  const extension = extname(target);
  if (extension !== '.json' && !MODULE_EXTENSIONS.has(extension) && !TYPESCRIPT_EXTENSIONS.has(extension)) {
    throw new ConfigError(
      `config file ${target} has an unsupported type (${extension || 'no extension'}): use .json, .mjs, .js, .cjs, .ts or .mts`,
      { file: target },
    );
  }
  return target;
}

/** Module configs get a new URL on every load, so that a reload reads the edited file, not Node's cached module. */
let loads = 0;

async function readConfigFile(file: string): Promise<unknown> {
  if (extname(file) === '.json') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`, { file, cause: error });
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${describeJsonError(text, error as Error)}`, { file, cause: error });
    }
  }

  const url = `${pathToFileURL(file).href}?warren-load=${++loads}`;
  let namespace: Record<string, unknown>;
  try {
    namespace = TYPESCRIPT_EXTENSIONS.has(extname(file)) ? await importTypeScript(url) : ((await import(url)) as Record<string, unknown>);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`config module ${file} failed to load: ${(error as Error)?.message ?? String(error)}`, { file, cause: error });
  }
  if (namespace.default === undefined) {
    const named = Object.keys(namespace).filter((key) => key !== 'default');
    const exported = named.length > 0 ? ` (it exports only ${named.join(', ')})` : '';
    throw new ConfigError(`config module ${file} has no default export${exported}: write \`export default { services: [...] }\``, {
      file,
    });
  }
  return namespace.default;
}

async function readEnvFile(path: string, configFile: string): Promise<ParseConfigOptions['envFile']> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`, { file: configFile, cause: error });
  }
  return { path, values: parseEnvFile(text) };
}

async function checkEntries(config: ResolvedConfig): Promise<void> {
  const problems = await Promise.all(
    config.services.map(async (service, index): Promise<ConfigIssue | null> => {
      const where = `services[${index}].entry`;
      try {
        const stats = await stat(service.entry);
        if (stats.isFile()) return null;
        return { path: where, message: `service '${service.name}': entry ${service.entry} is not a file` };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          return { path: where, message: `service '${service.name}': entry file ${service.entry} does not exist` };
        }
        return {
          path: where,
          message: `service '${service.name}': entry file ${service.entry} cannot be read: ${(error as Error).message}`,
        };
      }
    }),
  );
  const issues = problems.filter((issue): issue is ConfigIssue => issue !== null);
  if (issues.length > 0) throw configError(issues, config.configPath);
}

// ---------------------------------------------------------------------------------------------
// Messages.

function configError(issues: readonly ConfigIssue[], file: string | null): ConfigError {
  const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
  const lines = issues.map((issue) => `  ${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`);
  const heading = file === null ? `invalid config (${count}):` : `invalid config ${file} (${count}):`;
  return new ConfigError([heading, ...lines].join('\n'), file === null ? { issues } : { issues, file });
}

/** Zod's issues as one `ConfigIssue` per key path (the first issue of a path wins). */
function toIssues(error: z.ZodError, sources: Partial<Record<string, { label: string }>>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    issues.push({ path, message });
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(issue.path);
      for (const key of issue.keys) {
        const guess = closest(key, known);
        add(
          formatPath([...issue.path, key]),
          `unknown key${guess === undefined ? '' : ` (did you mean "${guess}"?)`}; known keys: ${known.join(', ')}`,
        );
      }
      continue;
    }
    let message: string;
    if (issue.code === 'custom') message = issue.message;
    else if (issue.code === 'invalid_key') message = `${issue.issues[0]?.message ?? 'expected a valid key'}, got ${show(issue.input)}`;
    else if (issue.code === 'invalid_type' && issue.input === undefined) message = `${issue.message}, but the key is missing`;
    else message = `${issue.message}, got ${show(issue.input)}`;
    const top = issue.path.length === 1 ? sources[String(issue.path[0])] : undefined;
    add(formatPath(issue.path), top === undefined ? message : `${message} (from ${top.label})`);
  }
  return issues;
}

/** `['services', 1, 'restart']` → `services[1].restart`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

/** A value as it appears in a message: JSON where possible, cut to 80 characters. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'number') return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? 'an array' : 'an object';
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The keys allowed where an unknown key was found: the object schemas' own shapes (zod's public `.shape`). */
function knownKeys(path: readonly PropertyKey[]): string[] {
  if (path.length === 0) return Object.keys(configSchema.shape);
  if (path[0] === 'services' && path.length === 2) return Object.keys(serviceSchema.shape);
  if (path[0] === 'services' && path.length === 3 && path[2] === 'restart') return Object.keys(restartSchema.shape);
  return [];
}

/** The candidate closest to `word` (case ignored), if it is close enough to be a likely typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * What is wrong with `text` as JSON, and where: V8's description without its position or its
 * copy of the input, at the line and column of the first error jsonc-parser finds. V8 gives no
 * position for some errors, and the format of its messages is not stable; where it only says
 * "Unexpected token", the token named is the one found at that position.
 */
function describeJsonError(text: string, error: Error): string {
  const what = error.message
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/, ".*" is not valid JSON$/s, '')
    .replace(/^JSON\.parse: /, '');
  const errors: ParseError[] = [];
  parseJson(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first === undefined) return what;
  const found = text.slice(first.offset, first.offset + first.length);
  const description = what.startsWith('Unexpected token') && found !== '' ? `Unexpected token '${found}'` : what;
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return `${description} at line ${line}, column ${column}`;
}

/**
 * Loads a TypeScript config through tsx's scoped loader: it compiles this one import (and what it
 * imports) without registering a loader for the rest of the process.
 */
async function importTypeScript(url: string): Promise<Record<string, unknown>> {
  let tsImport: (specifier: string, parentURL: string) => Promise<unknown>;
  try {
    ({ tsImport } = await import('tsx/esm/api'));
  } catch (error) {
    throw new ConfigError(
      `cannot load ${fileURLToPath(url)}: a TypeScript config needs the tsx package (npm install tsx), or write the config as warren.config.mjs or warren.config.json`,
      { file: fileURLToPath(url), cause: error },
    );
  }
  const namespace = (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  // Outside a `"type": "module"` package tsx compiles the file to CommonJS, and Node's import of
  // it puts the whole exports object (marked __esModule) under `default`: unwrap it.
  const inner = namespace.default as { __esModule?: unknown } | undefined;
  if (typeof inner === 'object' && inner !== null && inner.__esModule === true) return inner as Record<string, unknown>;
  return namespace;
}
