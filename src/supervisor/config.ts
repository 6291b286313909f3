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
 * `parseConfig` only validates and resolves (no I/O); `loadConfig` (config-file.ts, re-exported
 * here) finds and reads the files and checks that every service's entry file exists.
 */
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import { resolveGatewayConfig } from '../config/gateway.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { MAX_SOCKET_PATH_BYTES, projectSocketDir, resolveSocketDir, SOCKET_DIR_ENV } from '../service/socket-dir.js';
import { configError, toIssues } from './config-issues.js';
import { CONFIG_ENV_VARS, configSchema, envVarsSchema, type LogLevel, type readySchema } from './config-schema.js';
import { GATEWAY_SERVICE, gatewayService } from './gateway-service.js';
import { HUB_SERVICE_NAME, hubService } from './hub-service.js';
import { passRealtimeToGateway } from './realtime-for-gateway.js';

export * from './config-schema.js';

type OverriddenKey = keyof typeof CONFIG_ENV_VARS;

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

/** When a process counts as online: see `ready` in docs/config.md. */
export type ReadyMode =
  | { readonly kind: 'message' }
  | { readonly kind: 'spawn' }
  | { readonly kind: 'listen'; readonly port: number; readonly host: string }
  | { readonly kind: 'listen'; readonly path: string }
  /**
   * `ready: 'listen'` with `port`: online once the app's listen on the shared port succeeded, as
   * the preload in the process says (a probe cannot tell: the socket is shared and always accepts).
   */
  | { readonly kind: 'shared-port' };

export interface ResolvedService {
  readonly name: string;
  /** Absolute path of the entry file. */
  readonly entry: string;
  readonly instances: number;
  /** Processes kept warmed up, not listening, to take over a slot at once after a crash (0: none). */
  readonly standby: number;
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
  /** Arguments after the entry. */
  readonly args: readonly string[];
  /** Arguments for the interpreter, before the entry. */
  readonly nodeArgs: readonly string[];
  /** Absolute working directory of its processes (default: the config file's directory). */
  readonly cwd: string;
  /** 'node' (Node, through tsx for a .ts entry), 'none' (the entry is the executable) or a command. */
  readonly interpreter: string;
  readonly ready: ReadyMode;
  /** The TCP port the supervisor holds and every instance shares (PORT, WARREN_LISTEN_FD); null: none. */
  readonly port: number | null;
  /** The address `port` is bound on; null: every address, IPv6 and IPv4 (as Node's `listen(port)`). */
  readonly host: string | null;
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
  /** The gateway section, checked, with its defaults; null when absent (then no gateway process runs). */
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
  envFile?: undefined | { path: string; values: Readonly<Record<string, string>> };
  /** A socket directory given on the command line (`warren up --socket-dir`): overrides the rest, and messages name it so. */
  socketDirOption?: string | undefined;
}

export interface LoadConfigOptions {
  /** The real environment (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Where to look for the config file, and what a relative path is relative to (default `process.cwd()`). */
  cwd?: string;
  /** A socket directory given on the command line (`warren up --socket-dir`): overrides the rest, and messages name it so. */
  socketDirOption?: string | undefined;
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
    if (options.socketDirOption) {
      merged.socketDir = options.socketDirOption;
      sources.socketDir = { label: '--socket-dir', dir: cwd };
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
  // Unset everywhere: a config file's project gets a directory of its own (projectSocketDir),
  // so that two projects' supervisors never meet in the shared default one.
  const socketDir =
    config.socketDir !== undefined
      ? resolve(dirOf('socketDir'), config.socketDir)
      : configPath !== null
        ? projectSocketDir(baseDir, env)
        : resolveSocketDir(undefined, env);
  const logDir = config.logDir === undefined ? null : resolve(dirOf('logDir'), config.logDir);
  // `.env` values reach the services, but never over a variable the real environment sets.
  const inherited = Object.entries(dotenv).filter(([key]) => env[key] === undefined);

  // Where the socket directory came from, for the advice on a socket path that is too long.
  const socketDirSource =
    sources.socketDir?.label ??
    (config.socketDir === undefined ? `socket directory (socketDir, --socket-dir or ${SOCKET_DIR_ENV})` : 'socketDir');
  const services: ResolvedService[] = config.services.map((service, index): ResolvedService => {
    // The highest socket number a process of this service can get: during a reload a successor
    // takes the lowest free number from `instances` up while its predecessor still listens, and
    // each standby holds one from there too.
    const last = socketPathLength(socketDir, service.name, 2 * service.instances + service.standby - 1);
    if (last.bytes > MAX_SOCKET_PATH_BYTES) {
      issues.push({
        path: `services[${index}].name`,
        message: `expected a socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes, got ${last.path} (${last.bytes} bytes): use a shorter ${socketDirSource} or service name`,
      });
    }
    const ready = resolveReady(service.ready, service.interpreter, baseDir, service.port);
    issues.push(...portIssues(service, index));
    if (service.standby > 0 && ready.kind !== 'message') {
      issues.push({
        path: `services[${index}].standby`,
        message: `expected 0 for a service whose ready is ${JSON.stringify(readyLabel(ready))}, got ${service.standby}: a standby waits, warmed up and not listening, for the supervisor's word to serve, which only a Warren service (ready: "message", one that calls runService) understands`,
      });
    }
    return Object.freeze({
      name: service.name,
      entry: resolve(baseDir, service.entry),
      instances: service.instances,
      standby: service.standby,
      env: Object.freeze(Object.fromEntries([...inherited, ...Object.entries(service.env)])),
      restart: Object.freeze({ ...service.restart }),
      maxMemoryMB: service.maxMemoryMB,
      maxRequests: service.maxRequests,
      execTimeoutMs: service.execTimeoutMs,
      drainTimeoutMs: service.drainTimeoutMs,
      readyTimeoutMs: service.readyTimeoutMs,
      args: Object.freeze([...service.args]),
      nodeArgs: Object.freeze([...service.nodeArgs]),
      cwd: service.cwd === undefined ? baseDir : resolve(baseDir, service.cwd),
      interpreter: service.interpreter,
      ready,
      port: service.port ?? null,
      host: service.port === undefined ? null : (service.host ?? null),
    });
  });
  if (config.realtime !== undefined) {
    const taken = services.findIndex((service) => service.name === HUB_SERVICE_NAME);
    if (taken >= 0) {
      issues.push({
        path: `services[${taken}].name`,
        message: `expected another name than "${HUB_SERVICE_NAME}": the realtime section runs the WebSocket hub under that name`,
      });
    }
    services.push(hubService({ configPath, baseDir, socketDir, env: Object.freeze(Object.fromEntries(inherited)) }));
  }
  if (config.gateway !== undefined) {
    const clash = config.services.findIndex((service) => service.name === GATEWAY_SERVICE);
    if (clash >= 0) {
      issues.push({
        path: `services[${clash}].name`,
        message: `expected a name other than "${GATEWAY_SERVICE}" when the config has a gateway section (its process is named so), got "${GATEWAY_SERVICE}"`,
      });
    } else {
      const gatewayEnv = Object.fromEntries(inherited);
      try {
        // The port the gateway will listen on (its section, HTTP_PORT… on top): the supervisor holds it.
        const { host, port } = resolveGatewayConfig(config.gateway, { ...env, ...gatewayEnv });
        services.push(gatewayService(config.gateway, baseDir, gatewayEnv, port === 0 ? null : { host, port }));
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        for (const issue of error.issues)
          issues.push({ ...issue, path: issue.path.startsWith('gateway') ? issue.path : `gateway.${issue.path}` });
      }
    }
  }
  if (issues.length > 0) throw configError(issues, configPath);
  passRealtimeToGateway(services, config.realtime);

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

/**
 * A Node entry says it is ready with Warren's message by default; any other interpreter cannot be
 * expected to, so it is online once started unless `ready` says otherwise.
 */
function resolveReady(
  ready: z.output<typeof readySchema> | undefined,
  interpreter: string,
  baseDir: string,
  port: number | undefined,
): ReadyMode {
  // A Node app given a shared port (PM2's cluster mode) is an HTTP server like any other: online
  // once it listens on it.
  if (ready === undefined && port !== undefined && interpreter === 'node') return Object.freeze({ kind: 'shared-port' });
  if (ready === undefined) return Object.freeze({ kind: interpreter === 'node' ? 'message' : 'spawn' });
  if (ready === 'listen') return Object.freeze({ kind: 'shared-port' });
  if (ready === 'message' || ready === 'spawn') return Object.freeze({ kind: ready });
  const { listen } = ready;
  if (typeof listen === 'number') return Object.freeze({ kind: 'listen', port: listen, host: '127.0.0.1' });
  if (typeof listen === 'string') return Object.freeze({ kind: 'listen', path: resolve(baseDir, listen) });
  return Object.freeze({ kind: 'listen', port: listen.port, host: listen.host });
}

/** What is wrong with a service's `port`, `host` and `ready` together. */
function portIssues(service: z.output<typeof configSchema>['services'][number], index: number): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { port, ready, interpreter } = service;
  if (port === undefined) {
    if (ready === 'listen') {
      issues.push({
        path: `services[${index}].ready`,
        message: `expected "listen" only with port (the port the supervisor shares among the instances), got "listen" without it: add port, or use { listen: <port or socket path> } for a port the app binds itself`,
      });
    }
    if (service.host !== undefined) {
      issues.push({
        path: `services[${index}].host`,
        message: `expected host only with port, got ${JSON.stringify(service.host)} without it`,
      });
    }
    return issues;
  }
  if (ready === 'listen' && interpreter !== 'node') {
    issues.push({
      path: `services[${index}].ready`,
      message: `expected "listen" only with interpreter "node", got interpreter ${JSON.stringify(interpreter)}: the listen is seen by a module loaded into Node; another program can listen on WARREN_LISTEN_FD itself, with ready "spawn"`,
    });
  }
  if (typeof ready === 'object' && (ready.listen === port || (typeof ready.listen === 'object' && ready.listen.port === port))) {
    issues.push({
      path: `services[${index}].ready`,
      message: `expected ready "listen" for the shared port ${port}, got { listen: ${port} }: every instance shares the socket, which always accepts, so a probe cannot tell whether the new process listens`,
    });
  }
  return issues;
}

/** How `ready` reads in the config: `spawn`, `{ listen: … }`. */
function readyLabel(ready: ReadyMode): string | { listen: unknown } {
  if (ready.kind === 'shared-port') return 'listen';
  if (ready.kind !== 'listen') return ready.kind;
  return { listen: 'path' in ready ? ready.path : ready.host === '127.0.0.1' ? ready.port : { port: ready.port, host: ready.host } };
}

function socketPathLength(dir: string, service: string, instance: number): { path: string; bytes: number } {
  const path = join(dir, `${service}.${instance}.sock`);
  return { path, bytes: Buffer.byteLength(path) };
}

export { findConfigFile, loadConfig } from './config-file.js';
