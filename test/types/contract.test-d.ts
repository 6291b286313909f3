/**
 * Compile-time tests of typed contracts: `npx tsc -p tsconfig.json --noEmit` (and vitest's
 * typecheck) fail when a wrong params, result or handler type is accepted, because every
 * `@ts-expect-error` below must find an error. The function is never called.
 */
import { expectTypeOf } from 'vitest';
import {
  type MethodDescriptor,
  method,
  type NotificationDescriptor,
  notification,
  type ParamsOf,
  type ResultOf,
} from '../../src/peer/contract.js';
import type { Peer, RequestContext } from '../../src/peer/peer.js';

const add = method<{ a: number; b: number }, number>('math.add');
const ping = method<void, string>('ping');
const countTo = method<{ n: number }, AsyncIterable<number>>('count');
const log = notification<{ line: string }>('log');

expectTypeOf(add).toEqualTypeOf<MethodDescriptor<{ a: number; b: number }, number>>();
expectTypeOf(log).toEqualTypeOf<NotificationDescriptor<{ line: string }>>();
expectTypeOf<ParamsOf<typeof add>>().toEqualTypeOf<{ a: number; b: number }>();
expectTypeOf<ResultOf<typeof add>>().toEqualTypeOf<number>();
expectTypeOf<ParamsOf<typeof log>>().toEqualTypeOf<{ line: string }>();
expectTypeOf<ResultOf<typeof countTo>>().toEqualTypeOf<AsyncIterable<number>>();
expectTypeOf<ResultOf<typeof log>>().toBeNever();

export async function neverCalled(peer: Peer): Promise<void> {
  // ---- what is accepted, with the types it carries ------------------------------------
  expectTypeOf(peer.request(add, { a: 1, b: 2 })).toEqualTypeOf<Promise<number>>();
  expectTypeOf(peer.request(add, { a: 1, b: 2 }, { timeout: 10 })).toEqualTypeOf<Promise<number>>();
  expectTypeOf(peer.request(ping)).toEqualTypeOf<Promise<string>>();
  expectTypeOf(peer.request(countTo, { n: 3 })).toEqualTypeOf<Promise<AsyncIterable<number>>>();
  expectTypeOf(peer.request('untyped')).toEqualTypeOf<Promise<unknown>>();
  expectTypeOf(peer.request<string>('untyped')).toEqualTypeOf<Promise<string>>();
  peer.onRequest(add, ({ a, b }, ctx) => {
    expectTypeOf(a).toEqualTypeOf<number>();
    expectTypeOf(ctx).toEqualTypeOf<RequestContext>();
    return a + b;
  });
  peer.onRequest(add, async ({ a }) => a);
  peer.onRequest(add, () => undefined); // passes to the next handler
  peer.onRequest(ping, () => 'pong');
  peer.onRequest(countTo, async function* ({ n }) {
    for (let i = 0; i < n; i++) yield i;
  });
  peer.onNotify(log, (p) => {
    expectTypeOf(p).toEqualTypeOf<{ line: string }>();
  });
  peer.notify(log, { line: 'x' });
  for await (const item of await peer.request(countTo, { n: 2 })) expectTypeOf(item).toEqualTypeOf<number>();

  // ---- wrong params ---------------------------------------------------------------------
  // @ts-expect-error a param of the wrong type
  await peer.request(add, { a: '1', b: 2 });
  // @ts-expect-error a missing param
  await peer.request(add, { a: 1 });
  // @ts-expect-error params left out altogether
  await peer.request(add);
  // @ts-expect-error an unknown param
  await peer.request(add, { a: 1, b: 2, c: 3 });
  // @ts-expect-error params for a method that takes none
  await peer.request(ping, { a: 1 });
  // @ts-expect-error a wrong notification payload
  peer.notify(log, { line: 1 });
  // @ts-expect-error a request descriptor is not a notification
  peer.notify(add, { a: 1, b: 2 });

  // ---- wrong result ---------------------------------------------------------------------
  // @ts-expect-error the result is a number, not a string
  const s: string = await peer.request(add, { a: 1, b: 2 });
  // @ts-expect-error an explicit result type cannot override a descriptor's
  await peer.request<string>(add, { a: 1, b: 2 });
  // @ts-expect-error the items of the stream are numbers
  for await (const item of await peer.request(countTo, { n: 1 })) expectTypeOf(item).toEqualTypeOf<string>();

  // ---- wrong handlers -------------------------------------------------------------------
  // @ts-expect-error the handler expects other params
  peer.onRequest(add, (p: { a: string }) => Number(p.a));
  // @ts-expect-error the handler returns a string for a number method
  peer.onRequest(add, () => 'three');
  // @ts-expect-error an async handler resolving to the wrong type
  peer.onRequest(add, async () => 'three');
  // @ts-expect-error a plain method cannot answer with a stream
  peer.onRequest(add, async function* () {
    yield 1;
  });
  // @ts-expect-error a stream of the wrong item type
  peer.onRequest(countTo, async function* () {
    yield 'one';
  });
  // @ts-expect-error a notification handler with the wrong payload type
  peer.onNotify(log, (p: { line: number }) => p.line);
  void s;
}
