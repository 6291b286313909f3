/**
 * Requests, responses and notifications between two peers joined in memory: every codec, the
 * per-request codec option, handler chains ('*', registration order, passing on with
 * undefined), NO_HANDLER, and the removers every registration returns.
 */
import { describe, expect, it } from 'vitest';
import { RemoteError, WarrenError } from '../../src/errors.js';
import type { CodecName } from '../../src/wire/codecs.js';
import { expectRejection, roundTrip, until, useCleanup } from './helpers.js';

const cleanup = useCleanup();

describe('request/response with each codec', () => {
  const structured = { n: 42, f: -1.5, s: 'héllo ✓', t: true, nil: null, list: [1, 'two', [3]], nested: { deep: { x: 'y' } } };
  const cases: { codec: CodecName; params: unknown; check: (value: unknown) => void }[] = [
    { codec: 'msgpack', params: structured, check: (v) => expect(v).toEqual({ echoed: structured }) },
    { codec: 'json', params: structured, check: (v) => expect(v).toEqual({ echoed: structured }) },
    {
      codec: 'v8',
      params: { map: new Map([['k', 1]]), set: new Set([1, 2]), date: new Date(0), big: 2n ** 70n, bytes: new Uint8Array([1, 2]) },
      check: (v) => {
        const { echoed } = v as { echoed: { map: Map<string, number>; set: Set<number>; date: Date; big: bigint; bytes: Uint8Array } };
        expect(echoed.map).toBeInstanceOf(Map);
        expect([...echoed.map]).toEqual([['k', 1]]);
        expect(echoed.set).toBeInstanceOf(Set);
        expect([...echoed.set]).toEqual([1, 2]);
        expect(echoed.date).toBeInstanceOf(Date);
        expect(echoed.date.getTime()).toBe(0);
        expect(echoed.big).toBe(2n ** 70n);
        expect([...echoed.bytes]).toEqual([1, 2]);
      },
    },
  ];

  for (const { codec, params, check } of cases) {
    it(`round-trips structured params and results with the ${codec} codec`, async () => {
      const [a, b] = cleanup.pair({ codec });
      b.onRequest('echo', (p) => ({ echoed: p }));
      check(await a.request('echo', params));
    });
  }

  it('round-trips Buffers with the raw codec, byte for byte', async () => {
    const [a, b] = cleanup.pair({ codec: 'raw' });
    const seen: unknown[] = [];
    b.onRequest('reverse', (p) => {
      seen.push(p);
      return Buffer.from(p as Buffer).reverse();
    });
    const bytes = Buffer.from([0, 1, 2, 0xff, 0x57, 0xae, 254]);
    const result = await a.request('reverse', bytes);
    expect(Buffer.isBuffer(seen[0])).toBe(true);
    expect(seen[0]).toEqual(bytes);
    expect(Buffer.isBuffer(result)).toBe(true);
    expect(result).toEqual(Buffer.from([254, 0xae, 0x57, 0xff, 2, 1, 0]));
  });

  it('lets each side write with its own codec and read whatever arrives', async () => {
    const [a, b] = cleanup.pair({ codec: 'json' }, { codec: 'v8' });
    const seen: unknown[] = [];
    a.onNotify('n', (p) => {
      seen.push(p);
    });
    b.onRequest('sum', (p) => (p as number[]).reduce((x, y) => x + y, 0));
    a.onRequest('when', () => new Date(86_400_000));
    // b writes v8: its notification keeps a Map, which JSON could not carry.
    b.notify('n', new Map([['k', 1]]));
    await until(() => seen.length === 1);
    expect(seen[0]).toBeInstanceOf(Map);
    // a writes JSON, b reads it.
    expect(await a.request('sum', [1, 2, 3])).toBe(6);
    // A response is written in the codec of the request it answers, not in the answering
    // side's codec: a writes JSON, yet b's v8 request gets a real Date back.
    const when = await b.request('when');
    expect(when).toBeInstanceOf(Date);
    expect((when as Date).getTime()).toBe(86_400_000);
  });

  it('honours a per-request codec for the params (and answers in the same codec)', async () => {
    const [a, b] = cleanup.pair({ codec: 'msgpack' });
    const seen: unknown[] = [];
    b.onRequest('keep', (p) => {
      seen.push(p);
      return p;
    });
    const map = new Map([['a', 1]]);
    // msgpack turns a Map into a plain object; v8 keeps it a Map both ways.
    expect(await a.request('keep', map)).toEqual({ a: 1 });
    const viaV8 = await a.request('keep', map, { codec: 'v8' });
    expect(seen[0]).not.toBeInstanceOf(Map);
    expect(seen[1]).toBeInstanceOf(Map);
    expect(viaV8).toBeInstanceOf(Map);
    expect([...(viaV8 as Map<string, number>)]).toEqual([['a', 1]]);

    const bytes = Buffer.from('raw bytes');
    expect(await a.request('keep', bytes, { codec: 'raw' })).toEqual(bytes);
    expect(Buffer.isBuffer(seen[2])).toBe(true);
  });

  it('rejects an unknown per-request codec with WARREN_INVALID_ARGUMENT and sends nothing', async () => {
    const [a] = cleanup.pair();
    await expectRejection(
      a.request('x', 1, { codec: 'nope' as CodecName }),
      WarrenError,
      'WARREN_INVALID_ARGUMENT',
      /unknown codec "nope"/,
    );
    expect(a.stats.requestsSent).toBe(0);
    expect(a.pendingCount).toBe(0);
  });

  it('answers undefined params and non-object results (number, string, null, false, 0)', async () => {
    const [a, b] = cleanup.pair();
    const results: Record<string, unknown> = { num: 7, str: 'x', nil: null, no: false, zero: 0 };
    b.onRequest('*', (_p, ctx) => results[ctx.method]);
    b.onRequest('args', (p) => ({ params: p === undefined ? 'undefined' : p }));
    for (const [method, value] of Object.entries(results)) expect(await a.request(method)).toEqual(value);
    expect(await a.request('args')).toEqual({ params: 'undefined' });
    expect(a.stats.requestsSent).toBe(6);
    expect(b.stats.requestsReceived).toBe(6);
  });
});

describe('notifications', () => {
  it('flow both ways with their params, in order', async () => {
    const [a, b] = cleanup.pair();
    const atB: unknown[] = [];
    const atA: unknown[] = [];
    b.onNotify('log', (p) => {
      atB.push(p);
    });
    a.onNotify('log', (p) => {
      atA.push(p);
    });
    a.notify('log', { line: 1 });
    a.notify('log', { line: 2 });
    b.notify('log', 'from b');
    await until(() => atB.length === 2 && atA.length === 1);
    expect(atB).toEqual([{ line: 1 }, { line: 2 }]);
    expect(atA).toEqual(['from b']);
    expect(a.stats.notificationsSent).toBe(2);
    expect(b.stats.notificationsReceived).toBe(2);
    expect(b.stats.notificationsSent).toBe(1);
    expect(a.stats.notificationsReceived).toBe(1);
  });

  it("reach '*' handlers, and a handler returning something stops the chain", async () => {
    const [a, b] = cleanup.pair();
    const calls: string[] = [];
    b.onNotify('*', (_p, peer) => {
      expect(peer).toBe(b);
      calls.push('star');
    });
    b.onNotify('stop', () => {
      calls.push('stop');
      return true;
    });
    b.onNotify('stop', () => {
      calls.push('never');
    });
    a.notify('other', 1);
    a.notify('stop', 2);
    await roundTrip(a, b);
    expect(calls).toEqual(['star', 'star', 'stop']);
  });

  it('a notification nobody handles is dropped without an answer', async () => {
    const [a, b] = cleanup.pair();
    a.notify('nobody', 1);
    await roundTrip(a, b);
    expect(b.stats.notificationsReceived).toBe(1);
    expect(a.stats.unknownResponses).toBe(0);
  });

  it('a throwing notification handler is reported as badMessage and the next one still runs', async () => {
    const [a, b] = cleanup.pair();
    const bad: WarrenError[] = [];
    b.on('badMessage', (e) => bad.push(e));
    const got: unknown[] = [];
    b.onNotify('n', () => {
      throw new Error('handler broke');
    });
    b.onNotify('n', (p) => {
      got.push(p);
    });
    a.notify('n', 'x');
    await until(() => got.length === 1);
    expect(bad).toHaveLength(1);
    expect(bad[0]?.code).toBe('WARREN_REMOTE_ERROR');
    expect(bad[0]?.message).toMatch(/notification handler for 'n' threw: handler broke/);
  });
});

describe('handler chains', () => {
  it("'*' answers any method and sees the method name in ctx", async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('*', (p, ctx) => ({ method: ctx.method, p }));
    expect(await a.request('users.get', 1)).toEqual({ method: 'users.get', p: 1 });
    expect(await a.request('anything.else')).toEqual({ method: 'anything.else' });
  });

  it('tries handlers in registration order; undefined (sync or async) passes to the next', async () => {
    const [a, b] = cleanup.pair();
    const order: string[] = [];
    b.onRequest('m', () => {
      order.push('sync-undefined');
      return undefined;
    });
    b.onRequest('*', async () => {
      order.push('async-undefined');
      await Promise.resolve();
      return undefined;
    });
    b.onRequest('other', () => {
      order.push('wrong method');
      return 'wrong';
    });
    b.onRequest('m', async () => {
      order.push('answers');
      return 'third';
    });
    b.onRequest('m', () => {
      order.push('too late');
      return 'fourth';
    });
    expect(await a.request('m')).toBe('third');
    expect(order).toEqual(['sync-undefined', 'async-undefined', 'answers']);
  });

  it('null and other falsy results answer (only undefined passes on)', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('m', () => null);
    b.onRequest('m', () => 'second');
    expect(await a.request('m')).toBeNull();
  });

  it('no handler at all → RemoteError WARREN_NO_HANDLER naming the method', async () => {
    const [a] = cleanup.pair();
    const error = await expectRejection(a.request('missing.method'), RemoteError, 'WARREN_NO_HANDLER', /'missing\.method'/);
    expect(error.name).toBe('RemoteError');
  });

  it('every handler passing (sync and async) → WARREN_NO_HANDLER', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('m', () => undefined);
    await expectRejection(a.request('m'), RemoteError, 'WARREN_NO_HANDLER', /no handler answered method 'm'/);
    b.onRequest('*', async () => undefined);
    await expectRejection(a.request('m'), RemoteError, 'WARREN_NO_HANDLER', /no handler answered method 'm'/);
  });

  it('onRequest returns a remover that takes exactly that handler out', async () => {
    const [a, b] = cleanup.pair();
    const first = b.onRequest('m', () => 'first');
    const second = b.onRequest('m', () => 'second');
    const star = b.onRequest('*', () => 'star');
    expect(await a.request('m')).toBe('first');
    first();
    expect(await a.request('m')).toBe('second');
    first(); // removing twice does nothing more
    expect(await a.request('m')).toBe('second');
    second();
    expect(await a.request('m')).toBe('star');
    star();
    await expectRejection(a.request('m'), RemoteError, 'WARREN_NO_HANDLER');
  });

  it('onNotify returns a remover', async () => {
    const [a, b] = cleanup.pair();
    const got: unknown[] = [];
    const off = b.onNotify('n', (p) => {
      got.push(p);
    });
    a.notify('n', 1);
    await until(() => got.length === 1);
    off();
    a.notify('n', 2);
    await roundTrip(a, b);
    expect(got).toEqual([1]);
    expect(b.stats.notificationsReceived).toBe(2);
  });

  it('peer.on returns a remover for event listeners', async () => {
    const [a, b] = cleanup.pair();
    const kept: unknown[] = [];
    const removed: unknown[] = [];
    a.on('close', (e) => kept.push(e));
    const off = a.on('close', (e) => removed.push(e));
    off();
    b.destroy();
    await until(() => a.closed);
    expect(kept).toEqual([undefined]);
    expect(removed).toEqual([]);
  });

  it('a handler registered while requests flow is used for the next request', async () => {
    const [a, b] = cleanup.pair();
    await expectRejection(a.request('late'), RemoteError, 'WARREN_NO_HANDLER');
    b.onRequest('late', () => 'now here');
    expect(await a.request('late')).toBe('now here');
  });
});

describe('requestThen (request and its continuation without a second promise)', () => {
  const identity = (value: unknown) => ({ value });
  const caught = (error: Error) => ({ caught: (error as WarrenError).code ?? error.message });

  it('resolves with what onValue returns, and with what onError returns for a remote error', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('echo', (p) => p);
    b.onRequest('fail', () => {
      throw new WarrenError('APP_BROKEN', 'broken');
    });
    expect(await a.requestThen('echo', 7, undefined, identity, caught)).toEqual({ value: 7 });
    expect(await a.requestThen('fail', 7, undefined, identity, caught)).toEqual({ caught: 'APP_BROKEN' });
  });

  it('rejects with what onValue throws, and adopts a promise it returns', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('echo', (p) => p);
    const thrown = a.requestThen(
      'echo',
      1,
      undefined,
      () => {
        throw new Error('bad answer');
      },
      caught,
    );
    await expect(thrown).rejects.toThrow('bad answer');
    expect(await a.requestThen('echo', 2, undefined, (v) => Promise.resolve(`later ${String(v)}`), caught)).toBe('later 2');
  });

  it('hands a timeout, a closed peer and an unencodable request to onError', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('never', () => new Promise(() => {}));
    expect(await a.requestThen('never', 1, { timeout: 20 }, identity, caught)).toEqual({ caught: 'WARREN_TIMEOUT' });
    expect(await a.requestThen('never', 2n ** 70n, undefined, identity, caught)).toEqual({ caught: 'WARREN_CODEC' });
    a.destroy();
    expect(await a.requestThen('never', 1, undefined, identity, caught)).toEqual({ caught: 'WARREN_PEER_CLOSED' });
  });
});
