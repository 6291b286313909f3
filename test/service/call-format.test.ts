/** The compact call and answer arrays of warren.call, and the map form a server also accepts. */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WarrenError } from '../../src/errors.js';
import { decodeCall, decodeReply, encodeCall, encodeReply } from '../../src/service/call-format.js';
import { msgpackCodec } from '../../src/wire/codecs.js';

/** Through the real codec, as on the wire. */
const viaWire = (value: unknown) => msgpackCodec.decode(Buffer.from(msgpackCodec.encode(value) as Uint8Array));

describe('call format', () => {
  it('leaves absent trailing entries out', () => {
    expect(encodeCall('GET', '/a')).toEqual(['GET', '/a']);
    expect(encodeCall('POST', '/a', { x: 1 })).toEqual(['POST', '/a', { x: 1 }]);
    expect(encodeCall('GET', '/a', undefined, {})).toEqual(['GET', '/a']);
    expect(encodeCall('GET', '/a', undefined, { h: 'v' })).toEqual(['GET', '/a', null, { h: 'v' }]);
    expect(encodeCall('GET', '/a', undefined, undefined, 'r1')).toEqual(['GET', '/a', null, null, 'r1']);
  });

  it('a call survives the codec in both forms', () => {
    const headers = fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 });
    const body = fc.option(fc.jsonValue(), { nil: undefined });
    fc.assert(
      fc.property(fc.constantFrom('GET', 'POST'), fc.webPath(), body, fc.option(headers, { nil: undefined }), (method, url, b, h) => {
        const decoded = decodeCall(viaWire(encodeCall(method, url, b, h)));
        expect(decoded?.method).toBe(method);
        expect(decoded?.url).toBe(url);
        // nil in the body slot means no body; -0 arrives as 0, as it would through JSON
        expect(decoded?.body).toEqual(b === null || b === undefined ? undefined : JSON.parse(JSON.stringify(b)));
        expect(decoded?.headers ?? {}).toEqual(h ?? {});
        expect(decodeCall(viaWire({ method, url }))).toEqual({ method, url });
      }),
      { numRuns: 200 },
    );
  });

  it('matches the bytes in docs/protocol.md section 13', () => {
    const hex = (value: unknown) => Buffer.from(msgpackCodec.encode(value) as Uint8Array).toString('hex');
    expect(hex(encodeCall('GET', '/users/42'))).toBe('92a3474554a92f75736572732f3432');
    expect(hex(encodeReply({ status: 200, headers: {}, body: { id: '42' } }))).toBe('92ccc8de0001a26964a23432');
    const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
    expect(doc).toContain('`92 a3 47 45 54 a9 2f 75 73 65 72\n73 2f 34 32`');
    expect(doc).toContain('`92 cc c8 de 00 01 a2 69 64 a2 34 32`');
  });

  it('refuses calls that are neither form', () => {
    for (const bad of [
      null,
      1,
      'GET /a',
      [],
      ['GET'],
      [1, '/a'],
      ['GET', 2],
      ['GET', '/a', null, { h: 1 }],
      ['GET', '/a', null, null, 7],
      { method: 'GET' },
      { method: 'GET', url: '/', headers: [] },
    ]) {
      expect(decodeCall(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });

  it('an answer keeps status, body and headers; an empty header map is not sent', () => {
    expect(encodeReply({ status: 200, headers: {}, body: 'x' })).toEqual([200, 'x']);
    expect(decodeReply(viaWire(encodeReply({ status: 201, headers: { location: '/o/1' }, body: { id: 1 } })))).toEqual({
      status: 201,
      headers: { location: '/o/1' },
      body: { id: 1 },
    });
    expect(decodeReply(viaWire(encodeReply({ status: 204, headers: {}, body: undefined })))).toEqual({
      status: 204,
      headers: {},
      body: null,
    });
  });

  it('a malformed answer is WARREN_PROTOCOL', () => {
    for (const bad of [null, {}, { status: 200 }, ['200', 'x'], [200, 'x', 'h'], [200.5, null]]) {
      expect(() => decodeReply(bad)).toThrow(WarrenError);
      try {
        decodeReply(bad);
      } catch (error) {
        expect((error as WarrenError).code).toBe('WARREN_PROTOCOL');
      }
    }
  });
});
