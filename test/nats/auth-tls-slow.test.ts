/**
 * NATS across hosts, the rest of issue 13: an nkey login (the server's config names the user's
 * public key; the service reads the seed from NATS_NKEY, the client from `nats.nkeyFile`), a
 * `.creds` login under an operator and account made by the test (NATS_CREDS, `nats.credsFile`), TLS to
 * NATS with a CA of the test's own (NATS_CA, `nats.tls.caFile`), and an instance cut by the NATS
 * server as a slow consumer while its event loop is blocked under a flood of calls. Each test runs
 * a nats-server of its own, with its files in a temporary directory of its own.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';
import { credsAuthenticator, nkeyAuthenticator } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { until } from '../support/until.js';
import { natsFixtures, untilOnNats } from './support.js';

const { natsServer, socketDir, serviceProcess, client, natsConnectionWith, tempDir, serviceProcessWithLog } = natsFixtures();

const SLOW_FIXTURE = new URL('../fixtures/nats-slow-service.mjs', import.meta.url).pathname;

/** What a promise rejected with, or undefined when it resolved. */
function failureOf(promise: Promise<unknown>): Promise<Error | undefined> {
  return promise.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
}

/** A new nkey user: its public key (`U…`) and its seed (`SU…`) written to a file of mode 0600. */
function nkeyUser(dir: string, name: string): { publicKey: string; seedFile: string } {
  const user = createUser();
  const seedFile = join(dir, `${name}.nk`);
  writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
  return { publicKey: user.getPublicKey(), seedFile };
}

/** A JWT as NATS has them (`alg: ed25519-nkey`), with `claims` issued and signed by `signer`. */
function natsJwt(signer: KeyPair, claims: Record<string, unknown>): string {
  const b64 = (data: string | Uint8Array) => Buffer.from(data).toString('base64url');
  const header = b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const body: Record<string, unknown> = { ...claims, iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey() };
  body.jti = createHash('sha256').update(JSON.stringify(body)).digest('base64url').toUpperCase().slice(0, 52);
  const payload = b64(JSON.stringify(body));
  return `${header}.${payload}.${b64(signer.sign(new TextEncoder().encode(`${header}.${payload}`)))}`;
}

/**
 * NATS's decentralised auth in miniature, as `nsc` would set it up: an operator, one account
 * (preloaded in the server's config, `resolver: MEMORY`), and `.creds` files (user JWT and seed)
 * for users of that account, or of an account the server does not know (`stranger`).
 */
function operatorSetup(dir: string): { config: string; creds: (name: string, stranger?: boolean) => string } {
  const operator = createOperator();
  const account = createAccount();
  const limits = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const accountClaims = (key: KeyPair) => ({
    sub: key.getPublicKey(),
    name: 'warren',
    nats: { limits, default_permissions: { pub: {}, sub: {} }, type: 'account', version: 2 },
  });
  const config = join(dir, 'nats.conf');
  writeFileSync(
    config,
    `operator: ${natsJwt(operator, { sub: operator.getPublicKey(), name: 'test', nats: { type: 'operator', version: 2 } })}\n` +
      `resolver: MEMORY\nresolver_preload: {\n  ${account.getPublicKey()}: ${natsJwt(operator, accountClaims(account))}\n}\n`,
  );
  const creds = (name: string, stranger = false): string => {
    const user = createUser();
    const issuer = stranger ? createAccount() : account;
    const jwt = natsJwt(issuer, {
      sub: user.getPublicKey(),
      name,
      nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: 'user', version: 2 },
    });
    const file = join(dir, `${name}.creds`);
    const seed = new TextDecoder().decode(user.getSeed());
    writeFileSync(
      file,
      `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
      { mode: 0o600 },
    );
    return file;
  };
  return { config, creds };
}

function openssl(args: string[]): void {
  const result = spawnSync('openssl', args, { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}${result.error?.message ?? ''}`);
}

/**
 * A CA and a certificate for `localhost` and 127.0.0.1 signed by it, in `dir`. The NATS client
 * checks a server named by an IP address (tls://127.0.0.1:…) against the name `localhost`, not
 * the address (its TLS upgrade sets no servername for an IP), so the tests name it `localhost`.
 */
function certificates(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ecKey, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=warren test CA']);
  openssl(['req', ...ecKey, '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { ca, cert, key };
}

describe('NATS nkey and .creds credentials', () => {
  it('the service logs in with the seed in NATS_NKEY, the client with nats.nkeyFile; a seed the server does not know is WARREN_NATS_UNAVAILABLE', async () => {
    const files = tempDir();
    const service = nkeyUser(files, 'service');
    const caller = nkeyUser(files, 'caller');
    const stranger = nkeyUser(files, 'stranger');
    const config = join(files, 'nats.conf');
    writeFileSync(config, `authorization {\n  users = [\n    { nkey: ${service.publicKey} }\n    { nkey: ${caller.publicKey} }\n  ]\n}\n`);
    const nats = await natsServer(undefined, ['-c', config]);
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    await serviceProcess(serviceDir, nats.url, 0, 'remote', { NATS_NKEY: service.seedFile });
    const seed = new TextEncoder().encode(readFileSync(caller.seedFile, 'utf8').trim());
    await untilOnNats(await natsConnectionWith({ servers: nats.url, authenticator: nkeyAuthenticator(seed) }), 'remote', 1);

    const good = client(callerDir, nats.url, 10_000, { nkeyFile: caller.seedFile }).service('remote');
    expect((await good.get('/who')).status).toBe(200);

    const bad = client(callerDir, nats.url, 10_000, { nkeyFile: stranger.seedFile }).service('remote');
    const error = await failureOf(bad.get('/who'));
    expect(isWarrenError(error) && error.code).toBe('WARREN_NATS_UNAVAILABLE');
    expect(error?.message).toMatch(/authorization/i);
  });

  it('a .creds file (user JWT and seed): the service from NATS_CREDS, the client from nats.credsFile; a user of an account the server does not know is WARREN_NATS_UNAVAILABLE', async () => {
    const { config, creds } = operatorSetup(tempDir());
    const nats = await natsServer(undefined, ['-c', config]);
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    await serviceProcess(serviceDir, nats.url, 0, 'remote', { NATS_CREDS: creds('service') });
    const watcher = await natsConnectionWith({ servers: nats.url, authenticator: credsAuthenticator(readFileSync(creds('watcher'))) });
    await untilOnNats(watcher, 'remote', 1);

    const good = client(callerDir, nats.url, 10_000, { credsFile: creds('caller') }).service('remote');
    expect((await good.get('/who')).status).toBe(200);

    const bad = client(callerDir, nats.url, 10_000, { credsFile: creds('stranger', true) }).service('remote');
    const error = await failureOf(bad.get('/who'));
    expect(isWarrenError(error) && error.code).toBe('WARREN_NATS_UNAVAILABLE');
    expect(error?.message).toMatch(/authorization/i);
  });
});

describe('TLS to NATS', () => {
  it('with the CA in NATS_CA and nats.tls.caFile a call succeeds; without it the client is WARREN_NATS_UNAVAILABLE naming the certificate', async () => {
    const files = tempDir();
    const { ca, cert, key } = certificates(files);
    const nats = await natsServer(undefined, ['--tls', '--tlscert', cert, '--tlskey', key]);
    const url = `tls://localhost:${nats.port}`;
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    await serviceProcess(serviceDir, url, 0, 'remote', { NATS_CA: ca });
    await untilOnNats(await natsConnectionWith({ servers: url, tls: { caFile: ca } }), 'remote', 1);

    const good = client(callerDir, url, 10_000, { tls: { caFile: ca } }).service('remote');
    expect((await good.get('/who')).status).toBe(200);

    const untrusting = client(callerDir, url, 10_000).service('remote');
    const error = await failureOf(untrusting.get('/who'));
    expect(isWarrenError(error) && error.code).toBe('WARREN_NATS_UNAVAILABLE');
    expect(error?.message).toMatch(/certificate|TLS/i);
  });
});

describe('a slow consumer on NATS', () => {
  /** The callers' deadline: a call lost with the cut connection fails when it is over. */
  const TIMEOUT_MS = 20_000;

  it('an instance whose event loop is blocked under a flood is cut by NATS (max_pending), says so, its calls fail clearly, and it comes back', async () => {
    const files = tempDir();
    const config = join(files, 'nats.conf');
    // The smallest max_pending the server takes: max_payload (1 MiB by default) may not be above it.
    const serverLog = join(files, 'nats.log');
    writeFileSync(config, `max_pending: 1048576\nlog_file: "${serverLog}"\n`);
    const nats = await natsServer(undefined, ['-c', config]);
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    const instance = await serviceProcessWithLog(SLOW_FIXTURE, serviceDir, nats.url, { TEST_SERVICE_NAME: 'slow' });
    await untilOnNats(await natsConnectionWith({ servers: nats.url }), 'slow', 1);
    const slow = client(callerDir, nats.url, TIMEOUT_MS).service('slow');
    expect((await slow.get('/who')).status).toBe(200);

    // Block the instance's event loop, and once it is blocked, flood it: 2000 calls of 4 KiB, 8 MiB.
    const busy = failureOf(slow.get('/busy?ms=5000'));
    await until(() => instance.stderr().includes('busy: blocking'), 'the instance to block its event loop');
    const body = 'x'.repeat(4096);
    const flood = await Promise.allSettled(Array.from({ length: 2000 }, () => slow.post('/echo', body)));

    const failures = flood.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    const codes = new Set(failures.map((e) => (isWarrenError(e) ? e.code : e.message)));
    // The server cut the instance: its log says why.
    expect(readFileSync(serverLog, 'utf8')).toMatch(/slow consumer/i);
    // Calls it had not answered fail: those on their way to it at their deadline (WARREN_TIMEOUT:
    // nothing tells a caller on another connection that the instance was cut), those sent while it
    // was off NATS at once (WARREN_UNKNOWN_SERVICE: no instance), or WARREN_NATS_UNAVAILABLE.
    expect(failures.length).toBeGreaterThan(0);
    for (const code of codes) expect(['WARREN_NATS_UNAVAILABLE', 'WARREN_TIMEOUT', 'WARREN_UNKNOWN_SERVICE']).toContain(code);
    // The call that blocked it was answered once it was back on NATS, or failed as clearly.
    const busyError = await busy;
    if (busyError !== undefined) expect(isWarrenError(busyError) && busyError.code).toMatch(/^WARREN_(NATS_UNAVAILABLE|TIMEOUT)$/);

    await until(() => /lost the connection to NATS/.test(instance.stderr()), 'the instance to say it lost its NATS connection');
    await until(() => /connected to NATS again/.test(instance.stderr()), 'the instance to say it is back on NATS');
    await until(async () => (await slow.get('/who').catch(() => undefined))?.status === 200, 'a call to succeed again');
  }, 180_000);
});
