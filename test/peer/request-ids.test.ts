/**
 * Request ids: counted up from 1 without a lookup, and once they wrap around after 2^32-1 an id
 * still pending is passed over.
 */
import { describe, expect, it } from 'vitest';
import type { Peer } from '../../src/peer/peer.js';
import { useCleanup } from './helpers.js';

const cleanup = useCleanup();

/** The next id the peer will hand out, set from outside (4 billion requests take too long). */
function setNextId(peer: Peer, id: number): void {
  (peer as unknown as { outgoing: { nextId: number } }).outgoing.nextId = id;
}

describe('request ids', () => {
  it('counts up from 1, wraps after 2^32-1 and skips an id still pending', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('id', (_params, ctx) => ctx.id);
    b.onRequest('hang', () => new Promise(() => {}));
    expect(await a.request('id')).toBe(1);
    expect(await a.request('id')).toBe(2);
    // id 3 stays pending while the ids go round.
    const hanging = a.request('hang', undefined, { timeout: 0 });
    hanging.catch(() => {});
    setNextId(a, 0xfffffffe);
    expect(await a.request('id')).toBe(0xffffffff);
    expect(await a.request('id')).toBe(1);
    expect(await a.request('id')).toBe(2);
    expect(await a.request('id')).toBe(4);
    expect(await a.request('id')).toBe(5);
  });
});
