/**
 * docs/protocol.md §13, statement by statement, against a real service on a real Unix socket,
 * from a client that speaks only JSON and writes its frames by hand (test/peer/raw-client.ts),
 * as an implementer in another language would from the document alone.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineService } from '../../src/service/define.js';
import { serveService } from '../../src/service/server.js';
import { CodecId } from '../../src/wire/codecs.js';
import { FrameType } from '../../src/wire/header.js';
import { until, useCleanup } from '../peer/helpers.js';
import { type RawClient, rawClient } from '../peer/raw-client.js';

const cleanup = useCleanup();

const shop = defineService({
  name: 'shop',
  dependencies: () => ({}),
  routes: {
    'GET /health': { public: true, handler: () => 'ok' },
    'GET /items/:id': ({ params, headers, requestId }) => ({ id: params.id, headers, requestId }),
    'POST /items': ({ body }) => ({ created: body }),
    'GET /boom': () => {
      throw new Error('secret detail');
    },
  },
});

let nextId = 0;

/** A JSON-only client of a fresh shop instance. */
async function start(): Promise<{
  client: RawClient;
  dir: string;
  ask: (method: string, params?: unknown) => Promise<{ type: number; body: unknown }>;
}> {
  const dir = join(cleanup.tmpDir(), 'run');
  const server = await serveService(shop, { socketDir: dir, instance: 1 });
  cleanup.defer(() => server.close());
  const client = await rawClient(join(dir, 'shop.1.sock'), cleanup.defer);
  const ask = async (method: string, params?: unknown) => {
    const id = ++nextId;
    client.framing.writeRequest(id, method, params, CodecId.json);
    const answer = await client.waitFor((f) => f.id === id && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR), method);
    // §13: every answer comes back in the request's codec: a JSON client never needs another decoder.
    expect(answer.codec).toBe(CodecId.json);
    return { type: answer.type, body: answer.payload.length === 0 ? undefined : JSON.parse(answer.payload.toString('utf8')) };
  };
  return { client, dir, ask };
}

const token = (dir: string) => readFileSync(join(dir, '.auth_token'), 'utf8');

describe('§13.1 the token file and the hello', () => {
  it('<socketDir>/.auth_token: 64 lower-case hex characters, no newline, a regular file of mode 0600; the socket is 0600', async () => {
    const { dir } = await start();
    const path = join(dir, '.auth_token');
    expect(token(dir)).toMatch(/^[0-9a-f]{64}$/);
    const stats = statSync(path);
    expect(stats.isFile()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o600);
    expect(stats.uid).toBe(process.getuid?.());
    expect(statSync(join(dir, 'shop.1.sock')).mode & 0o777).toBe(0o600);
  });

  it('a hello with the token answers { service, instance, pid }; a wrong one is an ERROR WARREN_UNAUTHORIZED, and the 3rd failure closes the connection', async () => {
    const { dir, ask, client } = await start();
    expect(await ask('warren.hello', { token: token(dir), client: 'json-client' })).toEqual({
      type: FrameType.RESPONSE,
      body: { service: 'shop', instance: 1, pid: process.pid },
    });
    const wrong = await ask('warren.hello', { token: 'f'.repeat(64) });
    expect(wrong.type).toBe(FrameType.ERROR);
    expect(wrong.body).toMatchObject({ code: 'WARREN_UNAUTHORIZED' });
    // A failed hello after a good one does not undo it.
    expect(((await ask('warren.call', ['GET', '/items/1'])).body as unknown[])[0]).toBe(200);
    expect((await ask('warren.hello', 'not a map')).body).toMatchObject({ code: 'WARREN_UNAUTHORIZED' });
    expect((await ask('warren.hello', {})).body).toMatchObject({ code: 'WARREN_UNAUTHORIZED' });
    await until(() => client.ended || client.socket.destroyed, { message: 'the connection was closed after 3 failed hellos' });
  });

  it('before the hello: public routes answer; other routes, unknown paths and other methods 401; a malformed url 400; metrics an ERROR', async () => {
    const { ask } = await start();
    expect((await ask('warren.call', ['GET', '/health'])).body).toEqual([200, 'ok']);
    const private_ = (await ask('warren.call', ['GET', '/items/7'])).body as [number, { error: { code: string } }];
    expect([private_[0], private_[1].error.code]).toEqual([401, 'WARREN_UNAUTHORIZED']);
    const unknown = (await ask('warren.call', ['GET', '/nowhere'])).body as [number, { error: { code: string } }];
    expect([unknown[0], unknown[1].error.code]).toEqual([401, 'WARREN_UNAUTHORIZED']);
    const wrongMethod = (await ask('warren.call', ['DELETE', '/health'])).body as [number, { error: { code: string } }];
    expect([wrongMethod[0], wrongMethod[1].error.code]).toEqual([401, 'WARREN_UNAUTHORIZED']);
    const malformed = (await ask('warren.call', ['GET', '/items/%zz'])).body as [number, { error: { code: string } }];
    expect([malformed[0], malformed[1].error.code]).toEqual([400, 'WARREN_BAD_URL']);
    const metrics = await ask('warren.metrics');
    expect([metrics.type, (metrics.body as { code: string }).code]).toEqual([FrameType.ERROR, 'WARREN_UNAUTHORIZED']);
  });
});

describe('§13.2 calls and answers', () => {
  it('requestId is a string that reaches the handler; any other type, or a call in neither form, is 400 WARREN_BAD_URL', async () => {
    const { dir, ask } = await start();
    await ask('warren.hello', { token: token(dir) });
    const answer = (await ask('warren.call', ['GET', '/items/5', null, null, 'req-77'])).body as [number, { requestId: string }];
    expect([answer[0], answer[1].requestId]).toEqual([200, 'req-77']);
    // Without one, the instance makes `<service>-<n>`.
    const made = (await ask('warren.call', ['GET', '/items/5'])).body as [number, { requestId: string }];
    expect(made[1].requestId).toMatch(/^shop-\d+$/);
    for (const bad of [['GET', '/items/5', null, null, 77], ['GET'], 'GET /items/5', ['GET', '/items/5', null, { 'x-n': 1 }]]) {
      const refused = (await ask('warren.call', bad)).body as [number, { error: { code: string } }];
      expect([refused[0], refused[1].error.code]).toEqual([400, 'WARREN_BAD_URL']);
    }
    // A 500 names the request id, never the error's message.
    const boom = (await ask('warren.call', ['GET', '/boom', null, null, 'req-boom'])).body as [number, { error: { message: string } }];
    expect([boom[0], boom[1].error.message]).toEqual([500, 'internal error (request req-boom)']);
  });

  it('header names reach the handler exactly as sent (no lower-casing); the method name is read in any case', async () => {
    const { dir, ask } = await start();
    await ask('warren.hello', { token: token(dir) });
    const answer = (await ask('warren.call', ['get', '/items/9', null, { 'X-Trace': 'a', 'x-trace': 'b' }])).body as [
      number,
      { headers: Record<string, string> },
    ];
    expect(answer[0]).toBe(200);
    expect(answer[1].headers).toEqual({ 'X-Trace': 'a', 'x-trace': 'b' });
  });

  it('a call as a map works as well; nil body with headers; answers are [status, body] arrays', async () => {
    const { dir, ask } = await start();
    await ask('warren.hello', { token: token(dir) });
    expect((await ask('warren.call', { method: 'POST', url: '/items', body: { name: 'pen' } })).body).toEqual([
      200,
      { created: { name: 'pen' } },
    ]);
    expect((await ask('warren.call', ['POST', '/items', null, { 'x-a': 'b' }])).body).toEqual([200, {}]);
  });
});

describe('§13.3 warren.metrics', () => {
  it('answers { service: stats, routes: { "<METHOD> <pattern>" | "(no route)": stats } } with the documented counters', async () => {
    const { dir, ask } = await start();
    await ask('warren.hello', { token: token(dir) });
    await ask('warren.call', ['GET', '/items/1']);
    await ask('warren.call', ['GET', '/items/2']);
    await ask('warren.call', ['GET', '/nowhere']);
    await ask('warren.call', ['GET', '/boom']);
    const { type, body } = await ask('warren.metrics');
    expect(type).toBe(FrameType.RESPONSE);
    const snapshot = body as { service: Record<string, number>; routes: Record<string, Record<string, number>> };
    const keys = ['requests', 'errors', 'clientErrors', 'inFlight', 'p50Ms', 'p99Ms', 'meanMs', 'maxMs', 'since'];
    expect(Object.keys(snapshot).sort()).toEqual(['routes', 'service']);
    expect(Object.keys(snapshot.service).sort()).toEqual([...keys].sort());
    expect(Object.keys(snapshot.routes).sort()).toEqual(['(no route)', 'GET /boom', 'GET /items/:id']);
    expect(snapshot.routes['GET /items/:id']).toMatchObject({ requests: 2, errors: 0, clientErrors: 0, inFlight: 0 });
    expect(snapshot.routes['(no route)']).toMatchObject({ requests: 1, clientErrors: 1 });
    expect(snapshot.routes['GET /boom']).toMatchObject({ requests: 1, errors: 1 });
    expect(snapshot.service).toMatchObject({ requests: 4, errors: 1, clientErrors: 1, inFlight: 0 });
    for (const stats of [snapshot.service, ...Object.values(snapshot.routes)]) {
      for (const key of keys) expect(typeof stats[key]).toBe('number');
      expect(stats.maxMs).toBeGreaterThanOrEqual(stats.p50Ms as number);
      expect(Math.abs(Date.now() - (stats.since as number))).toBeLessThan(60_000);
    }
  });
});
