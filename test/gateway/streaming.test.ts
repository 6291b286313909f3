/**
 * Streamed answers through the gateway (docs/gateway.md "Streamed answers", protocol §13.2):
 * a service streams a body, the gateway writes it out chunked at the client's pace, a slow
 * client holds back the service's producer (bounded memory), a client that leaves cancels the
 * call; the ServiceClient gets `response.stream`; inject() collects the chunks.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as connectNats } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { ServiceClient } from '../../src/service/client.js';
import { defineService } from '../../src/service/define.js';
import { serveService } from '../../src/service/server.js';
import { streamed } from '../../src/service/streamed.js';
import { msgpackCodec } from '../../src/wire/msgpack.js';
import { useProcesses } from '../support/processes.js';
import { until } from '../support/until.js';

const { startServer, socketPath } = useProcesses();
const SERVICE = join(import.meta.dirname, '../fixtures/gateway/stream-service.mjs');
const GATEWAY = join(import.meta.dirname, '../fixtures/gateway/stream-gateway.mjs');
const MIB = 1024 * 1024;
const CHUNK = 64 * 1024;
const BODY = 50 * MIB;
const CHUNKS = BODY / CHUNK;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A socket dir with the streaming service serving in it (a child process). */
async function startService(): Promise<string> {
  const dir = join(socketPath('x'), '..', 'run');
  await startServer(SERVICE, [dir]);
  return dir;
}

/** The gateway in a child process: its URL, and a way to read its RSS. */
async function startGatewayProcess(dir: string): Promise<{ url: string; rss: () => Promise<number> }> {
  const { proc, line } = await startServer(GATEWAY, [dir]);
  const url = (line.match(/ready (\S+)/) as RegExpMatchArray)[1] as string;
  await until(async () => (await fetch(`${url}/plain`)).status === 200, 'the gateway to route to the service');
  return { url, rss: () => askRss(proc) };
}

function askRss(proc: ChildProcessWithoutNullStreams): Promise<number> {
  return new Promise((resolve) => {
    let out = '';
    const onData = (s: string) => {
      out += s;
      const m = out.match(/mem (\d+)\n/);
      if (m) {
        proc.stdout.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    proc.stdout.on('data', onData);
    proc.stdin.write('mem\n');
  });
}

async function stats(url: string, id: string): Promise<{ produced: number; aborted: boolean; closed: boolean }> {
  const res = await fetch(`${url}/stats/${id}`);
  return (await res.json()) as { produced: number; aborted: boolean; closed: boolean };
}

/** Checks the blob's bytes as they come: byte k of 64 KiB chunk i is i % 251. */
class BlobChecker {
  offset = 0;
  bad = -1;
  take(bytes: Uint8Array): void {
    for (let k = 0; k < bytes.length; k++) {
      if (bytes[k] !== Math.floor((this.offset + k) / CHUNK) % 251 && this.bad < 0) this.bad = this.offset + k;
    }
    this.offset += bytes.length;
  }
}

/** Polls `read` until it gives the same value for `quietMs` (the producer has stopped), and returns it. */
async function settled(read: () => Promise<number>, quietMs = 1500): Promise<number> {
  let last = -1;
  let since = Date.now();
  const value = await until(
    async () => {
      const now = await read();
      if (now !== last) {
        last = now;
        since = Date.now();
        return undefined;
      }
      return Date.now() - since >= quietMs ? { now } : undefined;
    },
    { message: 'the producer to stop', intervalMs: 100, timeoutMs: 60_000 },
  );
  return value.now;
}

/** A raw HTTP/1.1 GET whose reading the test controls. */
function rawGet(url: string, path: string): Socket {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\nconnection: close\r\n\r\n`);
  cleanups.push(() => socket.destroy());
  return socket;
}

describe('streamed answers through the gateway', () => {
  it('downloads 50 MiB streamed in 64 KiB chunks, chunked, every byte in place', async () => {
    const dir = await startService();
    const { url } = await startGatewayProcess(dir);
    const res = await fetch(`${url}/blob/a?bytes=${BODY}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-blob');
    expect(res.headers.get('x-total')).toBe(String(BODY));
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    const checker = new BlobChecker();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) checker.take(chunk);
    expect(checker.offset).toBe(BODY);
    expect(checker.bad).toBe(-1);
    const after = await stats(url, 'a');
    expect(after).toEqual({ produced: CHUNKS, aborted: false, closed: true });
  }, 120_000);

  it('a client that does not read holds the producer back (bounded gateway memory); it completes once it reads', async () => {
    const dir = await startService();
    const { url, rss } = await startGatewayProcess(dir);
    const before = await rss();
    const socket = rawGet(url, `/blob/slow?bytes=${BODY}`);
    socket.pause();
    await until(async () => (await stats(url, 'slow').catch(() => null))?.produced, 'the producer to start');
    const stalled = await settled(async () => (await stats(url, 'slow')).produced);
    const grown = (await rss()) - before;
    // The stream window is 64 chunks (4 MiB); the sockets' kernel buffers hold some more. A
    // gateway that read on regardless would have let the producer run to all 800 chunks.
    expect(stalled).toBeLessThan(CHUNKS / 2);
    expect(grown).toBeLessThan(BODY / 2);
    process.stdout.write(`[streaming] stalled at ${stalled}/${CHUNKS} chunks; gateway RSS grew ${(grown / MIB).toFixed(1)} MiB\n`);

    let received = 0;
    let head = '';
    let inBody = false;
    const ended = new Promise<void>((resolve) => socket.on('end', resolve));
    socket.on('data', (data: Buffer) => {
      if (inBody) {
        received += data.length;
        return;
      }
      head += data.toString('latin1');
      const at = head.indexOf('\r\n\r\n');
      if (at >= 0) {
        inBody = true;
        received += head.length - at - 4;
      }
    });
    socket.resume();
    await ended;
    // Chunked framing adds a few bytes per chunk: the body is at least its 50 MiB.
    expect(received).toBeGreaterThanOrEqual(BODY);
    expect(head.startsWith('HTTP/1.1 200')).toBe(true);
    expect(await stats(url, 'slow')).toEqual({ produced: CHUNKS, aborted: false, closed: true });
  }, 120_000);

  it('a client that goes away midway cancels the call: the handler signal aborts, the producer stops', async () => {
    const dir = await startService();
    const { url } = await startGatewayProcess(dir);
    const socket = rawGet(url, `/blob/gone?bytes=${BODY}`);
    let received = 0;
    await new Promise<void>((resolve) => {
      socket.on('data', (data: Buffer) => {
        received += data.length;
        if (received >= MIB) resolve();
      });
    });
    socket.destroy();
    const after = await until(async () => {
      const s = await stats(url, 'gone');
      return s.aborted && s.closed ? s : undefined;
    }, 'the service to see the cancellation');
    expect(after.produced).toBeLessThan(CHUNKS);
  }, 60_000);

  it('a producer that fails midway cuts the answer short (the client sees it incomplete)', async () => {
    const dir = await startService();
    const { url } = await startGatewayProcess(dir);
    // The connection is cut (no final chunk): whether the head got out first or not, the
    // client never sees a complete answer.
    const outcome = await fetch(`${url}/fail`)
      .then((res) => res.arrayBuffer())
      .then(
        () => 'complete',
        () => 'cut short',
      );
    expect(outcome).toBe('cut short');
    // The gateway is fine afterwards.
    expect((await fetch(`${url}/plain`)).status).toBe(200);
  }, 60_000);
});

describe('streamed answers to a ServiceClient and inject()', () => {
  it('ServiceClient: response.stream holds the chunks (body undefined); a break cancels the call', async () => {
    const dir = await startService();
    const client = new ServiceClient({ socketDir: dir });
    cleanups.push(() => client.close());
    const files = client.service('files');

    const plain = await files.get('/plain');
    expect(plain.stream).toBeUndefined();
    expect(plain.body).toEqual({ plain: true });

    const res = await files.get(`/blob/c?bytes=${3 * CHUNK + 5}`);
    expect(res.status).toBe(200);
    expect(res.body).toBeUndefined();
    expect(res.headers['x-total']).toBe(String(3 * CHUNK + 5));
    const checker = new BlobChecker();
    let count = 0;
    for await (const chunk of res.stream as AsyncIterable<Uint8Array>) {
      checker.take(chunk);
      count++;
    }
    expect(count).toBe(4);
    expect(checker.offset).toBe(3 * CHUNK + 5);
    expect(checker.bad).toBe(-1);

    const readable = await files.get('/readable');
    const parts: Buffer[] = [];
    for await (const chunk of readable.stream as AsyncIterable<Uint8Array>) parts.push(Buffer.from(chunk));
    expect(Buffer.concat(parts).toString()).toBe('hello world');

    const early = await files.get(`/blob/d?bytes=${BODY}`);
    for await (const _ of early.stream as AsyncIterable<Uint8Array>) break;
    const s = await until(async () => {
      const r = (await files.get('/stats/d')).body as { produced: number; aborted: boolean; closed: boolean };
      return r.aborted && r.closed ? r : undefined;
    }, 'the service to see the break');
    expect(s.produced).toBeLessThan(CHUNKS);

    await expect(
      (async () => {
        const failing = await files.get('/fail');
        for await (const _ of failing.stream as AsyncIterable<Uint8Array>) {
          // read on until it fails
        }
      })(),
    ).rejects.toMatchObject({ code: 'WARREN_INTERNAL' });
  }, 60_000);

  it('inject() collects a streamed answer; one cut short is marked truncated', async () => {
    const dir = await startService();
    const gateway: Gateway = await startGateway({ port: 0, socketDir: dir, accessLog: false, logLevel: 'fatal' });
    cleanups.push(() => gateway.close());
    await until(async () => (await gateway.inject({ url: '/plain' })).status === 200, 'the gateway to route');
    const res = await gateway.inject({ url: `/blob/i?bytes=${2 * CHUNK + 1}` });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.body.length).toBe(2 * CHUNK + 1);
    expect(res.truncated).toBeUndefined();
    const failed = await gateway.inject({ url: '/fail' });
    expect(failed.status).toBe(200);
    expect(failed.truncated).toBe(true);
    expect(failed.body.length).toBe(3 * 1024);
  }, 60_000);
});

describe('streamed answers over NATS', () => {
  it('are refused: 500 WARREN_INTERNAL naming protocol §15.4, the source unread and the call over', async () => {
    const name = `stream${process.pid}`;
    let ended = false;
    let produced = 0;
    const service = defineService({
      name,
      routes: {
        'GET /s': {
          public: true,
          handler: () =>
            streamed(
              (async function* () {
                try {
                  produced++;
                  yield 'never sent';
                } finally {
                  ended = true;
                }
              })(),
            ),
        },
      },
    });
    const dir = join(socketPath('x'), '..', 'run');
    const server = await serveService(service, { socketDir: dir, transport: 'nats', nats: { url: 'nats://127.0.0.1:4222' } });
    cleanups.push(() => server.close());
    const nc = await connectNats({ servers: 'nats://127.0.0.1:4222' });
    cleanups.push(() => nc.close());
    const answer = await until(async () => {
      try {
        const msg = await nc.request(`warren.svc.${name}.call`, msgpackCodec.encode(['GET', '/s']), { timeout: 2000 });
        return msgpackCodec.decode(Buffer.from(msg.data)) as [number, { error: { code: string; message: string } }];
      } catch {
        return undefined; // not subscribed yet
      }
    }, 'the service to answer over NATS');
    expect(answer[0]).toBe(500);
    expect(answer[1].error.code).toBe('WARREN_INTERNAL');
    expect(answer[1].error.message).toContain('a streamed answer cannot cross NATS (protocol §15.4)');
    // The call is over (a drain would not wait for it), and nothing was taken from the source.
    await until(() => server.inFlight === 0, 'the call to be over');
    expect(produced).toBe(0);
    expect(ended).toBe(false); // never started, so never entered
  }, 60_000);
});

describe('streamed() and bad chunks', () => {
  it('streamed() refuses what is not an AsyncIterable; a chunk that is not bytes or a string fails the stream with WARREN_INTERNAL', async () => {
    expect(() => streamed('text' as never)).toThrow(/AsyncIterable/);
    const service = defineService({
      name: 'oddchunks',
      routes: {
        'GET /odd': () =>
          streamed(
            (async function* () {
              yield Buffer.from('fine');
              yield 42 as never;
            })(),
            { status: 206, headers: { 'x-part': '1' } },
          ),
      },
    });
    const dir = join(socketPath('x'), '..', 'run');
    const server = await serveService(service, { socketDir: dir, onInternalError: null });
    cleanups.push(() => server.close());
    const client = new ServiceClient({ socketDir: dir });
    cleanups.push(() => client.close());
    const res = await client.service('oddchunks').get('/odd');
    expect(res.status).toBe(206);
    expect(res.headers).toEqual({ 'x-part': '1' });
    const got: string[] = [];
    const read = (async () => {
      for await (const chunk of res.stream as AsyncIterable<Uint8Array>) got.push(Buffer.from(chunk).toString());
    })();
    await expect(read).rejects.toMatchObject({ code: 'WARREN_INTERNAL', message: expect.stringContaining('not number') });
    expect(got).toEqual(['fine']);
    await until(() => server.inFlight === 0, 'the call to be over');
  }, 60_000);
});
