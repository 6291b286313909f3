/**
 * Errors across the wire: a handler's code, message and data reach the caller as RemoteError;
 * stacks only cross with debug on; values that cannot be encoded fail the request with
 * WARREN_CODEC instead of leaving it to hang.
 */
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  FrameTooLargeError,
  isWarrenError,
  PeerClosedError,
  RemoteError,
  TimeoutError,
  WarrenError,
} from '../../src/errors.js';
import type { CodecName } from '../../src/wire/codecs.js';
import { expectRejection, until, useCleanup } from './helpers.js';

const cleanup = useCleanup();

describe('handler errors', () => {
  it('an error with a code and data → RemoteError with that code, message and data, and no stack', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('fail', () => {
      throw Object.assign(new Error('nope'), { code: 'E_APP', data: { x: 1 } });
    });
    const error = (await expectRejection(a.request('fail'), RemoteError, 'E_APP', /^nope$/)) as RemoteError;
    expect(error.name).toBe('RemoteError');
    expect(error.data).toEqual({ x: 1 });
    expect(error.remoteStack).toBeUndefined();
    expect(error).toBeInstanceOf(WarrenError);
    expect(isWarrenError(error)).toBe(true);
    expect(isWarrenError(new Error('nope'))).toBe(false);
    // Nothing of the handler's stack is anywhere on the error's own fields.
    expect(JSON.stringify(Object.values(error))).not.toMatch(/\\n\s+at /);
  });

  it('an async handler rejecting behaves the same as a sync throw', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('fail', async () => {
      await Promise.resolve();
      throw Object.assign(new Error('later nope'), { code: 'E_LATER', data: [1, 2] });
    });
    const error = await expectRejection(a.request('fail'), RemoteError, 'E_LATER', 'later nope');
    expect(error.data).toEqual([1, 2]);
  });

  it('a plain Error → WARREN_REMOTE_ERROR with its message and no data', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('fail', () => {
      throw new TypeError('bad input');
    });
    const error = (await expectRejection(a.request('fail'), RemoteError, 'WARREN_REMOTE_ERROR', /^bad input$/)) as RemoteError;
    expect(error.data).toBeUndefined();
    expect(error.remoteStack).toBeUndefined();
  });

  it('a thrown non-Error value still becomes a RemoteError', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('string', () => {
      throw 'just a string';
    });
    b.onRequest('empty-code', () => {
      throw Object.assign(new Error('empty code'), { code: '' });
    });
    b.onRequest('number-code', () => {
      throw Object.assign(new Error('numeric code'), { code: 42 });
    });
    await expectRejection(a.request('string'), RemoteError, 'WARREN_REMOTE_ERROR', 'just a string');
    await expectRejection(a.request('empty-code'), RemoteError, 'WARREN_REMOTE_ERROR', 'empty code');
    await expectRejection(a.request('number-code'), RemoteError, 'WARREN_REMOTE_ERROR', 'numeric code');
  });

  it("a Warren error thrown by a handler keeps its code on the caller's side", async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('inner', () => {
      throw new TimeoutError('db.query', 10);
    });
    const error = await expectRejection(a.request('inner'), RemoteError, 'WARREN_TIMEOUT', "'db.query'");
    expect(error.data).toEqual({ method: 'db.query', timeoutMs: 10 });
  });

  it('with debug on the handler side the stack crosses as remoteStack', async () => {
    const [a, b] = cleanup.pair({}, { debug: true });
    b.onRequest('fail', function throwsWithStack() {
      throw Object.assign(new Error('nope'), { code: 'E_APP' });
    });
    const error = (await expectRejection(a.request('fail'), RemoteError, 'E_APP', 'nope')) as RemoteError;
    expect(error.remoteStack).toMatch(/^Error: nope/);
    expect(error.remoteStack).toMatch(/throwsWithStack/);
  });

  it("debug on the caller's side alone sends no stack", async () => {
    const [a, b] = cleanup.pair({ debug: true }, {});
    b.onRequest('fail', () => {
      throw new Error('nope');
    });
    const error = (await expectRejection(a.request('fail'), RemoteError, 'WARREN_REMOTE_ERROR', 'nope')) as RemoteError;
    expect(error.remoteStack).toBeUndefined();
  });

  it('error data that cannot be encoded is dropped, and the message says so', async () => {
    const [a, b] = cleanup.pair({ codec: 'json' });
    b.onRequest('fail', () => {
      throw Object.assign(new Error('bad data'), { code: 'E_DATA', data: { big: 1n } });
    });
    const error = await expectRejection(a.request('fail'), RemoteError, 'E_DATA', /bad data \(error data not encodable: .*\)/);
    expect(error.data).toBeUndefined();
  });
});

describe('values that cannot be encoded', () => {
  const results: { codec: CodecName; label: string; make: () => unknown }[] = [
    { codec: 'json', label: 'a function', make: () => () => 1 },
    { codec: 'json', label: 'a BigInt', make: () => 10n },
    { codec: 'json', label: 'an object holding a BigInt', make: () => ({ n: 10n }) },
    { codec: 'v8', label: 'a function', make: () => ({ f: () => 1 }) },
  ];
  for (const { codec, label, make } of results) {
    it(`a handler returning ${label} with the ${codec} codec → WARREN_CODEC for the caller, not a hang`, async () => {
      const [a, b] = cleanup.pair({ codec, timeout: 0 });
      b.onRequest('unsendable', () => make());
      b.onRequest('fine', () => (codec === 'raw' ? Buffer.from('ok') : 'ok'));
      const error = await expectRejection(
        a.request('unsendable', codec === 'raw' ? Buffer.from('x') : null),
        RemoteError,
        'WARREN_CODEC',
        new RegExp(`the result of 'unsendable' could not be sent: .*${codec}`, 'i'),
      );
      expect(error.message.length).toBeGreaterThan(0);
      // The handler side is unharmed.
      expect(b.activeHandlers).toBe(0);
      const fine = await a.request('fine', codec === 'raw' ? Buffer.from('y') : null);
      expect(codec === 'raw' ? String(fine) : fine).toBe('ok');
    });
  }

  it('a raw request answered with an object gets it (in JSON)', async () => {
    const [a, b] = cleanup.pair({ codec: 'raw', timeout: 0 }, { codec: 'json' });
    b.onRequest('describe', (bytes) => ({ length: (bytes as Buffer).length }));
    expect(await a.request('describe', Buffer.from('four'))).toEqual({ length: 4 });
  });

  it('params that cannot be encoded reject at once with CodecError and nothing is sent', async () => {
    const [a, b] = cleanup.pair({ codec: 'json', timeout: 0 });
    b.onRequest('*', () => 'reached');
    await expectRejection(a.request('x', { n: 1n }), CodecError, 'WARREN_CODEC', /json/);
    await expectRejection(
      a.request('x', () => 1),
      CodecError,
      'WARREN_CODEC',
      /function cannot be encoded as JSON/,
    );
    expect(a.pendingCount).toBe(0);
    expect(a.stats.requestsSent).toBe(0);
    expect(await a.request('x')).toBe('reached');
    expect(b.stats.requestsReceived).toBe(1);
  });

  it('a notification that cannot be encoded throws CodecError synchronously', async () => {
    const [a] = cleanup.pair({ codec: 'json' });
    expect(() => a.notify('n', 1n)).toThrow(CodecError);
    expect(a.stats.notificationsSent).toBe(0);
  });

  it('a method name over 255 bytes is refused with WARREN_INVALID_ARGUMENT', async () => {
    const [a] = cleanup.pair();
    await expectRejection(a.request('m'.repeat(256)), WarrenError, 'WARREN_INVALID_ARGUMENT', /at most 255 bytes, got 256/);
    expect(a.pendingCount).toBe(0);
  });

  it('params over maxFrameSize are refused before sending with WARREN_FRAME_TOO_LARGE', async () => {
    const [a] = cleanup.pair({ maxFrameSize: 1024 });
    const error = await expectRejection(
      a.request('big', Buffer.alloc(2048)),
      FrameTooLargeError,
      'WARREN_FRAME_TOO_LARGE',
      /over the limit of 1024/,
    );
    expect((error as FrameTooLargeError).limit).toBe(1024);
    expect(a.pendingCount).toBe(0);
  });

  it('a result over the handler side maxFrameSize → an error for the caller, not a hang', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 }, { maxFrameSize: 1024 });
    b.onRequest('big', () => Buffer.alloc(4096));
    const error = await expectRejection(
      a.request('big'),
      RemoteError,
      'WARREN_FRAME_TOO_LARGE',
      /'big' could not be sent: .*over the limit of 1024 bytes/,
    );
    // 4096 bytes plus msgpack's 3-byte bin16 header.
    expect(error.data).toEqual({ size: 4099, limit: 1024 });
  });

  it('a frame over the receiver maxFrameSize closes that connection with FrameTooLargeError', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 }, { maxFrameSize: 1024, timeout: 0 });
    const closeErrors: unknown[] = [];
    b.on('close', (e) => closeErrors.push(e));
    b.onRequest('slow', () => new Promise(() => {}));
    const pending = a.request('slow').catch((e: unknown) => e);
    await until(() => b.activeHandlers === 1);
    // a allows bigger frames than b reads: b refuses the frame from its header and hangs up.
    const big = a.request('big', Buffer.alloc(4096)).catch((e: unknown) => e);
    await until(() => b.closed && a.closed);
    expect(closeErrors).toHaveLength(1);
    expect(closeErrors[0]).toBeInstanceOf(FrameTooLargeError);
    expect((closeErrors[0] as FrameTooLargeError).limit).toBe(1024);
    for (const error of [await pending, await big]) {
      expect(error).toBeInstanceOf(PeerClosedError);
      expect((error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
    }
  });
  it('setReceiveLimit lowers and raises the receive limit from the next frame on; the send limit stays', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 }, { timeout: 0 });
    b.onRequest('echo', (p) => p);
    b.setReceiveLimit(64);
    // b still sends large answers: only what it accepts is limited.
    b.onRequest('large', () => 'x'.repeat(4096));
    expect(((await a.request('large')) as string).length).toBe(4096);
    b.setReceiveLimit(8192);
    expect(((await a.request('echo', 'y'.repeat(4096))) as string).length).toBe(4096);
    b.setReceiveLimit(64);
    const closeErrors: unknown[] = [];
    b.on('close', (e) => closeErrors.push(e));
    const refused = a.request('echo', 'z'.repeat(100)).catch((e: unknown) => e);
    await until(() => b.closed);
    expect(closeErrors[0]).toBeInstanceOf(FrameTooLargeError);
    expect((closeErrors[0] as FrameTooLargeError).limit).toBe(64);
    expect(await refused).toBeInstanceOf(PeerClosedError);
    expect(() => b.setReceiveLimit(0)).toThrow(/positive whole number/);
  });

  it('setReceiveLimit() without a size goes back to maxFrameSize', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 }, { timeout: 0, maxFrameSize: 8192 });
    b.onRequest('echo', (p) => p);
    b.setReceiveLimit(64);
    b.setReceiveLimit();
    expect(((await a.request('echo', 'y'.repeat(4096))) as string).length).toBe(4096);
    const closeErrors: unknown[] = [];
    b.on('close', (e) => closeErrors.push(e));
    void a.request('echo', 'z'.repeat(10_000)).catch(() => {});
    await until(() => b.closed);
    expect((closeErrors[0] as FrameTooLargeError).limit).toBe(8192);
  });
});
