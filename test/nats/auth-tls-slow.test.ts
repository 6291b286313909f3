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
