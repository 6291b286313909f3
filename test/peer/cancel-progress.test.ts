/**
 * Progress values sent by a handler while it runs, and cancellation by the caller's
 * AbortSignal: immediate rejection, the handler's signal aborting, no late answer.
 */
import { describe, expect, it } from 'vitest';
import { CancelledError, PeerClosedError } from '../../src/errors.js';
import { expectRejection, gate, roundTrip, track, until, useCleanup } from './helpers.js';

const cleanup = useCleanup();

describe('progress', () => {
  it('delivers every ctx.progress value to onProgress, in order, before the promise resolves', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('work', async (steps, ctx) => {
      for (let i = 1; i <= (steps as number); i++) {
        ctx.progress({ done: i, of: steps });
        if (i % 2 === 0) await Promise.resolve();
      }
      return 'finished';
    });
    const events: unknown[] = [];
    const result = await a.request('work', 5, { onProgress: (v) => events.push(v) }).then((r) => {
      events.push(`resolved:${r}`);
      return r;
    });
    expect(result).toBe('finished');
    expect(events).toEqual([
      { done: 1, of: 5 },
      { done: 2, of: 5 },
      { done: 3, of: 5 },
      { done: 4, of: 5 },
      { done: 5, of: 5 },
      'resolved:finished',
    ]);
  });

  it('each request receives only its own progress', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('count', async (name, ctx) => {
      for (let i = 0; i < 3; i++) {
        ctx.progress(`${name}-${i}`);
        await Promise.resolve();
      }
      return name;
    });
    const x: unknown[] = [];
    const y: unknown[] = [];
    const none = a.request('count', 'n');
    await Promise.all([
      a.request('count', 'x', { onProgress: (v) => x.push(v) }),
      a.request('count', 'y', { onProgress: (v) => y.push(v) }),
    ]);
    expect(await none).toBe('n');
    expect(x).toEqual(['x-0', 'x-1', 'x-2']);
    expect(y).toEqual(['y-0', 'y-1', 'y-2']);
  });

  it('a throwing onProgress listener does not break the request or the connection', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('p', (_x, ctx) => {
      ctx.progress(1);
      ctx.progress(2);
      return 'ok';
    });
    const seen: unknown[] = [];
    const result = await a.request('p', null, {
      onProgress: (v) => {
        seen.push(v);
        throw new Error('listener bug');
      },
    });
    expect(result).toBe('ok');
    expect(seen).toEqual([1, 2]);
    expect(await a.request('p')).toBe('ok');
  });

  it('progress after the handler answered is dropped, and an unencodable progress value is skipped', async () => {
    const [a, b] = cleanup.pair({ codec: 'json' });
    let late: (() => void) | undefined;
    b.onRequest('p', (_x, ctx) => {
      ctx.progress(() => 'a function is not JSON');
      ctx.progress('encodable');
      late = () => ctx.progress('after the end');
      return 'done';
    });
    const seen: unknown[] = [];
    expect(await a.request('p', null, { onProgress: (v) => seen.push(v) })).toBe('done');
    late?.();
    await roundTrip(a, b);
    expect(seen).toEqual(['encodable']);
  });
});

describe('progress over JSON-RPC framing', () => {
  it('follows the LSP workDoneToken: one Warren adds, and one the caller chose itself', async () => {
    const [a, b] = cleanup.pair({ framing: 'jsonrpc' });
    const tokens: unknown[] = [];
    b.onRequest('work', (params, ctx) => {
      tokens.push((params as { workDoneToken?: unknown }).workDoneToken);
      ctx.progress('half');
      ctx.progress('all');
      return 'done';
    });
    const added: unknown[] = [];
    expect(await a.request('work', { job: 1 }, { onProgress: (v) => added.push(v) })).toBe('done');
    const chosen: unknown[] = [];
    expect(await a.request('work', { job: 2, workDoneToken: 'mine' }, { onProgress: (v) => chosen.push(v) })).toBe('done');
    expect(added).toEqual(['half', 'all']);
    expect(chosen).toEqual(['half', 'all']);
    expect(tokens).toEqual([expect.any(Number), 'mine']);
  });
});

describe('cancellation', () => {
  it('aborting the signal rejects at once with CancelledError, aborts the handler, and no late answer arrives', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 });
    const release = gate();
    let handlerFinished = false;
    let handlerAbort: unknown;
    b.onRequest('long', async (_p, ctx) => {
      ctx.signal.addEventListener('abort', () => {
        handlerAbort = ctx.signal.reason;
      });
      await release.promise;
      handlerFinished = true;
      return 'late result';
    });
    const controller = new AbortController();
    const pending = a.request('long', null, { signal: controller.signal });
    await until(() => b.activeHandlers === 1);
    const reason = new Error('user pressed stop');
    controller.abort(reason);
    const error = await expectRejection(pending, CancelledError, 'WARREN_CANCELLED', "request 'long' cancelled");
    expect(error.cause).toBe(reason);
    expect(handlerFinished).toBe(false);
    expect(a.pendingCount).toBe(0);

    await until(() => handlerAbort !== undefined);
    expect(handlerAbort).toBeInstanceOf(CancelledError);
    expect((handlerAbort as CancelledError).message).toMatch(/'long' cancelled by the caller/);

    release.open();
    await until(() => handlerFinished && b.activeHandlers === 0);
    await roundTrip(a, b);
    expect(a.stats.unknownResponses).toBe(0);
    expect(a.stats.requestsSent).toBe(2);
  });

  it('an already-aborted signal rejects without sending anything', async () => {
    const [a, b] = cleanup.pair();
    let called = false;
    b.onRequest('never', () => {
      called = true;
      return 1;
    });
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expectRejection(
      a.request('never', null, { signal: controller.signal }),
      CancelledError,
      'WARREN_CANCELLED',
      "request 'never' cancelled before it was sent",
    );
    expect(a.stats.requestsSent).toBe(0);
    expect(a.pendingCount).toBe(0);
    await roundTrip(a, b);
    expect(called).toBe(false);
    expect(b.stats.requestsReceived).toBe(1); // only the round trip
  });

  it('aborting after the answer arrived changes nothing', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('fast', () => 'done');
    const controller = new AbortController();
    expect(await a.request('fast', null, { signal: controller.signal })).toBe('done');
    controller.abort();
    await roundTrip(a, b);
    expect(b.stats.requestsReceived).toBe(2);
    expect(a.stats.unknownResponses).toBe(0);
  });

  it('one signal cancels several requests, and only those', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 });
    const release = gate<string>();
    b.onRequest('w', () => release.promise);
    const controller = new AbortController();
    const cancelled = [track(a.request('w', 1, { signal: controller.signal })), track(a.request('w', 2, { signal: controller.signal }))];
    const kept = track(a.request('w', 3));
    await until(() => b.activeHandlers === 3);
    controller.abort();
    await until(() => cancelled.every((o) => o.status === 'rejected'));
    for (const o of cancelled) expect((o.error as CancelledError).code).toBe('WARREN_CANCELLED');
    expect(kept.status).toBe('pending');
    release.open('kept');
    await until(() => kept.status !== 'pending');
    expect(kept).toEqual({ status: 'fulfilled', value: 'kept' });
  });

  it("the handler's signal also aborts when its peer is destroyed", async () => {
    const [a, b] = cleanup.pair({ timeout: 0 });
    let reason: unknown;
    b.onRequest('hang', (_p, ctx) => {
      ctx.signal.addEventListener('abort', () => {
        reason = ctx.signal.reason;
      });
      return new Promise(() => {});
    });
    const pending = track(a.request('hang'));
    await until(() => b.activeHandlers === 1);
    b.destroy();
    await until(() => reason !== undefined && pending.status === 'rejected');
    expect(reason).toBeInstanceOf(PeerClosedError);
    expect((pending.error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
  });
});
