/**
 * Timeouts (the peer's default and per request), the cancel frame a timed-out request sends
 * to the handler side, and request ids from a custom idGenerator.
 */
import { describe, expect, it } from 'vitest';
import { CancelledError, TimeoutError, WarrenError } from '../../src/errors.js';
import type { RequestId } from '../../src/wire/framing.js';
import { expectRejection, gate, roundTrip, track, until, useCleanup } from './helpers.js';

const cleanup = useCleanup();

describe('timeouts', () => {
  it('the peer default timeout rejects with TimeoutError naming the method and cancels the handler', async () => {
    const [a, b] = cleanup.pair({ timeout: 50 });
    let abortReason: unknown;
    const release = gate();
    b.onRequest('slow.op', async (_p, ctx) => {
      ctx.signal.addEventListener('abort', () => {
        abortReason = ctx.signal.reason;
      });
      await release.promise;
      return 'too late';
    });
    const error = await expectRejection(
      a.request('slow.op'),
      TimeoutError,
      'WARREN_TIMEOUT',
      "request 'slow.op' got no response within 50 ms",
    );
    expect(error.data).toEqual({ method: 'slow.op', timeoutMs: 50 });
    expect(a.pendingCount).toBe(0);
    // The caller sent a cancel frame: the handler's signal aborts.
    await until(() => abortReason !== undefined);
    expect(abortReason).toBeInstanceOf(CancelledError);
    expect((abortReason as CancelledError).code).toBe('WARREN_CANCELLED');
    expect((abortReason as CancelledError).message).toMatch(/'slow\.op' cancelled by the caller/);
    // The handler finishing afterwards sends nothing: no late response reaches the caller.
    release.open();
    await until(() => b.activeHandlers === 0);
    await roundTrip(a, b);
    expect(a.stats.unknownResponses).toBe(0);
  });

  it('several requests on the shared default timer all expire, each naming its own method', async () => {
    const [a, b] = cleanup.pair({ timeout: 50 });
    b.onRequest('*', () => new Promise(() => {}));
    const errors = await Promise.all(['one', 'two', 'three'].map((m) => a.request(m).catch((e: unknown) => e)));
    for (const [i, m] of ['one', 'two', 'three'].entries()) {
      const e = errors[i] as TimeoutError;
      expect(e).toBeInstanceOf(TimeoutError);
      expect(e.code).toBe('WARREN_TIMEOUT');
      expect(e.message).toContain(`'${m}'`);
    }
    expect(a.pendingCount).toBe(0);
  });

  it('a per-request timeout overrides a peer that waits forever', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 });
    let aborted = false;
    b.onRequest('hang', (_p, ctx) => {
      ctx.signal.addEventListener('abort', () => {
        aborted = true;
      });
      return new Promise(() => {});
    });
    const error = await expectRejection(a.request('hang', null, { timeout: 30 }), TimeoutError, 'WARREN_TIMEOUT', /'hang'.*30 ms/);
    expect(error.data).toEqual({ method: 'hang', timeoutMs: 30 });
    await until(() => aborted);
  });

  it('a per-request timeout of 0 outlives the default one', async () => {
    const [a, b] = cleanup.pair({ timeout: 40 });
    const release = gate<string>();
    b.onRequest('wait', () => release.promise);
    const forever = track(a.request('wait', null, { timeout: 0 }));
    const defaulted = a.request('wait');
    await expectRejection(defaulted, TimeoutError, 'WARREN_TIMEOUT', /'wait'.*40 ms/);
    // The default one has timed out; the other is still waiting, and gets its answer.
    expect(forever.status).toBe('pending');
    release.open('answered');
    await until(() => forever.status !== 'pending');
    expect(forever).toEqual({ status: 'fulfilled', value: 'answered' });
  });

  it('a request answered in time is not rejected later by its timer', async () => {
    const [a, b] = cleanup.pair({ timeout: 30 });
    b.onRequest('quick', () => 'fast');
    const quick = track(a.request('quick', null, { timeout: 30 }));
    const onShared = track(a.request('quick'));
    // A second request that does time out proves both timers have had their chance to fire.
    b.onRequest('never', () => new Promise(() => {}));
    await expectRejection(a.request('never', null, { timeout: 60 }), TimeoutError, 'WARREN_TIMEOUT');
    expect(quick).toEqual({ status: 'fulfilled', value: 'fast' });
    expect(onShared).toEqual({ status: 'fulfilled', value: 'fast' });
  });

  it('rejects a negative or NaN timeout with WARREN_INVALID_ARGUMENT and sends nothing', async () => {
    const [a] = cleanup.pair();
    await expectRejection(a.request('x', null, { timeout: -1 }), WarrenError, 'WARREN_INVALID_ARGUMENT', /timeout.*-1/);
    await expectRejection(a.request('x', null, { timeout: Number.NaN }), WarrenError, 'WARREN_INVALID_ARGUMENT', /timeout/);
    expect(a.stats.requestsSent).toBe(0);
  });
});

describe('idGenerator', () => {
  it('is used for request ids, as the handler side sees in ctx.id', async () => {
    let next = 1000;
    const [a, b] = cleanup.pair({ idGenerator: () => (next += 7) });
    const ids: RequestId[] = [];
    b.onRequest('who', (_p, ctx) => {
      ids.push(ctx.id);
      return ctx.id;
    });
    expect(await a.request('who')).toBe(1007);
    expect(await a.request('who')).toBe(1014);
    expect(await Promise.all([a.request('who'), a.request('who')])).toEqual([1021, 1028]);
    expect(ids).toEqual([1007, 1014, 1021, 1028]);
  });

  it('an id already in use → WARREN_INVALID_ARGUMENT, and the first request is unharmed', async () => {
    const [a, b] = cleanup.pair({ idGenerator: () => 5 });
    const release = gate<string>();
    b.onRequest('wait', () => release.promise);
    const first = track(a.request('wait'));
    await until(() => b.activeHandlers === 1);
    const error = await expectRejection(a.request('wait'), WarrenError, 'WARREN_INVALID_ARGUMENT', /idGenerator returned 5/);
    expect(error.message).toMatch(/unused integers from 1 to 2\^32-1/);
    expect(a.stats.requestsSent).toBe(1);
    release.open('first');
    await until(() => first.status !== 'pending');
    expect(first).toEqual({ status: 'fulfilled', value: 'first' });
    // Once the id is free again it may be reused.
    expect(await a.request('wait')).toBe('first');
  });

  for (const bad of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
    it(`an invalid id (${bad}) → WARREN_INVALID_ARGUMENT as a rejected promise`, async () => {
      const [a] = cleanup.pair({ idGenerator: () => bad });
      await expectRejection(a.request('x'), WarrenError, 'WARREN_INVALID_ARGUMENT', `idGenerator returned ${bad}`);
      expect(a.pendingCount).toBe(0);
      expect(a.stats.requestsSent).toBe(0);
    });
  }

  it('a throwing idGenerator rejects the request with its error', async () => {
    const boom = new Error('no ids left');
    const [a] = cleanup.pair({
      idGenerator: () => {
        throw boom;
      },
    });
    await expect(a.request('x')).rejects.toBe(boom);
  });
});
