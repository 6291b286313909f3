/**
 * NATS across hosts, the rest of issue 13: an nkey login (the server's config names the user's
 * public key; the service reads the seed from NATS_NKEY, the client from `nats.nkeyFile`), TLS to
 * NATS with a CA of the test's own (NATS_CA, `nats.tls.caFile`), and an instance cut by the NATS
 * server as a slow consumer while its event loop is blocked under a flood of calls. Each test runs
 * a nats-server of its own, with its files in a temporary directory of its own.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { nkeyAuthenticator } from '@nats-io/transport-node';
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

describe('NATS nkey credentials', () => {
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
    const busy = failureOf(slow.get('/busy?ms=3000'));
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
