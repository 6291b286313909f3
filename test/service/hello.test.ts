/**
 * The one hello handshake that service instances and the supervisor's control socket share:
 * small frames and a deadline until a good hello, closed after too many wrong tokens, and
 * trusted (with the usual frame limit) after a good one.
 */
import { describe, expect, it } from 'vitest';
import { FrameTooLargeError, PeerClosedError, UnauthorizedError } from '../../src/errors.js';
import { loadOrCreateToken, TokenVerifier } from '../../src/service/auth.js';
import { acceptHello } from '../../src/service/hello.js';
import { expectRejection, until, useCleanup } from '../peer/helpers.js';

const cleanup = useCleanup();

async function guarded(options: { helloTimeoutMs?: number; maxFailures?: number } = {}) {
  const dir = cleanup.tmpDir();
  const token = await loadOrCreateToken(dir);
  const [client, server] = cleanup.pair({ timeout: 0 }, { timeout: 0 });
  const closes: unknown[] = [];
  server.on('close', (e) => closes.push(e));
  server.onRequest('echo', (p) => p);
  const hello = acceptHello(server, {
    method: 'test.hello',
    verifier: new TokenVerifier(dir),
    preHelloFrameBytes: 256,
    helloTimeoutMs: options.helloTimeoutMs ?? 0,
    maxFailures: options.maxFailures,
    onTrusted: (params) => ({ welcome: params.client ?? null }),
  });
  return { token, client, server, hello, closes };
}

describe('acceptHello', () => {
  it('a good hello trusts the connection, answers with onTrusted, and lifts the frame limit', async () => {
    const { token, client, hello } = await guarded();
    expect(hello.trusted).toBe(false);
    expect(await client.request('test.hello', { token, client: 'me' })).toEqual({ welcome: 'me' });
    expect(hello.trusted).toBe(true);
    const large = 'x'.repeat(64 * 1024);
    expect(await client.request('echo', large)).toBe(large);
  });

  it('before the hello, a frame over the limit closes the connection from its header', async () => {
    const { client, server, closes } = await guarded();
    const refused = client.request('echo', 'y'.repeat(1024)).catch((e: unknown) => e);
    await until(() => server.closed);
    expect(closes[0]).toBeInstanceOf(FrameTooLargeError);
    expect(await refused).toBeInstanceOf(PeerClosedError);
  });

  it('wrong tokens are answered WARREN_UNAUTHORIZED, and the connection closes after maxFailures of them', async () => {
    const { client, server, hello } = await guarded({ maxFailures: 2 });
    await expectRejection(client.request('test.hello', { token: 'nope' }), Error, 'WARREN_UNAUTHORIZED', /wrong or missing token/);
    expect(server.closed).toBe(false);
    await expectRejection(client.request('test.hello', {}), Error, 'WARREN_UNAUTHORIZED');
    await until(() => server.closed);
    expect(hello.trusted).toBe(false);
  });

  it('a connection that says no hello within the deadline is closed', async () => {
    const { server, closes } = await guarded({ helloTimeoutMs: 30 });
    await until(() => server.closed);
    expect(closes[0]).toBeInstanceOf(UnauthorizedError);
    expect((closes[0] as UnauthorizedError).message).toBe('no hello within 30 ms');
  });
});
