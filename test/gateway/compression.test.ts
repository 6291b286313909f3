/** Response compression: brotli or gzip by Accept-Encoding, above the threshold, for compressible types only. */
import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseEncoding, isCompressible } from '../../src/gateway/compression.js';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { defineService } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { serviceCleanup } from '../support/service-cleanup.js';

const { dirs, servers } = serviceCleanup();
const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

const big = { items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item number ${i}` })) };
const files = defineService({
  name: 'files',
  routes: {
    'GET /big': () => big,
    'GET /small': () => ({ ok: true }),
    'GET /bytes': () => Buffer.alloc(4096, 7),
  },
});

async function setup(options: Parameters<typeof startGateway>[0] = {}) {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  const dir = join(base, 'run');
  servers.push((await serveService(files, { socketDir: dir })) as ServiceServer<unknown>);
  const gateway = await startGateway({ port: 0, socketDir: dir, accessLog: false, ...options });
  gateways.push(gateway);
  return gateway;
}

/** A raw GET (fetch would decompress on its own): status, headers and the bytes as sent. */
function get(url: string, acceptEncoding?: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('gateway compression', () => {
  it('chooses br before gzip, honours q-values, q=0 and *', () => {
    expect(chooseEncoding('gzip, deflate, br')).toBe('br');
    expect(chooseEncoding('gzip;q=1, br;q=0.5')).toBe('gzip');
    expect(chooseEncoding('br;q=0, gzip')).toBe('gzip');
    expect(chooseEncoding('*')).toBe('br');
    expect(chooseEncoding('*;q=0')).toBeUndefined();
    expect(chooseEncoding('identity')).toBeUndefined();
    expect(chooseEncoding('gzip;q=abc')).toBeUndefined();
    expect(chooseEncoding(undefined)).toBeUndefined();
    expect(isCompressible('application/json; charset=utf-8')).toBe(true);
    expect(isCompressible('application/problem+json')).toBe(true);
    expect(isCompressible('application/octet-stream')).toBe(false);
    expect(isCompressible('image/png')).toBe(false);
  });

  it('compresses a large JSON answer with br or gzip, which decode to the same body; Vary is set', async () => {
    const gateway = await setup();
    const plain = await get(`${gateway.url}/big`);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toBe('Accept-Encoding');
    expect(JSON.parse(plain.body.toString())).toEqual(big);

    const br = await get(`${gateway.url}/big`, 'gzip, br');
    expect(br.headers['content-encoding']).toBe('br');
    expect(Number(br.headers['content-length'])).toBe(br.body.length);
    expect(br.body.length).toBeLessThan(plain.body.length / 3);
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);

    const gz = await get(`${gateway.url}/big`, 'gzip');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);

    // fetch decodes it like a browser would.
    expect(await (await fetch(`${gateway.url}/big`)).json()).toEqual(big);
  });

  it('leaves alone small answers, incompressible types, and everything when compression is off', async () => {
    const gateway = await setup();
    const small = await get(`${gateway.url}/small`, 'br');
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.headers.vary).toBeUndefined();
    const bytes = await get(`${gateway.url}/bytes`, 'br');
    expect(bytes.headers['content-encoding']).toBeUndefined();
    expect(bytes.body.length).toBe(4096);

    const off = await setup({ compression: false });
    const big = await get(`${off.url}/big`, 'br');
    expect(big.headers['content-encoding']).toBeUndefined();
  });
});
