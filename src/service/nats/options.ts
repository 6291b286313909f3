/**
 * Where NATS is and how to log in to it: `NatsOptions` from code, or the environment
 * (WARREN_TRANSPORT, NATS_URL, NATS_USER, …, one table in README.md and docs/config.md), resolved
 * once into frozen settings. Plain data only: nothing here loads the NATS client, so a process that
 * never uses NATS never pays for it.
 */
import { invalidArgument } from '../../errors.js';

/** `unix` (the default: sockets only) or `nats` (also across hosts, through NATS). */
export type Transport = 'unix' | 'nats';

export const TRANSPORT_ENV = 'WARREN_TRANSPORT';
export const NATS_ENV = {
  url: 'NATS_URL',
  user: 'NATS_USER',
  pass: 'NATS_PASSWORD',
  token: 'NATS_TOKEN',
  credsFile: 'NATS_CREDS',
  nkeyFile: 'NATS_NKEY',
  caFile: 'NATS_CA',
  certFile: 'NATS_CERT',
  keyFile: 'NATS_KEY',
} as const;

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export interface NatsOptions {
  /** One server URL, several separated by commas, or an array (NATS_URL, else nats://127.0.0.1:4222). */
  url?: string | string[];
  /** User and password (NATS_USER, NATS_PASSWORD). */
  user?: string;
  pass?: string;
  /** A NATS token (NATS_TOKEN): NATS's own, not Warren's. */
  token?: string;
  /** A `.creds` file (user JWT and nkey seed, as `nsc` writes it) (NATS_CREDS). */
  credsFile?: string;
  /** A file holding an nkey seed (`SU…`) (NATS_NKEY). */
  nkeyFile?: string;
  /** TLS to NATS: a CA to trust, and a client certificate and key when the server asks for one (NATS_CA, NATS_CERT, NATS_KEY). */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** How long one connection attempt may take, in ms (2000). */
  connectTimeoutMs?: number;
}

export interface ResolvedNatsOptions {
  readonly servers: readonly string[];
  readonly user: string | undefined;
  readonly pass: string | undefined;
  readonly token: string | undefined;
  readonly credsFile: string | undefined;
  readonly nkeyFile: string | undefined;
  readonly tls: Readonly<{ caFile?: string; certFile?: string; keyFile?: string }> | undefined;
  readonly connectTimeoutMs: number;
}

/** The transport: the option when given, else WARREN_TRANSPORT, else `unix`. */
export function resolveTransport(option: Transport | undefined, env: NodeJS.ProcessEnv = process.env): Transport {
  const raw = option ?? (env[TRANSPORT_ENV] === '' ? undefined : env[TRANSPORT_ENV]) ?? 'unix';
  if (raw !== 'unix' && raw !== 'nats') {
    const source = option === undefined ? TRANSPORT_ENV : 'transport';
    throw invalidArgument(`${source} must be 'unix' or 'nats', got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** Options win over the environment, key by key. */
export function resolveNatsOptions(options: NatsOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedNatsOptions {
  const fromEnv = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const url = options.url ?? fromEnv(NATS_ENV.url) ?? DEFAULT_NATS_URL;
  const servers = (Array.isArray(url) ? url : url.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw invalidArgument(`${NATS_ENV.url} names no server`);
  for (const server of servers) {
    if (!/^(nats|tls):\/\/[^\s/]+$|^[^\s:/]+(:\d+)?$/.test(server)) {
      throw invalidArgument(`${NATS_ENV.url}: ${JSON.stringify(server)} is not a NATS server URL (nats://host:port or tls://host:port)`);
    }
  }
  const user = options.user ?? fromEnv(NATS_ENV.user);
  const pass = options.pass ?? fromEnv(NATS_ENV.pass);
  if ((user === undefined) !== (pass === undefined)) {
    throw invalidArgument(`NATS user and password go together (${NATS_ENV.user}, ${NATS_ENV.pass}): one is missing`);
  }
  const caFile = options.tls?.caFile ?? fromEnv(NATS_ENV.caFile);
  const certFile = options.tls?.certFile ?? fromEnv(NATS_ENV.certFile);
  const keyFile = options.tls?.keyFile ?? fromEnv(NATS_ENV.keyFile);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw invalidArgument(`a TLS client certificate and its key go together (${NATS_ENV.certFile}, ${NATS_ENV.keyFile}): one is missing`);
  }
  const tls =
    caFile === undefined && certFile === undefined && !servers.some((s) => s.startsWith('tls://'))
      ? undefined
      : Object.freeze({
          ...(caFile === undefined ? {} : { caFile }),
          ...(certFile === undefined ? {} : { certFile }),
          ...(keyFile === undefined ? {} : { keyFile }),
        });
  const connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1) {
    throw invalidArgument(`NATS connectTimeoutMs must be a positive whole number of ms, got ${connectTimeoutMs}`);
  }
  return Object.freeze({
    servers: Object.freeze(servers),
    user,
    pass,
    token: options.token ?? fromEnv(NATS_ENV.token),
    credsFile: options.credsFile ?? fromEnv(NATS_ENV.credsFile),
    nkeyFile: options.nkeyFile ?? fromEnv(NATS_ENV.nkeyFile),
    tls,
    connectTimeoutMs,
  });
}
