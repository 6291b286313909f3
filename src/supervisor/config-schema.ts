/**
 * The schema of the supervisor's config file (docs/config.md describes every key), its limits and
 * defaults. Every check carries the phrase "expected …"; config-issues.ts adds the value received.
 */
import { z } from 'zod';
import { gatewayConfigSchema } from '../config/gateway.js';
import { SERVICE_NAME_PATTERN, SOCKET_DIR_ENV } from '../service/socket-dir.js';

/** pino's levels, most to least severe; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Environment variable that overrides `logLevel`. */
export const LOG_LEVEL_ENV = 'WARREN_LOG_LEVEL';
/** Environment variable that overrides `logDir`. */
export const LOG_DIR_ENV = 'WARREN_LOG_DIR';

/** The keys that environment variables (real, or from `.env`) override, and their variables. */
export const CONFIG_ENV_VARS = Object.freeze({ socketDir: SOCKET_DIR_ENV, logLevel: LOG_LEVEL_ENV, logDir: LOG_DIR_ENV });

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

/** Config files loaded as modules. */
export const MODULE_EXTENSIONS = new Set(['.mjs', '.js', '.cjs']);
/** Config files loaded through tsx. */
export const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts']);

/** Most instances one service may have: a typo should not start thousands of processes. */
export const MAX_INSTANCES = 256;
/** Most standby processes one service may keep: each is a whole process, idle. */
export const MAX_STANDBY = 16;
/** Longest duration accepted, in ms: Node timers fire at once for anything longer (about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

/** The defaults, as documented in docs/config.md. */
export const CONFIG_DEFAULTS = Object.freeze({
  logLevel: 'info' as LogLevel,
  instances: 1,
  standby: 0,
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

const argList = (what: string) =>
  z.array(z.string({ error: `expected ${what}: a list of strings` }), { error: `expected ${what}: a list of strings` }).default([]);

/** A TCP port to listen on: 1 … 65535. */
const port = integer(1, 65_535, 'a TCP port from 1 to 65535');

/**
 * `ready: { listen: … }`: online once a connection to this TCP port (on 127.0.0.1 unless `host`
 * says otherwise) or Unix socket path is accepted.
 */
const listenTarget = z.union(
  [
    port,
    path('a Unix socket path'),
    strict({ port, host: path('a host name or address').default('127.0.0.1') }, 'an object with port (and host)'),
  ],
  { error: 'expected a TCP port (1 to 65535), a Unix socket path, or { port, host }' },
);

export const readySchema = z.union(
  [
    z.literal('message'),
    z.literal('spawn'),
    z.literal('listen'),
    strict({ listen: listenTarget }, 'an object { listen: port, path or { port, host } }'),
  ],
  { error: 'expected "message", "spawn", "listen" (with port), or { listen: port, path or { port, host } }' },
);

export const serviceSchema = strict(
  {
    name: z.string({ error: nameError }).regex(SERVICE_NAME_PATTERN, { error: nameError }),
    entry: path("a path to the service's main file"),
    instances: integer(1, MAX_INSTANCES, `a whole number from 1 to ${MAX_INSTANCES}`).default(CONFIG_DEFAULTS.instances),
    standby: integer(0, MAX_STANDBY, `a whole number from 0 to ${MAX_STANDBY}`).default(CONFIG_DEFAULTS.standby),
    env: envVarsSchema.default({}),
    restart: restartSchema.prefault({}),
    maxMemoryMB: integer(1, Number.MAX_SAFE_INTEGER, 'a whole number of MB ≥ 1, or null for no limit').nullable().default(null),
    maxRequests: integer(1, Number.MAX_SAFE_INTEGER, 'a whole number ≥ 1, or null for no limit').nullable().default(null),
    execTimeoutMs: integer(1, MAX_TIMER_MS, `a whole number of ms from 1 to ${MAX_TIMER_MS}, or null for no limit`)
      .nullable()
      .default(null),
    drainTimeoutMs: duration(0).default(CONFIG_DEFAULTS.drainTimeoutMs),
    readyTimeoutMs: duration(1).default(CONFIG_DEFAULTS.readyTimeoutMs),
    args: argList('arguments after the entry'),
    nodeArgs: argList("arguments for the interpreter, before the entry (Node's options by default)"),
    cwd: path('a working directory').optional(),
    interpreter: path('"node", "none" (run the entry itself) or a command such as "python3"').default('node'),
    ready: readySchema.optional(),
    // Held by the supervisor and shared by every instance (shared-port.ts); `host` absent: every
    // address, as Node's listen(port).
    port: port.optional(),
    host: path('a host name or address to bind port on').optional(),
  },
  'a service: an object with at least name and entry',
);

/**
 * How every process of the system reaches NATS with `transport: "nats"`: handed to each as the
 * NATS_* variables (docs/config.md, "Across hosts"); a variable set in the environment or `.env` wins.
 */
export const natsSchema = strict(
  {
    url: z
      .union([path('a NATS server URL'), z.array(path('a NATS server URL')).min(1, { error: 'expected at least one NATS server URL' })], {
        error: 'expected a NATS server URL ("nats://host:4222"), several separated by commas, or a list of them',
      })
      .optional(),
    user: path('a NATS user name').optional(),
    pass: path('a NATS password').optional(),
    token: path('a NATS token').optional(),
    credsFile: path('a path to a .creds file').optional(),
    nkeyFile: path('a path to a file holding an nkey seed').optional(),
    tls: strict(
      {
        caFile: path('a path to a CA certificate').optional(),
        certFile: path('a path to a client certificate').optional(),
        keyFile: path('a path to its key').optional(),
      },
      'an object with caFile, certFile, keyFile',
    ).optional(),
  },
  'an object with url, user, pass, token, credsFile, nkeyFile, tls',
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
        // One port, one service: the supervisor binds it once for that service's instances.
        const ports = new Map<number, number>();
        services.forEach((service, index) => {
          if (typeof service?.port !== 'number') return;
          const earlier = ports.get(service.port);
          if (earlier === undefined) ports.set(service.port, index);
          else {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'port'],
              input: service.port,
              message: `expected a port no other service has, got ${service.port} again (services[${earlier}].port has it; the instances of one service share a port, two services cannot)`,
            });
          }
        });
      }),
    /** `nats`: every process also reaches the services of other hosts over NATS (WARREN_TRANSPORT). */
    transport: z.enum(['unix', 'nats'], { error: 'expected "unix" (this host only) or "nats" (across hosts)' }).optional(),
    nats: natsSchema.optional(),
    /** The HTTP gateway (docs/gateway.md): run as the supervised process `gateway` when present. */
    gateway: gatewayConfigSchema.optional(),
    realtime: reserved,
  },
  'an object with a "services" list',
);

/** A config as written in a file: defaults may be left out. */
export type WarrenConfig = z.input<typeof configSchema>;
export type ServiceConfig = z.input<typeof serviceSchema>;
