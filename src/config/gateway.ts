/**
 * The `gateway` section of the warren config (docs/config.md, "The gateway"), as one zod schema,
 * and the environment variables that override it, with the names users of HTTP → Unix-socket
 * bridges know (HTTP_PORT, SOCKET_POOL_MAX, …), each also as WARREN_<NAME> (which wins).
 * The supervisor's schema includes this section; `warren gateway` resolves it with the
 * environment. Every check says "expected …"; a bad value is one line naming key, value and
 * what was expected.
 */
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { cacheSchema, corsSchema } from './gateway-edge.js';
import { gatewayWebSocketSchema, hubAddressOf } from './gateway-websocket.js';

/** pino's levels, as the supervisor's logLevel takes them. */
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** Longest duration accepted, in ms: Node timers fire at once past it. */
const MAX_MS = 2_147_483_647;

/** The defaults, as documented in docs/config.md. */
export const GATEWAY_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  socketPoolMin: 2,
  socketPoolMax: 10,
  socketConnectionTimeoutMs: 5_000,
  socketHealthCheckIntervalMs: 30_000,
  timeoutMs: 30_000,
  bodyLimit: 1_048_576,
  maxHeaderBytes: 16_384,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  logLevel: 'info' as (typeof LEVELS)[number],
  accessLog: true,
  compression: true,
  compressionThreshold: 1_024,
  metrics: true as boolean | string,
  openapi: true as boolean | string,
});

/** Where `metrics: true` and `openapi: true` answer. */
export const METRICS_PATH = '/metrics';
export const OPENAPI_PATH = '/openapi.json';
/** Paths the gateway answers itself whatever the config. */
const RESERVED_PATHS = ['/healthz', '/readyz'];

function int(min: number, max: number, expected: string) {
  const error = `expected ${expected}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}
const ms = (min: number) => int(min, MAX_MS, `a whole number of ms from ${min} to ${MAX_MS}`);
const nonEmpty = (what: string) => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });

const SERVICE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const PREFIX = /^\/[A-Za-z0-9._~!$&'()+,;=:@%/-]*[^/]$/;
const ENDPOINT_PATH = /^\/[A-Za-z0-9._~!$&'()+,;=:@%/-]*$/;
const endpointError = (what: string, example: string) =>
  `expected true, false, or a path starting with "/" without "?", "#" or spaces to serve ${what} at (e.g. "${example}")`;
/** `true` (the default path), `false` (not served) or the path to serve it at. */
const endpoint = (what: string, example: string, fallback: boolean | string) =>
  z
    .union([z.boolean(), z.string().regex(ENDPOINT_PATH, { error: endpointError(what, example) })], { error: endpointError(what, example) })
    .default(fallback as boolean);
const prefixError = 'expected a path prefix starting with "/", without a trailing "/", "?", "#" or spaces (e.g. "/api/users")';

const TLS_KEYS = ['certFile', 'keyFile', 'caFile', 'passphrase'];

export const gatewayConfigShape = {
  host: nonEmpty('a host name or address to listen on (a non-empty string)').default(GATEWAY_DEFAULTS.host),
  port: int(0, 65_535, 'a TCP port from 0 to 65535 (0: any free port)').default(GATEWAY_DEFAULTS.port),
  /** Service name → the path prefix its routes are served under. */
  prefixes: z
    .record(
      z.string().regex(SERVICE_NAME, { error: 'expected a service name as the key' }),
      z.string({ error: prefixError }).regex(PREFIX, { error: prefixError }),
      { error: 'expected an object of service names to path prefixes' },
    )
    .default({}),
  socketPoolMin: int(0, 1_000, 'a whole number of connections from 0 to 1000').default(GATEWAY_DEFAULTS.socketPoolMin),
  socketPoolMax: int(1, 1_000, 'a whole number of connections from 1 to 1000').default(GATEWAY_DEFAULTS.socketPoolMax),
  socketConnectionTimeoutMs: ms(1).default(GATEWAY_DEFAULTS.socketConnectionTimeoutMs),
  socketHealthCheckIntervalMs: ms(0).default(GATEWAY_DEFAULTS.socketHealthCheckIntervalMs),
  timeoutMs: ms(1).default(GATEWAY_DEFAULTS.timeoutMs),
  bodyLimit: int(0, 1_073_741_824, 'a whole number of bytes from 0 to 1073741824').default(GATEWAY_DEFAULTS.bodyLimit),
  maxHeaderBytes: int(1_024, 1_048_576, 'a whole number of bytes from 1024 to 1048576').default(GATEWAY_DEFAULTS.maxHeaderBytes),
  headersTimeoutMs: ms(1).default(GATEWAY_DEFAULTS.headersTimeoutMs),
  keepAliveTimeoutMs: ms(1).default(GATEWAY_DEFAULTS.keepAliveTimeoutMs),
  logLevel: z.enum(LEVELS, { error: `expected one of ${LEVELS.join(', ')}` }).default(GATEWAY_DEFAULTS.logLevel),
  logDir: nonEmpty('a path to a directory (a non-empty string)').optional(),
  accessLog: z.boolean({ error: 'expected true or false' }).default(GATEWAY_DEFAULTS.accessLog),
  compression: z.boolean({ error: 'expected true or false' }).default(GATEWAY_DEFAULTS.compression),
  compressionThreshold: int(0, 1_073_741_824, 'a whole number of bytes from 0 to 1073741824').default(
    GATEWAY_DEFAULTS.compressionThreshold,
  ),
  /** HTTPS (and HTTP/2 unless http2 is false) with these PEM files; read at start and again by `reloadTls()` (SIGHUP). */
  tls: z
    .strictObject(
      {
        certFile: nonEmpty('a path to a PEM certificate file (a non-empty string)'),
        keyFile: nonEmpty('a path to a PEM private key file (a non-empty string)'),
        caFile: nonEmpty('a path to a PEM file of intermediate certificates (a non-empty string)').optional(),
        passphrase: z.string({ error: 'expected the passphrase of the key (a string)' }).optional(),
      },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys' ? undefined : 'expected an object { certFile, keyFile, caFile?, passphrase? }',
      },
    )
    .optional(),
  /** HTTP/2 (with HTTP/1.1 for clients without it) when tls is set; default true. */
  http2: z.boolean({ error: 'expected true or false' }).optional(),
  rateLimit: z
    .array(
      z.strictObject({
        prefix: z
          .string({ error: 'expected a path prefix starting with /' })
          .regex(/^\//, { error: 'expected a path prefix starting with /' }),
        perSecond: z.number({ error: 'expected requests per second above 0' }).positive({ error: 'expected requests per second above 0' }),
        burst: int(1, 1_000_000, 'a whole number of requests from 1 to 1000000'),
      }),
      { error: 'expected a list of { prefix, perSecond, burst }' },
    )
    .default([]),
  cors: corsSchema,
  cache: cacheSchema,
  /** WebSocket upgrades on this path go to the hub (gateway-websocket.ts); absent: none are taken. */
  websocket: gatewayWebSocketSchema.optional(),
  /** Serve the metrics in the Prometheus text format (docs/gateway.md, Metrics). */
  metrics: endpoint('the metrics', '/internal/metrics', GATEWAY_DEFAULTS.metrics),
  /** Serve an OpenAPI 3.1 document of the routes (docs/gateway.md, OpenAPI). */
  openapi: endpoint('the OpenAPI document', '/api/openapi.json', GATEWAY_DEFAULTS.openapi),
};

export const gatewayConfigSchema = z
  .strictObject(gatewayConfigShape, { error: (issue) => (issue.code === 'unrecognized_keys' ? undefined : 'expected an object') })
  .superRefine((config, ctx) => {
    if (Number.isInteger(config.socketPoolMin) && Number.isInteger(config.socketPoolMax) && config.socketPoolMin > config.socketPoolMax) {
      ctx.addIssue({
        code: 'custom',
        path: ['socketPoolMin'],
        input: config.socketPoolMin,
        message: `expected at most socketPoolMax (${config.socketPoolMax}), got ${config.socketPoolMin}`,
      });
    }
    const metrics = endpointPath(config.metrics, METRICS_PATH);
    const openapi = endpointPath(config.openapi, OPENAPI_PATH);
    for (const [key, path] of [
      ['metrics', metrics],
      ['openapi', openapi],
    ] as const) {
      if (path === undefined || !RESERVED_PATHS.includes(path)) continue;
      ctx.addIssue({
        code: 'custom',
        path: [key],
        input: path,
        message: `expected a path other than ${RESERVED_PATHS.join(' and ')}, got "${path}"`,
      });
    }
    if (metrics !== undefined && metrics === openapi) {
      ctx.addIssue({
        code: 'custom',
        path: ['openapi'],
        input: openapi,
        message: `expected a path other than metrics' ("${metrics}"), got "${openapi}"`,
      });
    }
  });

/** The path a `metrics` or `openapi` setting serves at: `true` → `fallback`, `false` → none. */
export function endpointPath(setting: boolean | string, fallback: string): string | undefined {
  return setting === true ? fallback : setting === false ? undefined : setting;
}

/** The section as written in a config file: every key may be left out. */
export type GatewayConfig = z.input<typeof gatewayConfigSchema>;
/** The section with its defaults applied. */
export type ResolvedGatewayConfig = Readonly<z.output<typeof gatewayConfigSchema>>;

type Converter = (raw: string) => unknown;
const number: Converter = (raw) => (/^\s*-?\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : raw);
const seconds: Converter = (raw) => (/^\s*\d+(\.\d+)?\s*$/.test(raw) ? Math.round(Number(raw) * 1000) : raw);
const text: Converter = (raw) => raw;
const flagOrPath: Converter = (raw) => (/^\s*(true|1)\s*$/i.test(raw) ? true : /^\s*(false|0)\s*$/i.test(raw) ? false : raw);

/** Each variable (also read as WARREN_<name>, which wins), the key it sets and how its text is read. */
export const GATEWAY_ENV_VARS = Object.freeze({
  HTTP_HOST: { key: 'host', read: text, unit: '' },
  HTTP_PORT: { key: 'port', read: number, unit: '' },
  SOCKET_POOL_MIN: { key: 'socketPoolMin', read: number, unit: '' },
  SOCKET_POOL_MAX: { key: 'socketPoolMax', read: number, unit: '' },
  SOCKET_CONNECTION_TIMEOUT: { key: 'socketConnectionTimeoutMs', read: seconds, unit: 's' },
  SOCKET_HEALTH_CHECK_INTERVAL: { key: 'socketHealthCheckIntervalMs', read: seconds, unit: 's' },
  LOG_LEVEL: { key: 'logLevel', read: text, unit: '' },
  LOG_DIR: { key: 'logDir', read: text, unit: '' },
  GATEWAY_METRICS: { key: 'metrics', read: flagOrPath, unit: '' },
  GATEWAY_OPENAPI: { key: 'openapi', read: flagOrPath, unit: '' },
  TLS_CERT_FILE: { key: 'tls.certFile', read: text, unit: '' },
  TLS_KEY_FILE: { key: 'tls.keyFile', read: text, unit: '' },
} as const);

/** Sets `key` (`a` or `a.b`) in `raw`; a nested key copies its object, so the caller's section is never changed. */
function setKey(raw: Record<string, unknown>, key: string, value: unknown): void {
  const dot = key.indexOf('.');
  if (dot < 0) {
    raw[key] = value;
    return;
  }
  const outer = key.slice(0, dot);
  const inner = raw[outer];
  const copy = typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? { ...inner } : {};
  (copy as Record<string, unknown>)[key.slice(dot + 1)] = value;
  raw[outer] = copy;
}

/**
 * The gateway section resolved: the file's section (or nothing), the environment's overrides on
 * top, defaults for the rest. Throws a ConfigError with one line per bad value, naming the key
 * (and the variable it came from), the value and what was expected.
 * @example
 * const config = resolveGatewayConfig({ port: 8080 }, process.env);
 */
export function resolveGatewayConfig(section: unknown, env: NodeJS.ProcessEnv = {}): ResolvedGatewayConfig {
  const isObject = typeof section === 'object' && section !== null && !Array.isArray(section);
  const raw: unknown = section === undefined || section === null ? {} : isObject ? { ...section } : section;
  const from = new Map<string, string>();
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    for (const [name, { key, read, unit }] of Object.entries(GATEWAY_ENV_VARS)) {
      const variable = env[`WARREN_${name}`] !== undefined ? `WARREN_${name}` : env[name] !== undefined ? name : undefined;
      if (variable === undefined) continue;
      setKey(raw as Record<string, unknown>, key, read(env[variable] as string));
      from.set(key, `${variable}=${JSON.stringify(env[variable])}${unit === 's' ? ' (seconds)' : ''}`);
    }
  }
  const parsed = gatewayConfigSchema.safeParse(raw, { reportInput: true });
  if (parsed.success) {
    const { websocket } = parsed.data;
    if (websocket !== undefined) websocket.hub ??= hubAddressOf(undefined, env);
    return Object.freeze(parsed.data);
  }
  const issues: ConfigIssue[] = parsed.error.issues.map((issue) => {
    const key = issue.path.map(String).join('.');
    const source = from.get(key) ?? from.get(String(issue.path[0]));
    const input =
      (issue as { input?: unknown }).input ?? issue.path.reduce<unknown>((at, step) => (at as Record<PropertyKey, unknown>)?.[step], raw);
    const got = source ?? JSON.stringify(input) ?? 'nothing';
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown key(s) ${issue.keys.join(', ')}${issue.path.length === 0 ? `; known keys: ${Object.keys(gatewayConfigShape).join(', ')}` : key === 'tls' ? `; known keys: ${TLS_KEYS.join(', ')}` : ''}`
        : issue.code === 'custom'
          ? issue.message
          : `${issue.message}, got ${got}`;
    return { path: key === '' ? 'gateway' : `gateway.${key}`, message };
  });
  const lines = issues.map((issue) => `${issue.path}: ${issue.message}`);
  throw new ConfigError(`invalid gateway config: ${lines.join('; ')}`, { issues });
}
