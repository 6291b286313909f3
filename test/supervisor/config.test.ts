import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, isWarrenError, WarrenError } from '../../src/errors.js';
import { projectSocketDir } from '../../src/service/socket-dir.js';
import {
  CONFIG_DEFAULTS,
  CONFIG_ENV_VARS,
  CONFIG_FILE_NAMES,
  configSchema,
  loadConfig,
  parseConfig,
  type ResolvedConfig,
  restartSchema,
  serviceSchema,
  type WarrenConfig,
} from '../../src/supervisor/config.js';
import { parseEnvFile } from '../../src/supervisor/env-file.js';

const fixtures = fileURLToPath(new URL('../fixtures/config/', import.meta.url));
const docs = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
const builtConfig = fileURLToPath(new URL('../../dist/supervisor/index.js', import.meta.url));

let dir: string;

beforeEach(() => {
  // realpath: on macOS the temp dir is behind a symlink, and resolved paths are compared below.
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'warren-config-')));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(relative: string, content: string): string {
  const path = join(dir, relative);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
}

function writeJson(relative: string, value: unknown): string {
  return write(relative, JSON.stringify(value, null, 2));
}

const minimal = { services: [{ name: 'users', entry: './users.mjs' }] } satisfies WarrenConfig;

/** parseConfig with an empty environment, so the machine's WARREN_* variables do not leak in. */
function parse(raw: unknown, options: Partial<Parameters<typeof parseConfig>[1]> = {}): ResolvedConfig {
  return parseConfig(raw, { baseDir: dir, env: {}, cwd: dir, ...options });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('WARREN_CONFIG');
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

async function rejected(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a ConfigError');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).code).toBe('WARREN_CONFIG');
  return error as ConfigError;
}

/** The issues of a config with one service whose fields are `service`. */
function serviceIssues(service: Record<string, unknown>) {
  return configError(() => parse({ services: [{ name: 'users', entry: './users.mjs', ...service }] })).issues;
}

describe('parseConfig: defaults and resolution', () => {
  it('fills in every default and makes paths absolute', () => {
    const config = parse(minimal, { env: { XDG_RUNTIME_DIR: '/run/user/4242' } });
    expect(config).toEqual({
      configPath: null,
      baseDir: dir,
      envFile: null,
      socketDir: '/run/user/4242/warren',
      logLevel: 'info',
      logDir: null,
      services: [
        {
          name: 'users',
          entry: join(dir, 'users.mjs'),
          instances: 1,
          standby: 0,
          env: {},
          restart: { minDelayMs: 100, maxDelayMs: 10_000, maxUnstableRestarts: 5, stableAfterMs: 5_000 },
          maxMemoryMB: null,
          maxRequests: null,
          execTimeoutMs: null,
          drainTimeoutMs: 10_000,
          readyTimeoutMs: 10_000,
          args: [],
          nodeArgs: [],
          cwd: dir,
          interpreter: 'node',
          ready: { kind: 'message' },
          port: null,
          host: null,
        },
      ],
      gateway: null,
      realtime: null,
    });
    expect(config.services[0]!.restart).toEqual(CONFIG_DEFAULTS.restart);
  });

  it('falls back to the default socket directory of resolveSocketDir', () => {
    const uid = process.getuid?.();
    const config = parse(minimal);
    expect(config.socketDir).toBe(join(tmpdir(), `warren-${uid}`));
  });

  it('keeps what the file sets, resolving relative paths against the config directory', () => {
    const config = parse(
      {
        socketDir: './run',
        logLevel: 'debug',
        logDir: 'logs',
        services: [
          {
            name: 'users',
            entry: 'services/users.mjs',
            instances: 3,
            env: { PORT: '3000' },
            restart: { minDelayMs: 50 },
            maxMemoryMB: 512,
            maxRequests: 10_000,
            execTimeoutMs: 30_000,
            drainTimeoutMs: 0,
            readyTimeoutMs: 2_000,
          },
          { name: 'mailer', entry: '/opt/mailer/main.js', maxMemoryMB: null },
        ],
      },
      { baseDir: join(dir, 'app'), configPath: 'warren.config.json' },
    );
    expect(config.configPath).toBe(join(dir, 'app', 'warren.config.json'));
    expect(config.socketDir).toBe(join(dir, 'app', 'run'));
    expect(config.logDir).toBe(join(dir, 'app', 'logs'));
    expect(config.logLevel).toBe('debug');
    const [users, mailer] = config.services;
    expect(users).toMatchObject({
      entry: join(dir, 'app', 'services', 'users.mjs'),
      instances: 3,
      env: { PORT: '3000' },
      restart: { minDelayMs: 50, maxDelayMs: 10_000, maxUnstableRestarts: 5, stableAfterMs: 5_000 },
      maxMemoryMB: 512,
      maxRequests: 10_000,
      execTimeoutMs: 30_000,
      drainTimeoutMs: 0,
      readyTimeoutMs: 2_000,
    });
    expect(mailer).toMatchObject({ entry: '/opt/mailer/main.js', maxMemoryMB: null });
  });

  it('returns a frozen config', () => {
    const config = parse({ ...minimal, gateway: { port: 8080 } });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.services)).toBe(true);
    expect(Object.isFrozen(config.services[0])).toBe(true);
    expect(Object.isFrozen(config.services[0]!.restart)).toBe(true);
    expect(Object.isFrozen(config.services[0]!.env)).toBe(true);
    expect(Object.isFrozen(config.gateway)).toBe(true);
  });

  it('accepts the reserved realtime section unchecked; checks the gateway section and runs it as the service "gateway"', () => {
    const config = parse({ ...minimal, gateway: { port: 8081, prefixes: { users: '/api/users' } }, realtime: {} });
    expect(config.gateway).toMatchObject({ port: 8081, host: '127.0.0.1', socketPoolMax: 10, prefixes: { users: '/api/users' } });
    expect(config.realtime).toEqual({});
    const gateway = config.services.find((service) => service.name === 'gateway');
    expect(gateway?.args).toEqual(['gateway']);
    expect(gateway?.entry).toMatch(/dist\/cli\/main\.js$/);
    expect(JSON.parse(gateway?.env.WARREN_GATEWAY_CONFIG as string)).toMatchObject({ port: 8081 });
    expect(parse(minimal).services.some((service) => service.name === 'gateway')).toBe(false);
    expect(configError(() => parse({ ...minimal, gateway: 8080 })).issues).toEqual([
      { path: 'gateway', message: 'expected an object, got 8080' },
    ]);
    expect(configError(() => parse({ ...minimal, gateway: { port: 'x', prot: 1 } })).issues).toEqual([
      { path: 'gateway.port', message: 'expected a TCP port from 0 to 65535 (0: any free port), got "x"' },
      { path: 'gateway.prot', message: expect.stringMatching(/^unknown key \(did you mean "port"\?\)/) },
    ]);
    expect(
      configError(() => parse({ ...minimal, services: [{ name: 'gateway', entry: 'svc.mjs' }], gateway: {} })).issues[0]?.message,
    ).toMatch(/expected a name other than "gateway"/);
  });

  it('hands transport and nats to every process as WARREN_TRANSPORT and NATS_*, under the environment and .env', () => {
    const raw = {
      services: [
        { name: 'users', entry: './users.mjs' },
        { name: 'own', entry: './own.mjs', env: { NATS_TOKEN: 'its-own' } },
      ],
      transport: 'nats',
      nats: { url: ['nats://a:4222', 'nats://b:4222'], user: 'u', pass: 'p', token: 't', credsFile: 'c.creds', tls: { caFile: 'ca.pem' } },
      gateway: {},
      realtime: {},
    };
    const config = parse(raw, {
      env: { NATS_USER: 'from-env' },
      envFile: { path: join(dir, '.env'), values: { NATS_PASSWORD: 'from-dotenv' } },
    });
    const [users, own] = config.services;
    expect(users?.env).toEqual({
      NATS_PASSWORD: 'from-dotenv',
      WARREN_TRANSPORT: 'nats',
      NATS_URL: 'nats://a:4222,nats://b:4222',
      NATS_TOKEN: 't',
      NATS_CREDS: join(dir, 'c.creds'),
      NATS_CA: join(dir, 'ca.pem'),
    });
    // NATS_USER is the environment's: the processes inherit it from the supervisor.
    expect(users?.env.NATS_USER).toBeUndefined();
    expect(own?.env.NATS_TOKEN).toBe('its-own');
    for (const name of ['gateway', 'hub']) {
      expect(config.services.find((service) => service.name === name)?.env).toMatchObject({
        WARREN_TRANSPORT: 'nats',
        NATS_URL: 'nats://a:4222,nats://b:4222',
      });
    }
    expect(parse(minimal).services[0]?.env).toEqual({});
    expect(configError(() => parse({ ...minimal, transport: 'tcp', nats: { url: 5, tls: { ca: 'x' }, usr: 'u' } })).issues).toEqual([
      { path: 'transport', message: 'expected "unix" (this host only) or "nats" (across hosts), got "tcp"' },
      {
        path: 'nats.url',
        message: 'expected a NATS server URL ("nats://host:4222"), several separated by commas, or a list of them, got 5',
      },
      { path: 'nats.tls.ca', message: 'unknown key; known keys: caFile, certFile, keyFile' },
      { path: 'nats.usr', message: expect.stringMatching(/^unknown key \(did you mean "user"\?\); known keys: url, user, pass/) },
    ]);
  });

  it('exports the schema, which checks a config without resolving it', () => {
    expect(configSchema.safeParse(minimal).success).toBe(true);
    expect(configSchema.safeParse({ services: [] }).success).toBe(false);
  });
});

describe('parseConfig: each kind of mistake gives its message', () => {
  it('an unknown top-level key, with a guess and the known keys', () => {
    const error = configError(() => parse({ ...minimal, logLevl: 'debug' }));
    expect(error.issues).toEqual([
      {
        path: 'logLevl',
        message:
          'unknown key (did you mean "logLevel"?); known keys: $schema, socketDir, logLevel, logDir, services, transport, nats, gateway, realtime',
      },
    ]);
  });

  it('unknown keys in a service and in its restart policy', () => {
    expect(serviceIssues({ instance: 2, restart: { maxDelay: 5, color: 'red' } })).toEqual([
      {
        path: 'services[0].restart.maxDelay',
        message: 'unknown key (did you mean "maxDelayMs"?); known keys: minDelayMs, maxDelayMs, maxUnstableRestarts, stableAfterMs',
      },
      {
        path: 'services[0].restart.color',
        message: 'unknown key; known keys: minDelayMs, maxDelayMs, maxUnstableRestarts, stableAfterMs',
      },
      {
        path: 'services[0].instance',
        message:
          'unknown key (did you mean "instances"?); known keys: name, entry, instances, standby, env, restart, maxMemoryMB, maxRequests, execTimeoutMs, drainTimeoutMs, readyTimeoutMs, args, nodeArgs, cwd, interpreter, ready, port, host',
      },
    ]);
  });

  it('ready, args, nodeArgs: each mistake named with what is expected', () => {
    expect(serviceIssues({ ready: 'listne' })).toEqual([
      {
        path: 'services[0].ready',
        message: 'expected "message", "spawn", "listen" (with port), or { listen: port, path or { port, host } }, got "listne"',
      },
    ]);
    expect(serviceIssues({ ready: { listen: 70000 } })).toEqual([
      { path: 'services[0].ready.listen', message: 'expected a TCP port from 1 to 65535, got 70000' },
    ]);
    expect(serviceIssues({ ready: { listen: { port: 3000, hots: 'x' } } })).toEqual([
      { path: 'services[0].ready.listen.hots', message: 'unknown key (did you mean "host"?); known keys: port, host' },
    ]);
    expect(serviceIssues({ args: 'x', nodeArgs: [1] })).toEqual([
      { path: 'services[0].args', message: 'expected arguments after the entry: a list of strings, got "x"' },
      {
        path: 'services[0].nodeArgs[0]',
        message: "expected arguments for the interpreter, before the entry (Node's options by default): a list of strings, got 1",
      },
    ]);
  });

  it('ready and interpreter resolve: listen forms, paths against the config directory, spawn by default for other interpreters', () => {
    const ready = (service: Record<string, unknown>) => parse({ services: [{ name: 'a', entry: 'a.sh', ...service }] }).services[0]?.ready;
    expect(ready({})).toEqual({ kind: 'message' });
    expect(ready({ interpreter: 'bash' })).toEqual({ kind: 'spawn' });
    expect(ready({ ready: { listen: 3000 } })).toEqual({ kind: 'listen', port: 3000, host: '127.0.0.1' });
    expect(ready({ ready: { listen: { port: 3000, host: '::1' } } })).toEqual({ kind: 'listen', port: 3000, host: '::1' });
    expect(ready({ ready: { listen: 'run/app.sock' } })).toEqual({ kind: 'listen', path: join(dir, 'run/app.sock') });
    expect(parse({ services: [{ name: 'a', entry: 'a.sh', cwd: 'sub' }] }).services[0]?.cwd).toBe(join(dir, 'sub'));
  });

  it('port: shared by the instances, ready "listen" by default for Node, its mistakes named', () => {
    const service = (extra: Record<string, unknown>) => parse({ services: [{ name: 'a', entry: 'a.mjs', ...extra }] }).services[0];
    expect(service({ port: 3000 })).toMatchObject({ port: 3000, host: null, ready: { kind: 'shared-port' } });
    expect(service({ port: 3000, host: '127.0.0.1', ready: 'listen' })).toMatchObject({
      host: '127.0.0.1',
      ready: { kind: 'shared-port' },
    });
    // A Warren service may share a port too; another interpreter is online once started.
    expect(service({ port: 3000, ready: 'message' })).toMatchObject({ port: 3000, ready: { kind: 'message' } });
    expect(service({ port: 3000, interpreter: 'python3' })).toMatchObject({ port: 3000, ready: { kind: 'spawn' } });
    expect(service({})).toMatchObject({ port: null, host: null });

    expect(serviceIssues({ port: 0 })).toEqual([{ path: 'services[0].port', message: 'expected a TCP port from 1 to 65535, got 0' }]);
    expect(serviceIssues({ ready: 'listen' })).toEqual([
      {
        path: 'services[0].ready',
        message:
          'expected "listen" only with port (the port the supervisor shares among the instances), got "listen" without it: add port, or use { listen: <port or socket path> } for a port the app binds itself',
      },
    ]);
    expect(serviceIssues({ host: 'localhost' })).toEqual([
      { path: 'services[0].host', message: 'expected host only with port, got "localhost" without it' },
    ]);
    expect(serviceIssues({ port: 3000, ready: { listen: 3000 } })).toEqual([
      {
        path: 'services[0].ready',
        message:
          'expected ready "listen" for the shared port 3000, got { listen: 3000 }: every instance shares the socket, which always accepts, so a probe cannot tell whether the new process listens',
      },
    ]);
    expect(serviceIssues({ port: 3000, ready: 'listen', interpreter: 'python3' })[0]?.message).toMatch(
      /^expected "listen" only with interpreter "node", got interpreter "python3"/,
    );
    const twice = configError(() =>
      parse({
        services: [
          { name: 'a', entry: 'a.mjs', port: 3000 },
          { name: 'b', entry: 'b.mjs', port: 3000 },
        ],
      }),
    ).issues;
    expect(twice).toEqual([
      {
        path: 'services[1].port',
        message:
          'expected a port no other service has, got 3000 again (services[0].port has it; the instances of one service share a port, two services cannot)',
      },
    ]);
  });

  it('a wrong type', () => {
    expect(serviceIssues({ instances: '2' })).toEqual([
      { path: 'services[0].instances', message: 'expected a whole number from 1 to 256, got "2"' },
    ]);
    expect(serviceIssues({ env: { PORT: 3000 } })).toEqual([
      { path: 'services[0].env.PORT', message: 'expected a string (write numbers and booleans in quotes), got 3000' },
    ]);
    expect(serviceIssues({ env: ['PORT=3000'] })).toEqual([
      { path: 'services[0].env', message: 'expected an object of variable names to string values, got ["PORT=3000"]' },
    ]);
    expect(serviceIssues({ restart: 5 })).toEqual([
      {
        path: 'services[0].restart',
        message: 'expected an object with minDelayMs, maxDelayMs, maxUnstableRestarts and stableAfterMs, got 5',
      },
    ]);
  });

  it('a negative number', () => {
    expect(serviceIssues({ drainTimeoutMs: -1 })).toEqual([
      { path: 'services[0].drainTimeoutMs', message: 'expected a whole number of ms from 0 to 2147483647, got -1' },
    ]);
    expect(serviceIssues({ restart: { maxUnstableRestarts: -3 } })).toEqual([
      { path: 'services[0].restart.maxUnstableRestarts', message: 'expected a whole number ≥ 0, got -3' },
    ]);
    expect(serviceIssues({ maxMemoryMB: 0 })).toEqual([
      { path: 'services[0].maxMemoryMB', message: 'expected a whole number of MB ≥ 1, or null for no limit, got 0' },
    ]);
  });

  it('a non-integer, and numbers out of range', () => {
    expect(serviceIssues({ instances: 1.5 })).toEqual([
      { path: 'services[0].instances', message: 'expected a whole number from 1 to 256, got 1.5' },
    ]);
    expect(serviceIssues({ instances: 0 })).toEqual([
      { path: 'services[0].instances', message: 'expected a whole number from 1 to 256, got 0' },
    ]);
    // Longer than a Node timer can wait: it would fire at once.
    expect(serviceIssues({ readyTimeoutMs: 2 ** 31 })).toEqual([
      { path: 'services[0].readyTimeoutMs', message: 'expected a whole number of ms from 1 to 2147483647, got 2147483648' },
    ]);
    expect(serviceIssues({ execTimeoutMs: Number.NaN })).toEqual([
      { path: 'services[0].execTimeoutMs', message: 'expected a whole number of ms from 1 to 2147483647, or null for no limit, got NaN' },
    ]);
  });

  it('a bad service name', () => {
    const message = 'expected a service name: a lower-case letter, then up to 62 lower-case letters, digits, "_" or "-"';
    expect(serviceIssues({ name: 'Users.api' })).toEqual([{ path: 'services[0].name', message: `${message}, got "Users.api"` }]);
    expect(serviceIssues({ name: 'x'.repeat(64) })[0]!.path).toBe('services[0].name');
    expect(serviceIssues({ name: 7 })).toEqual([{ path: 'services[0].name', message: `${message}, got 7` }]);
  });

  it('duplicate service names', () => {
    const error = configError(() =>
      parse({
        services: [
          { name: 'users', entry: 'a.mjs' },
          { name: 'mail', entry: 'b.mjs' },
          { name: 'users', entry: 'c.mjs' },
        ],
      }),
    );
    expect(error.issues).toEqual([
      { path: 'services[2].name', message: 'expected a unique name, got "users" again (services[0].name has it)' },
    ]);
  });

  it('a minimum restart delay over the maximum, including one of them by default', () => {
    expect(serviceIssues({ restart: { minDelayMs: 500, maxDelayMs: 200 } })).toEqual([
      {
        path: 'services[0].restart.maxDelayMs',
        message: 'expected at least minDelayMs (500), got 200 (defaults: minDelayMs 100, maxDelayMs 10000)',
      },
    ]);
    expect(serviceIssues({ restart: { minDelayMs: 20_000 } })[0]!.message).toMatch(/^expected at least minDelayMs \(20000\), got 10000/);
    // An invalid delay is reported for itself, not compared.
    expect(serviceIssues({ restart: { minDelayMs: -1, maxDelayMs: -2 } }).map((issue) => issue.path)).toEqual([
      'services[0].restart.minDelayMs',
      'services[0].restart.maxDelayMs',
    ]);
  });

  it('a bad log level, from the file or from the environment', () => {
    expect(configError(() => parse({ ...minimal, logLevel: 'verbose' })).issues).toEqual([
      { path: 'logLevel', message: 'expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"' },
    ]);
    expect(configError(() => parse(minimal, { env: { WARREN_LOG_LEVEL: 'DEBUG' } })).issues).toEqual([
      {
        path: 'logLevel',
        message: 'expected one of fatal, error, warn, info, debug, trace, silent, got "DEBUG" (from WARREN_LOG_LEVEL in the environment)',
      },
    ]);
    const envFile = { path: join(dir, '.env'), values: { WARREN_LOG_LEVEL: 'loud' } };
    expect(configError(() => parse(minimal, { envFile })).issues[0]!.message).toMatch(
      new RegExp(`got "loud" \\(from WARREN_LOG_LEVEL in ${envFile.path}\\)$`),
    );
  });

  it('a missing or empty services list, and a config that is not an object', () => {
    expect(configError(() => parse({ logLevel: 'info' })).issues).toEqual([
      { path: 'services', message: 'expected a list of services (an array of objects with name and entry), but the key is missing' },
    ]);
    expect(configError(() => parse({ services: [] })).issues).toEqual([
      { path: 'services', message: 'expected at least one service, got []' },
    ]);
    expect(serviceIssues({ entry: '' })).toEqual([
      { path: 'services[0].entry', message: 'expected a path to the service\'s main file (a non-empty string), got ""' },
    ]);
    expect(configError(() => parse({ services: [{ name: 'users' }] })).issues).toEqual([
      { path: 'services[0].entry', message: "expected a path to the service's main file (a non-empty string), but the key is missing" },
    ]);
    expect(configError(() => parse([minimal])).issues).toEqual([
      { path: '', message: `expected an object with a "services" list, got [{"services":[{"name":"users","entry":"./users.mjs"}]}]` },
    ]);
    expect(configError(() => parse(null)).issues[0]!.message).toBe('expected an object with a "services" list, got null');
  });

  it('a socket path too long for a Unix socket, reload successors included', () => {
    const socketDir = `/${'d'.repeat(90)}`;
    expect(configError(() => parse({ ...minimal, socketDir, services: [{ ...minimal.services[0], instances: 10 }] })).issues).toEqual([
      {
        path: 'services[0].name',
        message: `expected a socket path of at most 103 bytes, got ${socketDir}/users.19.sock (105 bytes): use a shorter socketDir or service name`,
      },
    ]);
    // Slots 0 to 5 fit (users.5.sock is 103 bytes), but a reload's successor may be users.11.sock.
    const shorter = `/${'d'.repeat(89)}`;
    expect(
      configError(() => parse({ ...minimal, socketDir: shorter, services: [{ ...minimal.services[0], instances: 6 }] })).issues,
    ).toEqual([
      {
        path: 'services[0].name',
        message: `expected a socket path of at most 103 bytes, got ${shorter}/users.11.sock (104 bytes): use a shorter socketDir or service name`,
      },
    ]);
    expect(parse({ ...minimal, socketDir: shorter, services: [{ ...minimal.services[0], instances: 5 }] }).services[0]?.instances).toBe(5);
  });

  it('reports every problem at once, one line each, under a heading that names the file', () => {
    const error = configError(() =>
      parse(
        {
          logLevel: 'loud',
          extra: true,
          services: [
            { name: 'users', entry: 'u.mjs', instances: -1 },
            { name: 'Mail', entry: 'm.mjs', restart: { minDelayMs: 9, maxDelayMs: 1 } },
          ],
        },
        { configPath: 'warren.config.json' },
      ),
    );
    expect(error.issues.map((issue) => issue.path)).toEqual([
      'logLevel',
      'services[0].instances',
      'services[1].name',
      'services[1].restart.maxDelayMs',
      'extra',
    ]);
    const lines = error.message.split('\n');
    expect(lines[0]).toBe(`invalid config ${join(dir, 'warren.config.json')} (5 problems):`);
    expect(lines.slice(1)).toEqual(error.issues.map((issue) => `  ${issue.path}: ${issue.message}`));
    expect(error.file).toBe(join(dir, 'warren.config.json'));
    expect(isWarrenError(error)).toBe(true);
    expect(error).toBeInstanceOf(WarrenError);
    expect(error.data).toEqual({ file: error.file, issues: error.issues });
    expect(Object.isFrozen(error.issues)).toBe(true);
  });
});

describe('environment overrides and .env', () => {
  const fileValues = { ...minimal, socketDir: './from-file', logLevel: 'warn', logDir: './logs-file' } satisfies WarrenConfig;

  it('takes the real environment over .env, .env over the file, the file over the defaults', () => {
    const envFile = { path: join(dir, '.env'), values: { WARREN_LOG_LEVEL: 'debug', WARREN_LOG_DIR: './logs-dotenv' } };
    const config = parse(fileValues, { envFile, env: { WARREN_LOG_LEVEL: 'error', WARREN_SOCKET_DIR: '' } });
    expect(config.logLevel).toBe('error'); // environment
    expect(config.logDir).toBe(join(dir, 'logs-dotenv')); // .env
    expect(config.socketDir).toBe(join(dir, 'from-file')); // file: an empty variable counts as unset
    expect(config.envFile).toBe(envFile.path);
    expect(parse(minimal).logLevel).toBe('info'); // default
  });

  it('resolves relative paths from the environment against cwd, from .env and the file against the config directory', () => {
    const app = join(dir, 'app');
    const fromEnv = parse(fileValues, {
      baseDir: app,
      cwd: join(dir, 'shell'),
      env: { WARREN_SOCKET_DIR: 'sockets', WARREN_LOG_DIR: 'l' },
    });
    expect(fromEnv.socketDir).toBe(join(dir, 'shell', 'sockets'));
    expect(fromEnv.logDir).toBe(join(dir, 'shell', 'l'));
    const envFile = { path: join(app, '.env'), values: { WARREN_SOCKET_DIR: 'sockets' } };
    expect(parse(fileValues, { baseDir: app, cwd: join(dir, 'shell'), envFile }).socketDir).toBe(join(app, 'sockets'));
  });

  it('gives services the .env values the environment does not set, under their own env', () => {
    const envFile = { path: join(dir, '.env'), values: { A: 'dotenv', B: 'dotenv', C: 'dotenv' } };
    const config = parse(
      {
        services: [
          { name: 'users', entry: 'u.mjs', env: { C: 'service' } },
          { name: 'mail', entry: 'm.mjs' },
        ],
      },
      { envFile, env: { B: 'real' } },
    );
    // B is left out: the child inherits the supervisor's B=real.
    expect(config.services[0]!.env).toEqual({ A: 'dotenv', C: 'service' });
    expect(config.services[1]!.env).toEqual({ A: 'dotenv', C: 'dotenv' });
  });

  it('refuses .env variable names that cannot be environment variables', () => {
    const envFile = { path: join(dir, '.env'), values: { 'BAD KEY': 'x', GOOD: 'y' } };
    expect(configError(() => parse(minimal, { envFile })).issues).toEqual([
      { path: '', message: `${envFile.path}: expected a variable name without "=", NUL or whitespace, got "BAD KEY"` },
    ]);
  });

  it('loads .env from beside the config file', async () => {
    writeJson('app/warren.config.json', { ...minimal, logLevel: 'warn' });
    write('app/users.mjs', '');
    write('app/.env', '# settings\nWARREN_LOG_LEVEL=trace\nexport DATABASE_URL="postgres://localhost/app"\n');
    const config = await loadConfig('app', { cwd: dir, env: {} });
    expect(config.logLevel).toBe('trace');
    expect(config.envFile).toBe(join(dir, 'app', '.env'));
    expect(config.services[0]!.env).toEqual({ WARREN_LOG_LEVEL: 'trace', DATABASE_URL: 'postgres://localhost/app' });
    const overridden = await loadConfig('app', { cwd: dir, env: { WARREN_LOG_LEVEL: 'silent' } });
    expect(overridden.logLevel).toBe('silent');
    expect(overridden.services[0]!.env).toEqual({ DATABASE_URL: 'postgres://localhost/app' });
  });

  it('refuses a .env that cannot be read', async () => {
    writeJson('warren.config.json', minimal);
    write('users.mjs', '');
    mkdirSync(join(dir, '.env'));
    const error = await rejected(loadConfig(undefined, { cwd: dir, env: {} }));
    expect(error.message).toMatch(new RegExp(`^cannot read ${join(dir, '.env')}: EISDIR`));
  });
});

describe('.env parsing', () => {
  const sample = [
    '# a comment',
    'PLAIN=value',
    'SPACED = padded value  ',
    'DOUBLE="has # hash"',
    "SINGLE='single'",
    'BACK=`back`',
    'COMMENTED=value # trailing',
    'MULTI="line one',
    'line two"',
    'ESCAPED="a\\nb"',
    "RAW='a\\nb'",
    'export EXPORTED=yes',
    'EMPTY=',
    'REPEATED=first',
    'REPEATED=second',
    '',
  ].join('\n');
  const expected = {
    PLAIN: 'value',
    SPACED: 'padded value',
    DOUBLE: 'has # hash',
    SINGLE: 'single',
    BACK: 'back',
    COMMENTED: 'value',
    MULTI: 'line one\nline two',
    ESCAPED: 'a\nb',
    RAW: 'a\\nb',
    EXPORTED: 'yes',
    EMPTY: '',
    REPEATED: 'second',
  };

  it("reads the common syntax (with Node's util.parseEnv), a byte order mark and CRLF line ends included", () => {
    expect(parseEnvFile(sample)).toEqual(expected);
    expect(parseEnvFile(`\ufeff${sample}`)).toEqual(expected);
    expect(parseEnvFile(sample.replace(/\n/g, '\r\n'))).toEqual(expected);
  });

  it('gives a plain object whose prototype no key can change', () => {
    const parsed = parseEnvFile('A=1\n__proto__=x\nconstructor=y\n');
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(parsed.A).toBe('1');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('loadConfig', () => {
  it('finds warren.config.json in cwd and resolves entries against its directory', async () => {
    writeJson('warren.config.json', { services: [{ name: 'users', entry: 'services/users.mjs' }] });
    write('services/users.mjs', '');
    const config = await loadConfig(undefined, { cwd: dir, env: {} });
    expect(config.configPath).toBe(join(dir, 'warren.config.json'));
    expect(config.baseDir).toBe(dir);
    expect(config.envFile).toBeNull();
    expect(config.services[0]!.entry).toBe(join(dir, 'services', 'users.mjs'));
  });

  it('resolves a relative config path against cwd, and entries against the config file, not cwd', async () => {
    writeJson('deploy/prod.json', { services: [{ name: 'users', entry: '../src/users.mjs' }] });
    write('src/users.mjs', '');
    const config = await loadConfig('deploy/prod.json', { cwd: dir, env: {} });
    expect(config.configPath).toBe(join(dir, 'deploy', 'prod.json'));
    expect(config.services[0]!.entry).toBe(join(dir, 'src', 'users.mjs'));
  });

  it('loads the default export of a .mjs config, and re-reads it after an edit', async () => {
    write('users.mjs', '');
    const file = write('warren.config.mjs', `export default ${JSON.stringify({ ...minimal, logLevel: 'warn' })};\n`);
    expect((await loadConfig(undefined, { cwd: dir, env: {} })).logLevel).toBe('warn');
    writeFileSync(file, `const level = 'debug';\nexport default { ...${JSON.stringify(minimal)}, logLevel: level };\n`);
    expect((await loadConfig(undefined, { cwd: dir, env: {} })).logLevel).toBe('debug');
  });

  it('loads a .js config (module.exports without a package.json, so CommonJS)', async () => {
    write('users.mjs', '');
    write('warren.config.js', `module.exports = ${JSON.stringify(minimal)};\n`);
    const config = await loadConfig(undefined, { cwd: dir, env: {} });
    expect(config.services[0]!.name).toBe('users');
  });

  it('refuses a missing file, a directory without a config, and a directory with several', async () => {
    expect((await rejected(loadConfig('nope.json', { cwd: dir }))).message).toBe(`config file ${join(dir, 'nope.json')} does not exist`);
    expect((await rejected(loadConfig(undefined, { cwd: dir }))).message).toBe(
      `no config file in ${dir}: expected one of ${CONFIG_FILE_NAMES.join(', ')}`,
    );
    writeJson('warren.config.json', minimal);
    write('warren.config.mjs', 'export default {};\n');
    expect((await rejected(loadConfig(undefined, { cwd: dir }))).message).toBe(
      `several config files in ${dir} (warren.config.json, warren.config.mjs): keep one, or name the one to use`,
    );
    write('warren.config.yaml', 'services: []\n');
    expect((await rejected(loadConfig('warren.config.yaml', { cwd: dir }))).message).toMatch(/has an unsupported type \(\.yaml\)/);
  });

  it('gives the line and column of bad JSON', async () => {
    const text = '{\n  "services": [\n    { "name": "users", "entry": "./users.mjs", }\n  ]\n}\n';
    const file = write('warren.config.json', text);
    const error = await rejected(loadConfig(undefined, { cwd: dir }));
    const column = text.split('\n')[2]!.indexOf('}') + 1;
    expect(error.message).toMatch(new RegExp(`^config file ${file} is not valid JSON: .* at line 3, column ${column}$`));
    expect(error.file).toBe(file);
    expect(error.cause).toBeInstanceOf(SyntaxError);

    // V8 gives no position for this one; the line and column are found anyway.
    write('warren.config.json', '{"logLevel": tru}');
    expect((await rejected(loadConfig(undefined, { cwd: dir }))).message).toMatch(/: Unexpected token 'tru' at line 1, column 14$/);
    write('warren.config.json', '{\n  "services": [\n');
    expect((await rejected(loadConfig(undefined, { cwd: dir }))).message).toMatch(/ at line 3, column 1$/);
    write('warren.config.json', '');
    expect((await rejected(loadConfig(undefined, { cwd: dir }))).message).toMatch(/: Unexpected end of JSON input at line 1, column 1$/);
  });

  it('reads a JSON file that starts with a byte order mark', async () => {
    write('users.mjs', '');
    write('warren.config.json', `\ufeff${JSON.stringify(minimal)}`);
    expect((await loadConfig(undefined, { cwd: dir, env: {} })).services).toHaveLength(1);
  });

  it('refuses a module without a default export, naming what it exports', async () => {
    const file = write('warren.config.mjs', 'export const services = [];\n');
    expect((await rejected(loadConfig(undefined, { cwd: dir }))).message).toBe(
      `config module ${file} has no default export (it exports only services): write \`export default { services: [...] }\``,
    );
  });

  it('reports a module that throws while loading', async () => {
    const file = write('warren.config.mjs', "throw new Error('no database url');\n");
    const error = await rejected(loadConfig(undefined, { cwd: dir }));
    expect(error.message).toBe(`config module ${file} failed to load: no database url`);
    expect((error.cause as Error).message).toBe('no database url');
  });

  it('names the service and the path of every missing entry', async () => {
    const file = writeJson('warren.config.json', {
      services: [
        { name: 'users', entry: './users.mjs' },
        { name: 'mail', entry: 'mail/main.mjs' },
        { name: 'jobs', entry: 'jobs' },
      ],
    });
    write('users.mjs', '');
    mkdirSync(join(dir, 'jobs'));
    const error = await rejected(loadConfig(undefined, { cwd: dir, env: {} }));
    expect(error.issues).toEqual([
      { path: 'services[1].entry', message: `service 'mail': entry file ${join(dir, 'mail', 'main.mjs')} does not exist` },
      { path: 'services[2].entry', message: `service 'jobs': entry ${join(dir, 'jobs')} is not a file` },
    ]);
    expect(error.message.split('\n')[0]).toBe(`invalid config ${file} (2 problems):`);
  });

  it('reports invalid values of a loaded file with the file in the heading', async () => {
    const file = writeJson('warren.config.json', { services: [{ name: 'users', entry: 'u.mjs', instances: 1.5 }] });
    const error = await rejected(loadConfig(undefined, { cwd: dir, env: {} }));
    expect(error.message).toBe(
      `invalid config ${file} (1 problem):\n  services[0].instances: expected a whole number from 1 to 256, got 1.5`,
    );
  });

  it('loads the project fixture', async () => {
    const config = await loadConfig(join(fixtures, 'app'), { env: { XDG_RUNTIME_DIR: '/run/user/7' } });
    // No socketDir anywhere: the project's own directory under the default one.
    expect(config.socketDir).toBe(projectSocketDir(join(fixtures, 'app'), { XDG_RUNTIME_DIR: '/run/user/7' }));
    expect(config.socketDir).toMatch(/^\/run\/user\/7\/warren\/app-[0-9a-f]{8}$/);
    expect(config.services.map((service) => [service.name, service.instances, service.entry])).toEqual([
      ['users', 2, join(fixtures, 'app', 'services', 'users.mjs')],
      ['mailer', 1, join(fixtures, 'app', 'services', 'mailer.mjs')],
    ]);
    expect(config.services[1]!.env).toEqual({ SMTP_HOST: 'localhost', SMTP_PORT: '2525' });
  });

  it('loads a TypeScript config through tsx (built code, plain Node), types and .ts imports included', async () => {
    // Vitest compiles TypeScript itself, so this runs the built module in a plain Node process.
    expect(existsSync(builtConfig), `${builtConfig} is missing: run npm run build first`).toBe(true);
    write('u.mjs', '');
    write('ports.ts', 'export const instances: number = 3;\n');
    const file = write(
      'warren.config.ts',
      `import { instances } from './ports.ts';\ninterface Svc { name: string; entry: string; instances: number }\nconst users: Svc = { name: 'users', entry: 'u.mjs', instances };\nexport default { services: [users] } as const;\n`,
    );
    const script = `import { loadConfig } from ${JSON.stringify(pathToFileURL(builtConfig).href)};
      loadConfig(${JSON.stringify(file)}, { env: {} }).then((c) => console.log(JSON.stringify(c.services.map((s) => [s.name, s.instances]))), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
    const output = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], (error, stdout) => (error ? reject(error) : resolve(stdout)));
    });
    expect(JSON.parse(output)).toEqual([['users', 3]]);
  });

  it('names the file when a TypeScript config does not compile', async () => {
    expect(existsSync(builtConfig), `${builtConfig} is missing: run npm run build first`).toBe(true);
    const file = write('warren.config.ts', 'export default { services: [ ;\n');
    const script = `import { loadConfig } from ${JSON.stringify(pathToFileURL(builtConfig).href)};
      loadConfig(${JSON.stringify(file)}, { env: {} }).then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
    const output = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], (error, stdout) => (error ? reject(error) : resolve(stdout)));
    });
    const result = JSON.parse(output) as { code: string; message: string };
    expect(result.code).toBe('WARREN_CONFIG');
    expect(result.message).toContain(`config module ${file} failed to load`);
  });
});

describe('docs/config.md', () => {
  it('has an example config that is valid', () => {
    const example = /## Example\n[\s\S]*?```json\n([\s\S]*?)```/.exec(docs)?.[1];
    expect(example).toBeDefined();
    const config = parse(JSON.parse(example!));
    expect(config.services.length).toBeGreaterThan(0);
  });

  it('documents every key of the schema and every environment variable', () => {
    const keys = [configSchema, serviceSchema, restartSchema].flatMap((schema) => Object.keys(schema.shape));
    for (const key of [...keys, ...Object.values(CONFIG_ENV_VARS)]) expect(docs, key).toContain(`\`${key}\``);
  });
});
