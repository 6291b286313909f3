/**
 * The `realtime` section of the warren config (the WebSocket hub), with its environment
 * overrides. Each setting has a variable `WS_…` (or `REDIS_URL`, `NATS_URL`) and the same name prefixed
 * `WARREN_`, which wins when both are set. Values from the environment are strings: they are
 * turned into numbers and lists here, then one zod schema checks file and environment alike.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { DEFAULT_NATS_PREFIX, NATS_PREFIX_PATTERN } from '../realtime/nats/subjects.js';
import { resolveNatsOptions } from '../service/nats/options.js';

const MIB = 1024 * 1024;

export const REALTIME_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 6001,
  path: '/ws',
  maxMessageSize: 10 * MIB,
  writeBufferSize: 5 * MIB,
  heartbeatIntervalS: 60,
  broadcast: 'unix',
  registry: 'local',
  formatter: 'json',
  natsPrefix: DEFAULT_NATS_PREFIX,
});

/** Each setting's variable (also read as `WARREN_<name>`, which wins). */
export const REALTIME_ENV_VARS = Object.freeze({
  host: 'WS_HOST',
  port: 'WS_PORT',
  maxMessageSize: 'WS_MAX_MESSAGE_SIZE',
  writeBufferSize: 'WS_WRITE_BUFFER_SIZE',
  heartbeatIntervalS: 'WS_HEARTBEAT_INTERVAL',
  allowedOrigins: 'WS_ALLOWED_ORIGINS',
  broadcast: 'WS_BROADCAST',
  registry: 'WS_REGISTRY',
  formatter: 'WS_FORMATTER',
  redisUrl: 'REDIS_URL',
  natsUrl: 'NATS_URL',
  natsPrefix: 'WS_NATS_PREFIX',
  authSecret: 'WS_AUTH_SECRET',
  channelSecret: 'WS_CHANNEL_SECRET',
} as const);

type EnvKey = keyof typeof REALTIME_ENV_VARS;
const NUMERIC: ReadonlySet<EnvKey> = new Set(['port', 'maxMessageSize', 'writeBufferSize', 'heartbeatIntervalS']);

const whole = (min: number, max: number, what: string) =>
  z
    .number({ error: `expected ${what}` })
    .int({ error: `expected ${what}` })
    .min(min, { error: `expected ${what}` })
    .max(max, { error: `expected ${what}` });
const secret = z
  .string({ error: 'expected a secret of at least 16 characters' })
  .min(16, { error: 'expected a secret of at least 16 characters' });

export const realtimeSchema = z.strictObject(
  {
    host: z.string({ error: 'expected a host name or address' }).min(1).default(REALTIME_DEFAULTS.host),
    port: whole(0, 65_535, 'a TCP port from 0 to 65535').default(REALTIME_DEFAULTS.port),
    path: z
      .string({ error: "expected a path starting with '/'" })
      .startsWith('/', { error: "expected a path starting with '/'" })
      .default(REALTIME_DEFAULTS.path),
    maxMessageSize: whole(1, 2 ** 31 - 1, 'a whole number of bytes ≥ 1').default(REALTIME_DEFAULTS.maxMessageSize),
    writeBufferSize: whole(1, Number.MAX_SAFE_INTEGER, 'a whole number of bytes ≥ 1').default(REALTIME_DEFAULTS.writeBufferSize),
    heartbeatIntervalS: z
      .number({ error: 'expected a number of seconds > 0' })
      .positive({ error: 'expected a number of seconds > 0' })
      .default(REALTIME_DEFAULTS.heartbeatIntervalS),
    allowedOrigins: z.array(z.string({ error: 'expected a list of origins' }), { error: 'expected a list of origins' }).default([]),
    broadcast: z.enum(['unix', 'redis', 'nats'], { error: 'expected "unix", "redis" or "nats"' }).default('unix'),
    registry: z.enum(['local', 'redis'], { error: 'expected "local" or "redis"' }).default('local'),
    formatter: z.enum(['json', 'msgpack'], { error: 'expected "json" or "msgpack"' }).default('json'),
    redisUrl: z
      .string({ error: 'expected a redis:// URL' })
      .regex(/^rediss?:\/\//, { error: 'expected a redis:// URL' })
      .optional(),
    /** NATS server(s) of broadcast "nats": nats://host:port, several separated by commas (default nats://127.0.0.1:4222). */
    natsUrl: z.string({ error: 'expected a nats:// URL' }).min(1, { error: 'expected a nats:// URL' }).optional(),
    /** The subject prefix the hubs of one application share on NATS (`<prefix>.<channel>`). */
    natsPrefix: z
      .string({ error: 'expected a NATS subject prefix such as warren.ws' })
      .regex(NATS_PREFIX_PATTERN, { error: "expected a NATS subject prefix: dot-separated tokens without spaces, '*' or '>'" })
      .default(REALTIME_DEFAULTS.natsPrefix),
    /** The built-in authentication: a signed user token (signUserToken) checked with this secret. */
    authSecret: secret.optional(),
    /** The secret of HMAC channel tokens for private and presence channels. */
    channelSecret: secret.optional(),
    connectionRate: z
      .strictObject(
        { perSecond: z.number().min(0), burst: whole(1, 1_000_000, 'a whole number ≥ 1').optional() },
        { error: 'expected { perSecond, burst? }' },
      )
      .optional(),
    recovery: z
      .strictObject({ size: whole(0, 100_000, 'a whole number from 0 to 100000').optional(), windowMs: z.number().min(0).optional() })
      .optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? undefined : 'expected an object (the realtime section)') },
);

export type RealtimeConfigInput = z.input<typeof realtimeSchema>;
export type RealtimeConfig = z.output<typeof realtimeSchema>;

/** The value of a setting's variable: `WARREN_<name>` first, then `<name>`; empty counts as unset. */
function fromEnv(env: NodeJS.ProcessEnv, name: string): { name: string; value: string } | undefined {
  const prefixed = env[`WARREN_${name}`];
  if (prefixed) return { name: `WARREN_${name}`, value: prefixed };
  const plain = env[name];
  if (plain) return { name, value: plain };
  return undefined;
}

/** NATS_URL and WS_NATS_PREFIX (or their WARREN_ names) as the hub reads them: for `warren emit --nats`. */
export function natsBroadcastEnv(env: NodeJS.ProcessEnv = process.env): { natsUrl: string | undefined; natsPrefix: string | undefined } {
  return { natsUrl: fromEnv(env, REALTIME_ENV_VARS.natsUrl)?.value, natsPrefix: fromEnv(env, REALTIME_ENV_VARS.natsPrefix)?.value };
}

/**
 * The realtime section with the environment applied over it, validated. `section` is the config
 * file's `realtime` object (or undefined). Throws a ConfigError naming every bad key, its value
 * and what was expected.
 */
export function resolveRealtimeConfig(section: unknown, env: NodeJS.ProcessEnv = process.env, configPath?: string): RealtimeConfig {
  const merged: Record<string, unknown> = typeof section === 'object' && section !== null && !Array.isArray(section) ? { ...section } : {};
  const sources = new Map<string, string>();
  for (const [key, variable] of Object.entries(REALTIME_ENV_VARS) as [EnvKey, string][]) {
    const found = fromEnv(env, variable);
    if (found === undefined) continue;
    sources.set(key, found.name);
    if (NUMERIC.has(key)) merged[key] = found.value.trim() === '' ? Number.NaN : Number(found.value);
    else if (key === 'allowedOrigins')
      merged[key] = found.value
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean);
    else merged[key] = found.value;
  }
  const result = realtimeSchema.safeParse(section === undefined || (typeof section === 'object' && section !== null) ? merged : section);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const where = sources.get(key) ?? `realtime${issue.path.map((p) => `.${String(p)}`).join('')}`;
      const got = key !== '' ? ` (got ${JSON.stringify(merged[key])})` : '';
      const message = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : `${issue.message}${got}`;
      return { path: where, message };
    });
    throw new ConfigError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues, ...(configPath ? { file: configPath } : {}) });
  }
  if ((result.data.broadcast === 'redis' || result.data.registry === 'redis') && result.data.redisUrl === undefined) {
    throw new ConfigError('realtime: broadcast or registry "redis" needs redisUrl (or REDIS_URL)', {
      issues: [{ path: 'realtime.redisUrl', message: 'expected a redis:// URL with broadcast or registry "redis"' }],
    });
  }
  if (result.data.broadcast === 'nats') checkNats(result.data.natsUrl, env, sources.get('natsUrl'), configPath);
  return result.data;
}

/** The NATS settings of broadcast "nats" (the URL, and the NATS_* credentials beside it) as services check them. */
function checkNats(natsUrl: string | undefined, env: NodeJS.ProcessEnv, source: string | undefined, configPath: string | undefined): void {
  try {
    resolveNatsOptions(natsUrl === undefined ? {} : { url: natsUrl }, env);
  } catch (error) {
    // The URL's own message names NATS_URL: said of the key (or variable) it came from instead.
    const raw = (error as Error).message;
    const ofUrl = raw.startsWith('NATS_URL');
    const path = ofUrl ? (source ?? 'realtime.natsUrl') : 'realtime.broadcast';
    const message = `${ofUrl ? raw.replace(/^NATS_URL:?\s*/, '') : raw} (needed by broadcast "nats")`;
    throw new ConfigError(`${path}: ${message}`, { issues: [{ path, message }], ...(configPath ? { file: configPath } : {}) });
  }
}
