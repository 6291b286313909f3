import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type Message, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { FrameTooLargeError, isWarrenError, ProtocolError, type WarrenError } from '../../src/errors.js';
import type { MessageSink, WireError } from '../../src/wire/framing.js';
import { createJsonRpcFraming, fromRpcError, JSONRPC_ERROR_CODES, MAX_HEADER_BYTES, toRpcError } from '../../src/wire/jsonrpc.js';

type Call = [string, ...unknown[]];

/** Records every sink call and every pushed buffer. */
function harness(maxFrameSize?: number, push?: (bytes: Uint8Array) => void) {
  const calls: Call[] = [];
  const pushed: Buffer[] = [];
  const sink: MessageSink = {
    receiveRequest: (id, method, params, codec) => calls.push(['request', id, method, params, codec]),
    receiveNotify: (method, params) => calls.push(['notify', method, params]),
    onResponse: (id, result, stream) => calls.push(['response', id, result, stream]),
    onError: (id, error) => calls.push(['error', id, error]),
    onCancel: (id) => calls.push(['cancel', id]),
    onProgress: (id, value) => calls.push(['progress', id, value]),
    onStreamItem: (id, value) => calls.push(['streamItem', id, value]),
    onStreamEnd: (id) => calls.push(['streamEnd', id]),
    onCredit: (id, credit) => calls.push(['credit', id, credit]),
    onBadCredit: (id, error) => calls.push(['badCredit', id, error]),
    onBadRequest: (id, error) => calls.push(['badRequest', id, error]),
    onJunk: (bytes) => calls.push(['junk', bytes]),
    onFatal: (error) => calls.push(['fatal', error]),
  };
  const framing = createJsonRpcFraming({
    sink,
    out: { push: push ?? ((bytes) => pushed.push(Buffer.from(bytes))) },
    ...(maxFrameSize === undefined ? {} : { maxFrameSize }),
  });
  /** Decodes what this framing wrote, as a list of JSON messages. */
  const written = (): unknown[] => {
    const out: unknown[] = [];
    const feed = plainReader(out);
    for (const b of pushed) feed(b);
    return out;
  };
  return { calls, pushed, framing, written };
}

/** A deliberately naive reader, independent of the framing under test, for what it wrote. */
function plainReader(out: unknown[]): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const m = /^Content-Length: (\d+)$/.exec(buf.toString('latin1', 0, end));
      if (!m) throw new Error(`bad header ${buf.toString('latin1', 0, end)}`);
      const len = Number(m[1]);
      if (buf.length < end + 4 + len) return;
      out.push(JSON.parse(buf.toString('utf8', end + 4, end + 4 + len)));
      buf = buf.subarray(end + 4 + len);
    }
  };
}

function frame(body: string, headers = ''): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\r\n${headers}\r\n`, 'latin1'), bytes]);
}

function fatalOf(calls: Call[]): WarrenError {
  const fatal = calls.find((c) => c[0] === 'fatal');
  if (!fatal || !isWarrenError(fatal[1])) throw new Error(`no fatal in ${JSON.stringify(calls)}`);
  return fatal[1];
}

// `Content-Length: 40\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"ping"}`, byte by byte.
const PING_HEX =
  '436f6e74656e742d4c656e6774683a2034300d0a0d0a' + '7b226a736f6e727063223a22322e30222c226964223a312c226d6574686f64223a2270696e67227d';

// A request, a notification with a non-ASCII body and extra header, and a response.
const FIXTURE_TEXT = [
  'Content-Length: 56\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2,3]}',
  'content-length: 46\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{"jsonrpc":"2.0","method":"log","params":"é"}',
  'Content-Length: 36\r\n\r\n{"jsonrpc":"2.0","id":7,"result":{}}',
].join('');

const FIXTURE_CALLS: Call[] = [
  ['request', 1, 'add', [1, 2, 3], 1],
  ['notify', 'log', 'é'],
  ['response', 7, {}, false],
];

describe('JSON-RPC decoder', () => {
  it('decodes the hex fixture split at every byte position', () => {
    const bytes = Buffer.from(PING_HEX, 'hex');
    for (let i = 0; i <= bytes.length; i++) {
      const { calls, framing } = harness();
      framing.feed(bytes.subarray(0, i));
      framing.feed(bytes.subarray(i));
      framing.end();
      expect(calls, `split at ${i}`).toEqual([['request', 1, 'ping', undefined, 1]]);
    }
  });

  it('writes the hex fixture byte for byte', () => {
    const { pushed, framing } = harness();
    framing.writeRequest(1, 'ping', undefined);
    expect(pushed.map((b) => b.toString('hex'))).toEqual([PING_HEX]);
  });

  it('decodes the fixture whole', () => {
    const fixture = Buffer.from(FIXTURE_TEXT, 'utf8');
    const { calls, framing } = harness();
    framing.feed(fixture);
    framing.end();
    expect(calls).toEqual(FIXTURE_CALLS);
  });

  it('decodes the fixture split at every byte position', () => {
    const fixture = Buffer.from(FIXTURE_TEXT, 'utf8');
    for (let i = 0; i <= fixture.length; i++) {
      const { calls, framing } = harness();
      framing.feed(fixture.subarray(0, i));
      framing.feed(fixture.subarray(i));
      framing.end();
      expect(calls, `split at ${i}`).toEqual(FIXTURE_CALLS);
    }
  });

  it('decodes the fixture split at every pair of positions', () => {
    const fixture = Buffer.from(FIXTURE_TEXT, 'utf8');
    for (let i = 0; i <= fixture.length; i += 3) {
      for (let j = i; j <= fixture.length; j++) {
        const { calls, framing } = harness();
        framing.feed(fixture.subarray(0, i));
        framing.feed(fixture.subarray(i, j));
        framing.feed(fixture.subarray(j));
        expect(calls, `split at ${i}, ${j}`).toEqual(FIXTURE_CALLS);
      }
    }
  });

  it('decodes the fixture fed one byte at a time', () => {
    const fixture = Buffer.from(FIXTURE_TEXT, 'utf8');
    const { calls, framing } = harness();
    for (let i = 0; i < fixture.length; i++) framing.feed(fixture.subarray(i, i + 1));
    framing.end();
    expect(calls).toEqual(FIXTURE_CALLS);
  });

  it('decodes many messages in one chunk', () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 500; i++) frames.push(frame(JSON.stringify({ jsonrpc: '2.0', method: 'tick', params: { i } })));
    const { calls, framing } = harness();
    framing.feed(Buffer.concat(frames));
    expect(calls).toHaveLength(500);
    expect(calls[499]).toEqual(['notify', 'tick', { i: 499 }]);
  });

  it('reads header names case-insensitively and ignores other headers', () => {
    const { calls, framing } = harness();
    const body = '{"jsonrpc":"2.0","method":"a"}';
    framing.feed(Buffer.from(`CONTENT-LENGTH:${body.length}\r\n\r\n${body}`));
    framing.feed(Buffer.from(`Content-Type: application/json\r\ncOnTeNt-LeNgTh:   ${body.length}  \r\nX-Other: 1\r\n\r\n${body}`));
    expect(calls).toEqual([
      ['notify', 'a', undefined],
      ['notify', 'a', undefined],
    ]);
  });

  it('assembles a body split across many chunks', () => {
    const params = { text: 'ünïcödé '.repeat(50) };
    const bytes = frame(JSON.stringify({ jsonrpc: '2.0', id: 'x', method: 'm', params }));
    const { calls, framing } = harness();
    for (let i = 0; i < bytes.length; i += 7) framing.feed(bytes.subarray(i, i + 7));
    expect(calls).toEqual([['request', 'x', 'm', params, 1]]);
  });

  it('assembles a 1 MiB body split into 1000 chunks', () => {
    const big = 'x'.repeat(1024 * 1024);
    const bytes = frame(JSON.stringify({ jsonrpc: '2.0', id: 3, result: big }));
    const { calls, framing } = harness();
    const step = Math.ceil(bytes.length / 1000);
    let chunks = 0;
    for (let i = 0; i < bytes.length; i += step, chunks++) framing.feed(bytes.subarray(i, i + step));
    expect(chunks).toBe(1000);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.[0]).toBe('response');
    expect(calls[0]?.[2]).toBe(big);
  });

  it('delivers a message whose header ends a chunk and whose body is empty', () => {
    const { calls, pushed, framing } = harness();
    framing.feed(Buffer.from('Content-Length: 0\r\n\r\n'));
    framing.end();
    // An empty body is not JSON: answered with a parse error, not left pending.
    expect(calls).toEqual([]);
    expect(pushed).toHaveLength(1);
  });

  it('rejects an oversize Content-Length before the body arrives', () => {
    const { calls, framing } = harness(1024);
    framing.feed(Buffer.from('Content-Length: 1025\r\n\r\n'));
    const err = fatalOf(calls);
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err.code).toBe('WARREN_FRAME_TOO_LARGE');
    expect(err.data).toEqual({ size: 1025, limit: 1024 });
    // Nothing after the fatal error is read.
    framing.feed(frame('{"jsonrpc":"2.0","method":"a"}'));
    framing.end();
    expect(calls).toHaveLength(1);
  });

  it('accepts a body exactly at the limit', () => {
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'a', params: 'y'.repeat(100) });
    const { calls, framing } = harness(Buffer.byteLength(body));
    framing.feed(frame(body));
    expect(calls).toEqual([['notify', 'a', 'y'.repeat(100)]]);
  });

  it('uses the default limit of 16 MiB', () => {
    const { calls, framing } = harness();
    framing.feed(Buffer.from(`Content-Length: ${16 * 1024 * 1024 + 1}\r\n\r\n`));
    expect(fatalOf(calls)).toBeInstanceOf(FrameTooLargeError);
  });

  it('rejects a huge Content-Length with many digits as too large', () => {
    const { calls, framing } = harness();
    framing.feed(Buffer.from(`Content-Length: ${'9'.repeat(40)}\r\n\r\n`));
    expect(fatalOf(calls).code).toBe('WARREN_FRAME_TOO_LARGE');
  });

  it.each([
    ['a header line without a colon', 'Content-Length 5\r\n\r\nhello'],
    ['no Content-Length', 'Content-Type: application/json\r\n\r\n{}'],
    ['an empty header section', '\r\n\r\n{}'],
    ['a non-numeric Content-Length', 'Content-Length: abc\r\n\r\n{}'],
    ['a negative Content-Length', 'Content-Length: -2\r\n\r\n{}'],
    ['a fractional Content-Length', 'Content-Length: 2.0\r\n\r\n{}'],
    ['an empty Content-Length', 'Content-Length:\r\n\r\n{}'],
    ['two different Content-Lengths', 'Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}'],
    ['garbage that is not a header', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
  ])('fails with WARREN_PROTOCOL on %s', (_name, text) => {
    const { calls, framing } = harness();
    framing.feed(Buffer.from(text, 'latin1'));
    const err = fatalOf(calls);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.code).toBe('WARREN_PROTOCOL');
    expect(calls).toHaveLength(1);
  });

  it('accepts a repeated identical Content-Length', () => {
    const { calls, framing } = harness();
    framing.feed(Buffer.from('Content-Length: 2\r\ncontent-length: 2\r\n\r\n[]'));
    // An empty batch is an invalid request, but the framing is fine.
    expect(calls).toEqual([]);
  });

  it('limits the header section, whole or split', () => {
    const header = Buffer.from(`X-Pad: ${'a'.repeat(MAX_HEADER_BYTES)}\r\nContent-Length: 2\r\n\r\n{}`);
    for (const step of [header.length, 1000, 1]) {
      const { calls, framing } = harness();
      for (let i = 0; i < header.length && calls.length === 0; i += step) framing.feed(header.subarray(i, i + step));
      const err = fatalOf(calls);
      expect(err.code).toBe('WARREN_PROTOCOL');
      expect(err.data).toEqual({ limit: MAX_HEADER_BYTES });
    }
  });

  it('accepts a header section of exactly the limit', () => {
    const tail = 'Content-Length: 2\r\n\r\n';
    const pad = `X-Pad: ${'a'.repeat(MAX_HEADER_BYTES - tail.length - 'X-Pad: \r\n'.length)}\r\n`;
    const bytes = Buffer.from(`${pad}${tail}[1]`);
    expect(bytes.length - 3).toBe(MAX_HEADER_BYTES);
    for (const step of [bytes.length, 100, 1]) {
      const { calls, pushed, framing } = harness();
      for (let i = 0; i < bytes.length; i += step) framing.feed(bytes.subarray(i, i + step));
      expect(calls).toEqual([]);
      expect(pushed).toHaveLength(1); // [1] is a batch with an invalid element
    }
  });

  it('reports a stream that ends inside headers or body', () => {
    const a = harness();
    a.framing.feed(Buffer.from('Content-Len'));
    a.framing.end();
    expect(fatalOf(a.calls).code).toBe('WARREN_PROTOCOL');

    const b = harness();
    b.framing.feed(Buffer.from('Content-Length: 10\r\n\r\n{"a"'));
    b.framing.end();
    const err = fatalOf(b.calls);
    expect(err.code).toBe('WARREN_PROTOCOL');
    expect(err.data).toEqual({ received: 4, expected: 10 });

    const c = harness();
    c.framing.feed(frame('{"jsonrpc":"2.0","method":"a"}'));
    c.framing.end();
    expect(c.calls).toEqual([['notify', 'a', undefined]]);
  });

  it('answers invalid JSON with -32700 and keeps reading', () => {
    const { calls, framing, written } = harness();
    framing.feed(
      Buffer.concat([
        frame('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]'),
        frame('{"jsonrpc":"2.0","id":2,"method":"next"}'),
      ]),
    );
    expect(written()).toEqual([{ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }]);
    expect(calls).toEqual([['request', 2, 'next', undefined, 1]]);
  });

  it('answers invalid UTF-8 and deeply nested JSON with -32700', () => {
    const { calls, framing, written } = harness();
    framing.feed(Buffer.concat([frame('x'), Buffer.from('Content-Length: 2\r\n\r\n\xff\xfe', 'latin1')]));
    framing.feed(frame('['.repeat(200_000)));
    expect(calls).toEqual([]);
    expect(written()).toHaveLength(3);
  });

  it('answers invalid requests with -32600', () => {
    const { calls, framing, written } = harness();
    const bad = [
      { id: 1, method: 'noVersion' },
      { jsonrpc: '1.0', id: 2, method: 'wrongVersion' },
      { jsonrpc: '2.0', id: 3, method: 5 },
      { jsonrpc: '2.0', id: { x: 1 }, method: 'badId' },
      { jsonrpc: '2.0', id: 4 },
      { jsonrpc: '2.0', method: 7 },
      42,
      null,
    ];
    for (const m of bad) framing.feed(frame(JSON.stringify(m)));
    framing.feed(frame('[]'));
    expect(calls).toEqual([]);
    const ids = written().map((m) => {
      const msg = m as { id: unknown; error: { code: number } };
      expect(msg.error.code).toBe(-32600);
      return msg.id;
    });
    expect(ids).toEqual([1, 2, 3, null, 4, null, null, null, null]);
  });

  it('handles each element of a batch', () => {
    const { calls, framing, written } = harness();
    framing.feed(
      frame(
        JSON.stringify([
          { jsonrpc: '2.0', id: 1, method: 'sum', params: [1, 2] },
          { jsonrpc: '2.0', method: 'note' },
          { foo: 'bar' },
          { jsonrpc: '2.0', id: 9, result: null },
          { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 5 } },
        ]),
      ),
    );
    expect(calls).toEqual([
      ['request', 1, 'sum', [1, 2], 1],
      ['notify', 'note', undefined],
      ['response', 9, null, false],
      ['cancel', 5],
    ]);
    expect(written()).toEqual([{ jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.any(String) } }]);
  });

  it('maps params null to undefined and keeps primitive params', () => {
    const { calls, framing } = harness();
    framing.feed(frame('{"jsonrpc":"2.0","id":"a","method":"m","params":null}'));
    framing.feed(frame('{"jsonrpc":"2.0","id":"b","method":"m","params":5}'));
    expect(calls).toEqual([
      ['request', 'a', 'm', undefined, 1],
      ['request', 'b', 'm', 5, 1],
    ]);
  });

  it('maps $/cancelRequest and $/progress', () => {
    const { calls, framing } = harness();
    framing.feed(frame('{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":12}}'));
    framing.feed(frame('{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"s-1"}}'));
    framing.feed(frame('{"jsonrpc":"2.0","method":"$/progress","params":{"token":12,"value":{"pct":50}}}'));
    framing.feed(frame('{"jsonrpc":"2.0","method":"$/progress","params":{"token":"t"}}'));
    // Malformed reserved notifications are passed on rather than lost.
    framing.feed(frame('{"jsonrpc":"2.0","method":"$/cancelRequest","params":{}}'));
    expect(calls).toEqual([
      ['cancel', 12],
      ['cancel', 's-1'],
      ['progress', 12, { pct: 50 }],
      ['progress', 't', undefined],
      ['notify', '$/cancelRequest', {}],
    ]);
  });

  it('decodes responses and errors', () => {
    const { calls, framing } = harness();
    framing.feed(frame('{"jsonrpc":"2.0","id":1,"result":[1]}'));
    framing.feed(frame('{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"nope"}}'));
    framing.feed(frame('{"jsonrpc":"2.0","id":3,"error":{"code":-32099,"message":"odd","data":{"x":1}}}'));
    framing.feed(frame('{"jsonrpc":"2.0","id":4,"error":"not an object"}'));
    framing.feed(frame('{"id":5,"result":1}'));
    // An error with id null answers something unreadable of ours: nothing to settle.
    framing.feed(frame('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'));
    expect(calls).toEqual([
      ['response', 1, [1], false],
      ['error', 2, { code: 'WARREN_NO_HANDLER', message: 'nope', rpcCode: -32601 }],
      ['error', 3, { code: 'WARREN_REMOTE_ERROR', message: 'odd', rpcCode: -32099, data: { x: 1 } }],
      ['error', 4, { code: 'WARREN_REMOTE_ERROR', message: 'remote error without a message' }],
      ['error', 5, { code: 'WARREN_PROTOCOL', message: expect.any(String) }],
    ]);
  });
});

describe('JSON-RPC error mapping', () => {
  it('maps the table both ways', () => {
    for (const [code, rpcCode] of Object.entries(JSONRPC_ERROR_CODES)) {
      const out = toRpcError({ code, message: 'm', data: { d: 1 } });
      expect(out).toEqual({ code: rpcCode, message: 'm', data: { d: 1 } });
      expect(fromRpcError(out)).toEqual({ code, message: 'm', data: { d: 1 }, rpcCode });
    }
    expect(JSONRPC_ERROR_CODES).toMatchObject({
      WARREN_NO_HANDLER: -32601,
      WARREN_CANCELLED: -32800,
      WARREN_INVALID_ARGUMENT: -32602,
      WARREN_REMOTE_ERROR: -32603,
      WARREN_CODEC: -32700,
    });
  });

  it('carries other codes as -32000 with warrenCode', () => {
    const out = toRpcError({ code: 'WARREN_TIMEOUT', message: 't', data: { ms: 5 } });
    expect(out).toEqual({ code: -32000, message: 't', data: { warrenCode: 'WARREN_TIMEOUT', data: { ms: 5 } } });
    expect(fromRpcError(out)).toEqual({ code: 'WARREN_TIMEOUT', message: 't', data: { ms: 5 }, rpcCode: -32000 });
    const app = toRpcError({ code: 'E_NOT_FOUND', message: 'gone' });
    expect(app).toEqual({ code: -32000, message: 'gone', data: { warrenCode: 'E_NOT_FOUND' } });
    expect(fromRpcError(app)).toEqual({ code: 'E_NOT_FOUND', message: 'gone', rpcCode: -32000 });
  });

  it('keeps unknown numeric codes as rpcCode', () => {
    expect(fromRpcError({ code: -32801, message: 'modified' })).toEqual({
      code: 'WARREN_REMOTE_ERROR',
      message: 'modified',
      rpcCode: -32801,
    });
    expect(fromRpcError({ code: -32000, message: 'plain', data: 'x' })).toEqual({
      code: 'WARREN_REMOTE_ERROR',
      message: 'plain',
      rpcCode: -32000,
      data: 'x',
    });
  });

  it('honours an explicit rpcCode and carries a stack', () => {
    expect(toRpcError({ code: 'WARREN_REMOTE_ERROR', message: 'm', rpcCode: -32801 })).toEqual({ code: -32801, message: 'm' });
    const withStack = toRpcError({ code: 'WARREN_REMOTE_ERROR', message: 'm', stack: 'Error: m\n    at x' });
    expect(withStack).toEqual({ code: -32603, message: 'm', data: { warrenCode: 'WARREN_REMOTE_ERROR', stack: 'Error: m\n    at x' } });
    expect(fromRpcError(withStack)).toEqual({ code: 'WARREN_REMOTE_ERROR', message: 'm', rpcCode: -32603, stack: 'Error: m\n    at x' });
  });

  it('round-trips errors through writeError and the decoder', () => {
    const errors: WireError[] = [
      { code: 'WARREN_NO_HANDLER', message: 'no handler for x' },
      { code: 'WARREN_CANCELLED', message: 'cancelled' },
      { code: 'WARREN_INVALID_ARGUMENT', message: 'bad', data: { arg: 'n' } },
      { code: 'WARREN_REMOTE_ERROR', message: 'boom' },
      { code: 'WARREN_CODEC', message: 'undecodable' },
      { code: 'WARREN_OVERLOADED', message: 'busy', data: [1] },
      { code: 'MY_APP_CODE', message: 'app' },
    ];
    const a = harness();
    const b = harness();
    for (const [i, e] of errors.entries()) a.framing.writeError(i, e);
    for (const bytes of a.pushed) b.framing.feed(bytes);
    expect(b.calls).toEqual(
      errors.map((e, i) => ['error', i, { ...e, rpcCode: JSONRPC_ERROR_CODES[e.code as keyof typeof JSONRPC_ERROR_CODES] ?? -32000 }]),
    );
  });
});

describe('JSON-RPC encoder', () => {
  it('writes each message as one buffer with the exact byte length', () => {
    const { pushed, framing, written } = harness();
    framing.writeRequest(1, 'add', [1, 2]);
    framing.writeRequest('r', 'ping', undefined);
    framing.writeNotify('log', { text: 'héllo 👋' });
    framing.writeNotify('bare', undefined);
    framing.writeResponse(1, undefined, false);
    framing.writeResponse(2, { ok: true }, false);
    framing.writeCancel(3);
    framing.writeProgress(4, 0.5);
    expect(pushed).toHaveLength(8);
    expect(pushed[2]?.toString('utf8')).toBe('Content-Length: 64\r\n\r\n{"jsonrpc":"2.0","method":"log","params":{"text":"héllo 👋"}}');
    expect(pushed[4]?.toString('utf8')).toBe('Content-Length: 38\r\n\r\n{"jsonrpc":"2.0","id":1,"result":null}');
    expect(written()).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'add', params: [1, 2] },
      { jsonrpc: '2.0', id: 'r', method: 'ping' },
      { jsonrpc: '2.0', method: 'log', params: { text: 'héllo 👋' } },
      { jsonrpc: '2.0', method: 'bare' },
      { jsonrpc: '2.0', id: 1, result: null },
      { jsonrpc: '2.0', id: 2, result: { ok: true } },
      { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 3 } },
      { jsonrpc: '2.0', method: '$/progress', params: { token: 4, value: 0.5 } },
    ]);
  });

  it('round-trips every message kind through a second framing', () => {
    const a = harness();
    const b = harness();
    a.framing.writeRequest(1, 'm', { p: 1 });
    a.framing.writeNotify('n', [1]);
    a.framing.writeResponse('x', 'r', false);
    a.framing.writeCancel(1);
    a.framing.writeProgress('x', { done: 1 });
    for (const bytes of a.pushed) b.framing.feed(bytes);
    expect(b.calls).toEqual([
      ['request', 1, 'm', { p: 1 }, 1],
      ['notify', 'n', [1]],
      ['response', 'x', 'r', false],
      ['cancel', 1],
      ['progress', 'x', { done: 1 }],
    ]);
  });

  it('refuses streams and unencodable values', () => {
    const { framing, pushed } = harness();
    expect(framing.supportsStreams).toBe(false);
    for (const f of [
      () => framing.writeResponse(1, [], true),
      () => framing.writeStreamItem(1, 'x'),
      () => framing.writeStreamEnd(1),
      () => framing.writeCredit(1, 10),
    ]) {
      expect(f).toThrow(expect.objectContaining({ code: 'WARREN_UNSUPPORTED' }));
    }
    expect(() => framing.writeRequest(1, 'm', { n: 1n })).toThrow(expect.objectContaining({ code: 'WARREN_CODEC' }));
    expect(pushed).toHaveLength(0);
  });
});

describe('byte-level compatibility with vscode-jsonrpc', () => {
  it('vscode-jsonrpc StreamMessageReader reads what Warren writes', async () => {
    const stream = new PassThrough();
    const reader = new StreamMessageReader(stream);
    const received: Message[] = [];
    const done = new Promise<void>((resolve, reject) => {
      reader.onError(reject);
      reader.listen((msg) => {
        received.push(msg);
        if (received.length === 6) resolve();
      });
    });
    const { framing } = harness(undefined, (bytes) => stream.write(bytes));
    framing.writeRequest(1, 'textDocument/hover', { position: { line: 1, character: 2 }, text: 'ünï 👋' });
    framing.writeNotify('initialized', {});
    framing.writeResponse(2, undefined, false);
    framing.writeError(3, { code: 'WARREN_NO_HANDLER', message: 'no handler' });
    framing.writeCancel(1);
    framing.writeProgress(1, { kind: 'report', percentage: 10 });
    await done;
    reader.dispose();
    expect(received).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'textDocument/hover', params: { position: { line: 1, character: 2 }, text: 'ünï 👋' } },
      { jsonrpc: '2.0', method: 'initialized', params: {} },
      { jsonrpc: '2.0', id: 2, result: null },
      { jsonrpc: '2.0', id: 3, error: { code: -32601, message: 'no handler' } },
      { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 1 } },
      { jsonrpc: '2.0', method: '$/progress', params: { token: 1, value: { kind: 'report', percentage: 10 } } },
    ]);
  });

  it('Warren reads what vscode-jsonrpc StreamMessageWriter writes', async () => {
    const stream = new PassThrough();
    const writer = new StreamMessageWriter(stream);
    const { calls, framing } = harness();
    stream.on('data', (chunk: Buffer) => framing.feed(chunk));
    const messages: Message[] = [
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { processId: null, rootUri: 'file:///ü' } } as Message,
      { jsonrpc: '2.0', method: 'exit' } as Message,
      { jsonrpc: '2.0', id: 1, result: { capabilities: {} } } as Message,
      { jsonrpc: '2.0', id: 2, error: { code: -32800, message: 'Request cancelled' } } as Message,
      { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 4 } } as Message,
      { jsonrpc: '2.0', method: '$/progress', params: { token: 'tok', value: { kind: 'end' } } } as Message,
      { jsonrpc: '2.0', id: 'big', method: 'big', params: ['z'.repeat(200_000)] } as Message,
    ];
    for (const m of messages) await writer.write(m);
    await new Promise<void>((resolve) => setImmediate(resolve));
    writer.dispose();
    expect(calls).toEqual([
      ['request', 1, 'initialize', { processId: null, rootUri: 'file:///ü' }, 1],
      ['notify', 'exit', undefined],
      ['response', 1, { capabilities: {} }, false],
      ['error', 2, { code: 'WARREN_CANCELLED', message: 'Request cancelled', rpcCode: -32800 }],
      ['cancel', 4],
      ['progress', 'tok', { kind: 'end' }],
      ['request', 'big', 'big', ['z'.repeat(200_000)], 1],
    ]);
  });
});
