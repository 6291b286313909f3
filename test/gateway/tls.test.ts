/**
 * The gateway over TLS, with certificates made by openssl in a temp dir: HTTPS with HTTP/1.1
 * (node https), HTTP/2 (node:http2 and curl --http2), the same answers as plain HTTP; the
 * certificate reloaded (reloadTls(), and SIGHUP to a `warren gateway` process) for new
 * connections while open ones keep theirs; bad files refused with one line naming the key.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, connect as connectHttp2, type OutgoingHttpHeaders } from 'node:http2';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/config/gateway.js';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { defineService } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { useHubs } from '../realtime/helpers.js';
import { useCli } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { serviceCleanup } from '../support/service-cleanup.js';
import { load } from '../support/supervised.js';
import { until } from '../support/until.js';

const run = promisify(execFile);
const SERVICE = fileURLToPath(new URL('../fixtures/gateway/hello-service.mjs', import.meta.url));
const { dirs, servers } = serviceCleanup();
const gateways: Gateway[] = [];
const sessions: ClientHttp2Session[] = [];
afterEach(async () => {
  for (const session of sessions.splice(0)) session.destroy();
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});
const cli = useCli(60_000);
const { hub, client } = useHubs();
const WAIT = { timeoutMs: 60_000, intervalMs: 20 };

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-tls-'));
  dirs.push(dir);
  return dir;
}

interface Cert {
  cert: string;
  key: string;
}

/** A self-signed certificate for localhost and 127.0.0.1, valid one day. */
async function makeCert(dir: string, name: string): Promise<Cert> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=localhost`,
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-days',
    '1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

/** A root CA, an intermediate it signed, and a certificate for localhost the intermediate signed. */
async function makeChain(dir: string): Promise<{ root: string; intermediate: string; leaf: Cert }> {
  const path = (name: string) => join(dir, name);
  writeFileSync(path('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  writeFileSync(path('leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  const newKey = ['-newkey', 'rsa:2048', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...newKey,
    '-subj',
    '/CN=Test Root',
    '-keyout',
    path('root.key'),
    '-out',
    path('root.crt'),
    '-days',
    '1',
  ]);
  for (const [name, subject, issuer, ext] of [
    ['inter', '/CN=Test Intermediate', 'root', 'ca.ext'],
    ['leaf', '/CN=localhost', 'inter', 'leaf.ext'],
  ] as const) {
    await run('openssl', ['req', ...newKey, '-subj', subject, '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`)]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      path(`${name}.csr`),
      '-CA',
      path(`${issuer}.crt`),
      '-CAkey',
      path(`${issuer}.key`),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      path(ext),
      '-out',
      path(`${name}.crt`),
    ]);
  }
  return { root: path('root.crt'), intermediate: path('inter.crt'), leaf: { cert: path('leaf.crt'), key: path('leaf.key') } };
}

async function fingerprintOf(certFile: string): Promise<string> {
  const { stdout } = await run('openssl', ['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256']);
  return stdout.trim().replace(/^.*=/, '');
}

/** Releases the requests waiting in GET /wait. */
let release: () => void = () => {};
let waiting = 0;
const echo = defineService({
  name: 'echo',
  routes: {
    'GET /users/:id': ({ params, headers }) => ({ id: params.id, headers }),
    'POST /echo': ({ body }) => ({ body }),
    'GET /wait': async () => {
      waiting += 1;
      await new Promise<void>((resolve) => {
        const before = release;
        release = () => {
          before();
          resolve();
        };
      });
      return { waited: true };
    },
  },
});

async function setup(options: Parameters<typeof startGateway>[0] = {}) {
  const dir = tempDir();
  const socketDir = join(dir, 'run');
  servers.push((await serveService(echo, { socketDir })) as ServiceServer<unknown>);
  const certs = await makeCert(dir, 'one');
  const lines: string[] = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n')));
  const gateway = await startGateway({
    port: 0,
    socketDir,
    logDestination: destination,
    bodyLimit: 1_024,
    tls: { certFile: certs.cert, keyFile: certs.key },
    ...options,
  });
  gateways.push(gateway);
  return { dir, socketDir, gateway, lines, certs, ca: readFileSync(certs.cert) };
}

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
  version: string;
  fingerprint: string;
}

/** One request over HTTPS with HTTP/1.1, on a new connection. */
function h1(
  url: string,
  ca: Buffer | string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpsRequest(`${url}${path}`, { ca, agent: false, method: init.method ?? 'GET', headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode as number,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          version: res.httpVersion,
          fingerprint: (res.socket as TLSSocket).getPeerCertificate().fingerprint256,
        }),
      );
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

async function h2Session(url: string, ca: Buffer | string): Promise<ClientHttp2Session> {
  const session = connectHttp2(url, { ca });
  sessions.push(session);
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** One request on an HTTP/2 session (`body` sent without a length unless the headers give one). */
function h2(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer) {
  return new Promise<Answer>((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let status = 0;
    let got: Record<string, unknown> = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      got = h;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () =>
      resolve({
        status,
        headers: got,
        body: Buffer.concat(chunks).toString(),
        version: '2.0',
        fingerprint: (session.socket as TLSSocket).getPeerCertificate().fingerprint256,
      }),
    );
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

const errorCode = (answer: Answer) => (JSON.parse(answer.body) as { error: { code: string } }).error.code;

describe('the gateway over TLS', () => {
  it('HTTP/2 and HTTP/1.1 on one port: a route, 404 and 413 as over plain HTTP; HTTP/2 bodies with or without a length', async () => {
    const { gateway, ca, lines } = await setup();
    expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    await until(() => lines.some((line) => line.includes('"protocols":"h2, http/1.1"')), 'the listening line');

    const one = await h1(gateway.url, ca, '/users/42', { headers: { 'x-trace': 't' } });
    expect([one.version, one.status]).toEqual(['1.1', 200]);
    const body = JSON.parse(one.body) as { id: string; headers: Record<string, string> };
    expect(body.id).toBe('42');
    expect(body.headers['x-trace']).toBe('t');
    const missing = await h1(gateway.url, ca, '/nothing');
    expect([missing.status, errorCode(missing)]).toEqual([404, 'WARREN_NOT_FOUND']);
    const big = 'x'.repeat(2_000);
    const tooLarge = await h1(gateway.url, ca, '/echo', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: big });
    expect([tooLarge.status, errorCode(tooLarge), tooLarge.headers.connection]).toEqual([413, 'WARREN_BODY_TOO_LARGE', 'close']);

    const session = await h2Session(gateway.url, ca);
    expect((session.socket as TLSSocket).alpnProtocol).toBe('h2');
    const two = await h2(session, { ':path': '/users/7', 'x-trace': 'u' });
    expect(two.status).toBe(200);
    const seen = JSON.parse(two.body) as { id: string; headers: Record<string, string> };
    expect(seen.id).toBe('7');
    expect(seen.headers['x-trace']).toBe('u');
    // The service sees `host` (from :authority) and no pseudo-header.
    expect(seen.headers.host).toBe(new URL(gateway.url).host);
    expect(Object.keys(seen.headers).filter((name) => name.startsWith(':'))).toEqual([]);
    const none = await h2(session, { ':path': '/nothing' });
    expect([none.status, errorCode(none)]).toEqual([404, 'WARREN_NOT_FOUND']);
    const withLength = await h2(
      session,
      { ':method': 'POST', ':path': '/echo', 'content-type': 'text/plain', 'content-length': '5' },
      'hello',
    );
    expect([withLength.status, JSON.parse(withLength.body)]).toEqual([200, { body: 'hello' }]);
    const noLength = await h2(session, { ':method': 'POST', ':path': '/echo', 'content-type': 'application/json' }, '{"a":1}');
    expect([noLength.status, JSON.parse(noLength.body)]).toEqual([200, { body: { a: 1 } }]);
    // 413 by the declared length, and by the bytes read: the answer arrives, the stream is reset, the connection stays.
    const declared = await h2(session, { ':method': 'POST', ':path': '/echo', 'content-length': String(big.length) }, big);
    expect([declared.status, errorCode(declared), declared.headers.connection]).toEqual([413, 'WARREN_BODY_TOO_LARGE', undefined]);
    const counted = await h2(session, { ':method': 'POST', ':path': '/echo' }, big);
    expect([counted.status, errorCode(counted)]).toEqual([413, 'WARREN_BODY_TOO_LARGE']);
    expect((await h2(session, { ':path': '/users/8' })).status).toBe(200);
    expect(session.destroyed).toBe(false);
  });

  it('HTTP/2: a rate-limited request with a body is answered 429 without a Connection header; the connection stays', async () => {
    const { gateway, ca } = await setup({ rateLimit: [{ prefix: '/echo', perSecond: 0.001, burst: 1 }] });
    const session = await h2Session(gateway.url, ca);
    const post = () => h2(session, { ':method': 'POST', ':path': '/echo', 'content-type': 'text/plain' }, 'hi');
    expect((await post()).status).toBe(200);
    const limited = await post();
    expect([limited.status, errorCode(limited), limited.headers.connection]).toEqual([429, 'WARREN_RATE_LIMITED', undefined]);
    expect((await h2(session, { ':path': '/users/1' })).status).toBe(200);
  });

  it('WebSocket upgrades over TLS (wss://, HTTP/1.1) are forwarded to the hub; the hub is told X-Forwarded-Proto: https', async () => {
    const dir = tempDir();
    const socketDir = join(dir, 'run');
    const seen: string[] = [];
    const h = await hub({
      socketDir,
      authenticate: (request) => {
        seen.push(String(request.headers['x-forwarded-proto']));
        return { userId: 'u1' };
      },
    });
    const { gateway, ca } = await setup({ websocket: { hub: `127.0.0.1:${h.port}` } });
    const c = await client(`${gateway.url.replace('https', 'wss')}/ws`, { ws: { ca } });
    const ack = await c.subscribe('room:tls');
    expect(ack.error).toBeUndefined();
    expect(seen).toEqual(['https']);
  });

  it('/metrics over HTTP/2 counts HTTP/2 requests; in flight back to 1 (the scrape itself) once they are answered', async () => {
    const { gateway, ca } = await setup();
    const session = await h2Session(gateway.url, ca);
    expect((await h2(session, { ':path': '/users/1' })).status).toBe(200);
    const scrape = await h2(session, { ':path': '/metrics' });
    expect(scrape.status).toBe(200);
    expect(scrape.body).toMatch(/^warren_gateway_requests_total\{service="echo",method="GET",status_class="2xx"\} 1$/m);
    expect(scrape.body).toMatch(/^warren_gateway_requests_in_flight 1$/m);
  });

  it('curl --http2 speaks HTTP/2; with http2: false only HTTP/1.1 is offered', async () => {
    const { gateway, certs } = await setup();
    const { stdout } = await run('curl', [
      '-sS',
      '--http2',
      '--cacert',
      certs.cert,
      '-w',
      '\n%{http_version} %{http_code}',
      `${gateway.url}/users/3`,
    ]);
    const [answer, status] = stdout.split('\n');
    expect(status).toBe('2 200');
    expect(JSON.parse(answer as string)).toMatchObject({ id: '3' });

    const plain = await setup({ http2: false });
    const h1only = await run('curl', [
      '-sS',
      '--http2',
      '--cacert',
      plain.certs.cert,
      '-w',
      '\n%{http_version} %{http_code}',
      `${plain.gateway.url}/nothing`,
    ]);
    expect(h1only.stdout.split('\n')[1]).toBe('1.1 404');
    const viaNode = await h1(plain.gateway.url, plain.ca, '/users/4');
    expect([viaNode.version, viaNode.status]).toEqual(['1.1', 200]);
  });

  it('oversized headers: 431 over HTTP/1.1 and HTTP/2 (the HTTP/2 connection stays)', async () => {
    const { gateway, ca } = await setup({ maxHeaderBytes: 2_048 });
    const huge = 'y'.repeat(4_000);
    const one = await h1(gateway.url, ca, '/users/1', { headers: { 'x-huge': huge } });
    expect([one.status, errorCode(one)]).toEqual([431, 'WARREN_HEADERS_TOO_LARGE']);
    const session = await h2Session(gateway.url, ca);
    const two = await h2(session, { ':path': '/users/1', 'x-huge': huge });
    expect([two.status, errorCode(two)]).toEqual([431, 'WARREN_HEADERS_TOO_LARGE']);
    const justUnder = await h2(session, { ':path': '/users/1', 'x-huge': 'y'.repeat(1_800) });
    expect(justUnder.status).toBe(200);
    expect((await h2(session, { ':path': '/users/1' })).status).toBe(200);
  });

  it('reloadTls(): new connections get the new certificate, open ones keep theirs; a bad file keeps the old one', async () => {
    const { dir, gateway, certs, ca, lines } = await setup();
    const oldPrint = await fingerprintOf(certs.cert);
    const session = await h2Session(gateway.url, ca);
    expect((await h2(session, { ':path': '/users/1' })).fingerprint).toBe(oldPrint);
    const next = await makeCert(dir, 'two');
    copyFileSync(next.cert, certs.cert);
    copyFileSync(next.key, certs.key);
    expect(await gateway.reloadTls()).toBe(true);
    const newPrint = await fingerprintOf(next.cert);
    expect(newPrint).not.toBe(oldPrint);
    const fresh = await h1(gateway.url, readFileSync(next.cert), '/users/2');
    expect([fresh.status, fresh.fingerprint]).toEqual([200, newPrint]);
    const still = await h2(session, { ':path': '/users/3' });
    expect([still.status, still.fingerprint]).toEqual([200, oldPrint]);

    writeFileSync(certs.key, 'not a key\n');
    expect(await gateway.reloadTls()).toBe(false);
    await until(() =>
      lines.some((line) => line.includes('TLS reload failed, the certificate in use stays: invalid gateway config: gateway.tls.keyFile')),
    );
    expect((await h1(gateway.url, readFileSync(next.cert), '/users/4')).fingerprint).toBe(newPrint);
  });

  it('caFile: the intermediates are sent after the certificate, so clients that trust only the root accept it', async () => {
    const dir = tempDir();
    const { root, intermediate, leaf } = await makeChain(dir);
    const ca = readFileSync(root);
    const socketDir = join(dir, 'run');
    servers.push((await serveService(echo, { socketDir })) as ServiceServer<unknown>);
    const start = async (tls: Record<string, string>) => {
      const gateway = await startGateway({ port: 0, socketDir, logDestination: new PassThrough(), tls: tls as never });
      gateways.push(gateway);
      return gateway;
    };
    const withChain = await start({ certFile: leaf.cert, keyFile: leaf.key, caFile: intermediate });
    expect((await h1(withChain.url, ca, '/users/1')).status).toBe(200);
    expect((await h2(await h2Session(withChain.url, ca), { ':path': '/users/2' })).status).toBe(200);
    const leafOnly = await start({ certFile: leaf.cert, keyFile: leaf.key });
    await expect(h1(leafOnly.url, ca, '/users/1')).rejects.toThrow('unable to verify the first certificate');
  });

  it('gateway.close() with an HTTP/2 connection open: the request in progress is answered, then the connection is closed', async () => {
    const { gateway, ca } = await setup();
    const session = await h2Session(gateway.url, ca);
    waiting = 0;
    const inFlight = h2(session, { ':path': '/wait' });
    await until(() => waiting === 1, 'the request to reach the service');
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    let closed = false;
    const closing = gateways
      .splice(0)[0]
      ?.close()
      .then(() => {
        closed = true;
      });
    await goaway;
    expect(closed).toBe(false);
    release();
    expect(JSON.parse((await inFlight).body)).toEqual({ waited: true });
    await closing;
  });

  it('an HTTP/2 connection without streams is closed after keepAliveTimeoutMs', async () => {
    const { gateway, ca } = await setup({ keepAliveTimeoutMs: 300 });
    const session = await h2Session(gateway.url, ca);
    const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    expect((await h2(session, { ':path': '/users/1' })).status).toBe(200);
    await closed;
  });

  it('refuses files that cannot be used, one line naming the key (WARREN_CONFIG)', async () => {
    const dir = tempDir();
    const one = await makeCert(dir, 'one');
    const two = await makeCert(dir, 'two');
    const start = (tls: Record<string, string>) =>
      startGateway({ port: 0, socketDir: join(dir, 'run'), logDestination: new PassThrough(), tls: tls as never }).then(
        (gateway) => {
          gateways.push(gateway);
          return 'started';
        },
        (error: { code: string; message: string }) => `${error.code}: ${error.message}`,
      );
    expect(await start({ certFile: one.cert, keyFile: join(dir, 'missing.key') })).toBe(
      `WARREN_CONFIG: invalid gateway config: gateway.tls.keyFile: cannot read "${join(dir, 'missing.key')}" (ENOENT: no such file or directory): expected a readable PEM private key file (set gateway.tls.keyFile or TLS_KEY_FILE)`,
    );
    expect(await start({ certFile: one.cert, keyFile: two.key })).toBe(
      `WARREN_CONFIG: invalid gateway config: gateway.tls.keyFile: "${two.key}" is not the key of the certificate "${one.cert}": give the key the certificate was made for`,
    );
    expect(await start({ certFile: one.key, keyFile: one.key })).toMatch(
      /^WARREN_CONFIG: invalid gateway config: gateway\.tls\.certFile: ".*one\.key" is not a PEM certificate \(.+\): expected the server's certificate$/,
    );
    const encrypted = join(dir, 'encrypted.key');
    await run('openssl', ['pkey', '-in', one.key, '-aes256', '-passout', 'pass:s3cret', '-out', encrypted]);
    expect(await start({ certFile: one.cert, keyFile: encrypted })).toMatch(
      /^WARREN_CONFIG: invalid gateway config: gateway\.tls\.keyFile: ".*encrypted\.key" cannot be used \(.+\): the key is encrypted: set gateway\.tls\.passphrase$/,
    );
    expect(await start({ certFile: one.cert, keyFile: encrypted, passphrase: 'wrong' })).toMatch(
      /gateway\.tls\.keyFile: ".*encrypted\.key" cannot be used \(.+\): expected a PEM private key that gateway\.tls\.passphrase opens$/,
    );
    expect(await start({ certFile: one.cert, keyFile: encrypted, passphrase: 's3cret' })).toBe('started');
    expect(await start({ certFile: one.cert, keyFile: one.cert })).toMatch(
      /^WARREN_CONFIG: invalid gateway config: gateway\.tls\.keyFile: ".*one\.crt" cannot be used \(.+\): expected an unencrypted PEM private key$/,
    );
  });

  it('config: TLS_CERT_FILE and TLS_KEY_FILE (WARREN_ first) set tls; tls keys are checked; http2 is a boolean', () => {
    const env = { TLS_CERT_FILE: '/a.crt', WARREN_TLS_CERT_FILE: '/b.crt', TLS_KEY_FILE: '/b.key' };
    expect(resolveGatewayConfig({ tls: { certFile: '/x.crt', keyFile: '/x.key', caFile: '/ca.pem' } }, env).tls).toEqual({
      certFile: '/b.crt',
      keyFile: '/b.key',
      caFile: '/ca.pem',
    });
    const section = { tls: { certFile: '/x.crt', keyFile: '/x.key' } };
    resolveGatewayConfig(section, env);
    expect(section.tls.certFile).toBe('/x.crt');
    expect(() => resolveGatewayConfig({}, { TLS_CERT_FILE: '/a.crt' })).toThrow(
      'invalid gateway config: gateway.tls.keyFile: expected a path to a PEM private key file (a non-empty string), got nothing',
    );
    expect(() => resolveGatewayConfig({ tls: { certFile: '/a', keyFile: '/b', key: '/c' } })).toThrow(
      'gateway.tls: unknown key(s) key; known keys: certFile, keyFile, caFile, passphrase',
    );
    expect(() => resolveGatewayConfig({ http2: 'yes' })).toThrow('gateway.http2: expected true or false, got "yes"');
    expect(() => resolveGatewayConfig({ tls: { certFile: '', keyFile: '/b' } }, { TLS_CERT_FILE: '' })).toThrow(
      'gateway.tls.certFile: expected a path to a PEM certificate file (a non-empty string), got TLS_CERT_FILE=""',
    );
  });
});

describe('warren gateway over TLS', () => {
  it('SIGHUP reloads the certificate: new connections see it, a request in flight and its connection are unaffected', async () => {
    const dir = tempDir();
    const socketDir = join(dir, 'run');
    servers.push((await serveService(echo, { socketDir })) as ServiceServer<unknown>);
    const certs = await makeCert(dir, 'one');
    const next = await makeCert(dir, 'two');
    const [oldPrint, newPrint] = await Promise.all([fingerprintOf(certs.cert), fingerprintOf(next.cert)]);
    const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
    copyFileSync(certs.cert, live.cert);
    copyFileSync(certs.key, live.key);
    const gateway = cli.start(['gateway', '--socket-dir', socketDir], {
      env: { WARREN_GATEWAY_CONFIG: JSON.stringify({ port: 0 }), TLS_CERT_FILE: live.cert, TLS_KEY_FILE: live.key },
    });
    const url = await until(
      () => /warren gateway: listening on (https:\/\/[\d.:]+)/.exec(gateway.output())?.[1],
      () => `the gateway to listen:\n${gateway.output()}`,
      WAIT,
    );
    const ca = readFileSync(certs.cert);
    const session = await h2Session(url, ca);
    waiting = 0;
    const inFlight = h2(session, { ':path': '/wait' });
    await until(() => waiting === 1, 'the request to reach the service', WAIT);

    copyFileSync(next.cert, live.cert);
    copyFileSync(next.key, live.key);
    gateway.child.kill('SIGHUP');
    await until(
      () => gateway.output().includes('TLS certificate reloaded'),
      () => `the reload:\n${gateway.output()}`,
      WAIT,
    );
    const fresh = await h1(url, readFileSync(next.cert), '/users/1');
    expect([fresh.status, fresh.fingerprint]).toEqual([200, newPrint]);
    const freshH2 = await h2(await h2Session(url, readFileSync(next.cert)), { ':path': '/users/2' });
    expect([freshH2.status, freshH2.fingerprint]).toEqual([200, newPrint]);
    release();
    const done = await inFlight;
    expect([done.status, JSON.parse(done.body), done.fingerprint]).toEqual([200, { waited: true }, oldPrint]);
    expect((await h2(session, { ':path': '/users/3' })).fingerprint).toBe(oldPrint);
    // The old certificate is no longer served to new connections.
    await expect(h1(url, ca, '/users/4')).rejects.toThrow(/self-signed certificate|unable to verify/);

    session.close();
    gateway.child.kill('SIGTERM');
    expect((await gateway.closed).code).toBe(0);
  }, 180_000);

  it('under warren up: tls paths relative to the config; SIGHUP to the gateway pid reloads; so does warren reload gateway (a new process)', async () => {
    const { dir, socketDir } = cli.workDir('wt-');
    const first = await makeCert(dir, 'first');
    const second = await makeCert(dir, 'second');
    copyFileSync(first.cert, join(dir, 'live.crt'));
    copyFileSync(first.key, join(dir, 'live.key'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'warren.config.json'),
      JSON.stringify({
        socketDir: 's',
        services: [{ name: 'hello', entry: SERVICE }],
        gateway: { port, tls: { certFile: 'live.crt', keyFile: 'live.key' } },
      }),
    );
    const up = cli.start(['up', dir]);
    await until(
      async () => (await cli.run(['status', '--check', '--socket-dir', socketDir])).code === 0,
      () => `online:\n${up.output()}`,
      WAIT,
    );
    const url = `https://127.0.0.1:${port}`;
    const [oldPrint, newPrint] = await Promise.all([fingerprintOf(first.cert), fingerprintOf(second.cert)]);
    const before = await h2(await h2Session(url, readFileSync(first.cert)), { ':path': '/who' });
    expect([before.status, before.fingerprint]).toEqual([200, oldPrint]);
    const status = JSON.parse((await cli.run(['status', '--json', '--socket-dir', socketDir])).stdout) as {
      services: { name: string; instances: { pid: number }[] }[];
    };
    const pid = status.services.find((service) => service.name === 'gateway')?.instances[0]?.pid as number;

    copyFileSync(second.cert, join(dir, 'live.crt'));
    copyFileSync(second.key, join(dir, 'live.key'));
    process.kill(pid, 'SIGHUP');
    const after = await until(
      () => h1(url, readFileSync(second.cert), '/who').catch(() => undefined),
      () => `the new certificate:\n${up.output()}`,
      WAIT,
    );
    expect([after.status, after.fingerprint]).toEqual([200, newPrint]);
    // `warren reload gateway` takes new files in too: a new process, ready before the old one drains (a shared port).
    copyFileSync(first.cert, join(dir, 'live.crt'));
    copyFileSync(first.key, join(dir, 'live.key'));
    const reload = await cli.run(['reload', 'gateway', '--socket-dir', socketDir]);
    expect([reload.code, reload.stderr]).toEqual([0, '']);
    expect((await h1(url, readFileSync(first.cert), '/who')).fingerprint).toBe(oldPrint);
    const restarted = JSON.parse((await cli.run(['status', '--json', '--socket-dir', socketDir])).stdout) as typeof status;
    expect(restarted.services.find((service) => service.name === 'gateway')?.instances[0]?.pid).not.toBe(pid);
    up.child.kill('SIGTERM');
    expect((await up.closed).code).toBe(0);
  }, 180_000);

  it('under warren up: reload gateway twice under 12 HTTPS clients (HTTP/1.1 keep-alive and HTTP/2), no request fails', async () => {
    const { dir, socketDir } = cli.workDir('wt-');
    const certs = await makeCert(dir, 'one');
    const port = await freePort();
    writeFileSync(
      join(dir, 'warren.config.json'),
      JSON.stringify({
        socketDir: 's',
        services: [{ name: 'hello', entry: SERVICE, instances: 2 }],
        gateway: { port, accessLog: false, tls: { certFile: certs.cert, keyFile: certs.key } },
      }),
    );
    const up = cli.start(['up', dir]);
    const ca = readFileSync(certs.cert);
    const url = `https://127.0.0.1:${port}`;
    const agent = new HttpsAgent({ keepAlive: true, ca });
    /** Each HTTP/2 caller's connection, replaced once the gateway said GOAWAY. */
    const callerSessions = new Map<number, ClientHttp2Session>();
    let refusedAndRetried = 0;
    const h2Call = async (caller: number): Promise<Answer> => {
      let session = callerSessions.get(caller);
      if (session === undefined || session.closed || session.destroyed || goneAway.has(session)) {
        session = await h2Session(url, ca);
        const opened = session;
        opened.once('goaway', () => goneAway.add(opened));
        callerSessions.set(caller, session);
      }
      return h2(session, { ':path': '/who' });
    };
    const goneAway = new WeakSet<ClientHttp2Session>();
    try {
      await until(
        async () => (await cli.run(['status', '--check', '--socket-dir', socketDir])).code === 0,
        () => `online:\n${up.output()}`,
        WAIT,
      );
      const calls = load(
        async (caller) => {
          let answer: Answer;
          if (caller % 2 === 0) {
            answer = await new Promise<Answer>((resolve, reject) => {
              httpsRequest(`${url}/who`, { agent }, (res) => {
                const chunks: Buffer[] = [];
                res.on('data', (chunk: Buffer) => chunks.push(chunk));
                res.on('end', () =>
                  resolve({
                    status: res.statusCode as number,
                    headers: {},
                    body: Buffer.concat(chunks).toString(),
                    version: '1.1',
                    fingerprint: '',
                  }),
                );
              })
                .on('error', reject)
                .end();
            });
          } else {
            try {
              answer = await h2Call(caller);
            } catch (error) {
              // A stream the gateway refused unprocessed as it went away (GOAWAY, REFUSED_STREAM) is safe to send again, as browsers and curl do.
              const code = (error as NodeJS.ErrnoException).code;
              if (code !== 'ERR_HTTP2_GOAWAY_SESSION' && !String(error).includes('NGHTTP2_REFUSED_STREAM')) throw error;
              refusedAndRetried += 1;
              answer = await h2Call(caller);
            }
          }
          if (answer.status !== 200) throw new Error(`status ${answer.status}: ${answer.body}`);
          return (JSON.parse(answer.body) as { pid: number }).pid;
        },
        { callers: 12, maxMs: 150_000 },
      );
      try {
        await until(() => calls.result.served >= 300, 'requests before the reloads', WAIT);
        for (const round of [1, 2]) {
          const reload = await cli.run(['reload', 'gateway', '--socket-dir', socketDir]);
          expect([round, reload.code, reload.stderr]).toEqual([round, 0, '']);
        }
        const served = calls.result.served;
        await until(() => calls.result.served >= served + 300, 'requests after the reloads', WAIT);
      } finally {
        await calls.stop();
      }
      expect(calls.result.failures).toEqual([]);
      expect(calls.result.failed).toBe(0);
      console.log(`TLS reload under load: ${calls.result.served} served, ${refusedAndRetried} HTTP/2 streams refused and sent again`);
    } finally {
      agent.destroy();
      up.child.kill('SIGTERM');
      await up.closed;
    }
  }, 180_000);

  it('without tls, SIGHUP is ignored: the gateway serves on and SIGTERM ends it with 0', async () => {
    const dir = tempDir();
    const socketDir = join(dir, 'run');
    servers.push((await serveService(echo, { socketDir })) as ServiceServer<unknown>);
    const gateway = cli.start(['gateway', '--socket-dir', socketDir], { env: { WARREN_GATEWAY_CONFIG: JSON.stringify({ port: 0 }) } });
    const url = await until(
      () => /warren gateway: listening on (http:\/\/[\d.:]+)/.exec(gateway.output())?.[1],
      () => `the gateway to listen:\n${gateway.output()}`,
      WAIT,
    );
    gateway.child.kill('SIGHUP');
    expect((await fetch(`${url}/users/1`)).status).toBe(200);
    // Delivered after SIGHUP: had SIGHUP not been handled, it would have ended the process first.
    gateway.child.kill('SIGTERM');
    const result = await gateway.closed;
    expect([result.code, result.signal]).toEqual([0, null]);
    expect(result.stdout).not.toContain('TLS');
  });

  it('a missing or wrong key is one line naming gateway.tls.keyFile, exit 2', async () => {
    const dir = tempDir();
    const one = await makeCert(dir, 'one');
    const two = await makeCert(dir, 'two');
    writeFileSync(
      join(dir, 'warren.config.json'),
      JSON.stringify({
        socketDir: 's',
        services: [{ name: 'hello', entry: SERVICE }],
        gateway: { tls: { certFile: 'one.crt', keyFile: 'none.key' } },
      }),
    );
    const missing = await cli.run(['gateway', dir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      `warren gateway: WARREN_CONFIG: gateway.tls.keyFile: cannot read "${join(dir, 'none.key')}" (ENOENT: no such file or directory): expected a readable PEM private key file (set gateway.tls.keyFile or TLS_KEY_FILE)\n`,
    );
    const wrong = await cli.run(['gateway', dir], { env: { TLS_KEY_FILE: two.key } });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe(
      `warren gateway: WARREN_CONFIG: gateway.tls.keyFile: "${two.key}" is not the key of the certificate "${one.cert}": give the key the certificate was made for\n`,
    );
  });
});

afterEach(() => {
  release();
  release = () => {};
});
