/**
 * docs/protocol.md is the wire specification for clients in other languages. This test reads
 * it and checks it against the code: every hex vector both ways (encode the described frame,
 * decode the hex), the CRC parameters, and the tables of frame types, codec ids and JSON-RPC
 * error codes. Changing either the document or the code alone makes it fail.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BinaryFraming } from '../../src/wire/binary.js';
import { CodecId } from '../../src/wire/codecs.js';
import { DEFAULT_MAX_FRAME_SIZE, type WireError } from '../../src/wire/framing.js';
import { crc16, FLAG_STREAM, FrameType, HEADER_SIZE, MAGIC_0, MAGIC_1, parseHeader, VERSION } from '../../src/wire/header.js';
import { JSONRPC_ERROR_CODES } from '../../src/wire/jsonrpc.js';
import { type Call, recordingSink } from '../support/recording-sink.js';

const DOC = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

interface FrameDescription {
  type: keyof typeof FrameType;
  codec: keyof typeof CodecId;
  id: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  stream?: boolean;
  error?: WireError;
  value?: unknown;
  credit?: number;
}

interface Vector {
  name: string;
  frame: FrameDescription;
  hex: string;
}

/** Every ```vector block: a `frame:` line of JSON and a `hex:` field that may continue over several lines. */
function parseVectors(doc: string): Vector[] {
  const vectors: Vector[] = [];
  for (const match of doc.matchAll(/^```vector name=(\S+)\n([\s\S]*?)^```$/gm)) {
    const name = match[1] as string;
    const body = match[2] as string;
    const frameLine = /^frame: (.+)$/m.exec(body);
    const hexField = /^hex:([\s\S]*)$/m.exec(body);
    if (!frameLine || !hexField) throw new Error(`vector ${name} needs a frame: line and a hex: field`);
    const hex = (hexField[1] as string).replace(/\s+/g, '');
    if (!/^(?:[0-9a-f]{2})+$/.test(hex)) throw new Error(`vector ${name}: hex is not lower-case pairs of hex digits`);
    vectors.push({ name, frame: JSON.parse(frameLine[1] as string) as FrameDescription, hex });
  }
  return vectors;
}

function codecOf(f: FrameDescription): number {
  const id = CodecId[f.codec];
  if (id === undefined) throw new Error(`unknown codec name ${f.codec}`);
  return id;
}

/** Writes the described frame with BinaryFraming and returns the bytes it pushed. */
function encode(f: FrameDescription): Buffer {
  const pushed: Buffer[] = [];
  const codec = codecOf(f);
  // The default codec is the described one, so frames without a codec argument (CANCEL, STREAM_END) carry it too.
  const framing = new BinaryFraming({
    sink: recordingSink([]),
    out: { push: (b, s, e) => pushed.push(Buffer.from(b.subarray(s, e))) },
    codec,
  });
  switch (f.type) {
    case 'REQUEST':
      framing.writeRequest(f.id, f.method as string, f.params, codec);
      break;
    case 'NOTIFY':
      framing.writeNotify(f.method as string, f.params, codec);
      break;
    case 'RESPONSE':
      framing.writeResponse(f.id, f.result, f.stream ?? false, codec);
      break;
    case 'ERROR':
      framing.writeError(f.id, f.error as WireError, codec);
      break;
    case 'CANCEL':
      framing.writeCancel(f.id);
      break;
    case 'PROGRESS':
      framing.writeProgress(f.id, f.value, codec);
      break;
    case 'STREAM_ITEM':
      framing.writeStreamItem(f.id, f.value, codec);
      break;
    case 'STREAM_END':
      framing.writeStreamEnd(f.id);
      break;
    case 'CREDIT':
      framing.writeCredit(f.id, f.credit as number);
      break;
    default:
      throw new Error(`unknown frame type ${String(f.type)}`);
  }
  expect(pushed).toHaveLength(1);
  return pushed[0] as Buffer;
}

/** The MessageSink call that decoding the described frame must make. */
function expectedCall(f: FrameDescription): Call {
  switch (f.type) {
    case 'REQUEST':
      return ['request', f.id, f.method, f.params, codecOf(f)];
    case 'NOTIFY':
      return ['notify', f.method, f.params];
    case 'RESPONSE':
      return ['response', f.id, f.result, f.stream ?? false];
    case 'ERROR':
      return ['error', f.id, f.error];
    case 'CANCEL':
      return ['cancel', f.id];
    case 'PROGRESS':
      return ['progress', f.id, f.value];
    case 'STREAM_ITEM':
      return ['streamItem', f.id, f.value];
    case 'STREAM_END':
      return ['streamEnd', f.id];
    case 'CREDIT':
      return ['credit', f.id, f.credit];
    default:
      throw new Error(`unknown frame type ${String(f.type)}`);
  }
}

/** Checks one vector both ways; throws (an assertion error) on any difference. */
function checkVector(v: Vector): void {
  // Encoding the description gives exactly the printed bytes.
  expect(encode(v.frame).toString('hex'), `${v.name}: encoding`).toBe(v.hex);

  // Decoding the printed bytes gives exactly the described message, and nothing else.
  const bytes = Buffer.from(v.hex, 'hex');
  const calls: Call[] = [];
  const framing = new BinaryFraming({ sink: recordingSink(calls), out: { push: () => {} } });
  framing.feed(bytes);
  framing.end();
  expect(calls, `${v.name}: decoding`).toStrictEqual([expectedCall(v.frame)]);

  // The header fields agree with the description, as a reader in another language would see them.
  const header = parseHeader(bytes);
  expect(header.type, `${v.name}: type byte`).toBe(FrameType[v.frame.type]);
  expect(header.id, `${v.name}: id`).toBe(v.frame.id);
  expect(header.length, `${v.name}: length`).toBe(bytes.length - HEADER_SIZE);
  expect(header.flags, `${v.name}: flags`).toBe(v.frame.stream ? FLAG_STREAM : 0);
  // ERROR frames are never raw, and CREDIT frames always are; otherwise the codec byte is the one described.
  expect(header.codec, `${v.name}: codec byte`).toBe(codecOf(v.frame));
}

/** The rows of the first Markdown table after a heading, as arrays of cell texts without backquotes. */
function tableAfter(heading: string): string[][] {
  const at = DOC.indexOf(`\n${heading}\n`);
  if (at === -1) throw new Error(`heading ${JSON.stringify(heading)} not found in docs/protocol.md`);
  const lines = DOC.slice(at + heading.length + 2).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim().replace(/`/g, '')),
    );
  }
  return rows;
}

const VECTORS = parseVectors(DOC);

describe('docs/protocol.md test vectors', () => {
  it('has at least six vectors, with unique names, covering what a client must get right', () => {
    expect(VECTORS.length).toBeGreaterThanOrEqual(6);
    expect(new Set(VECTORS.map((v) => v.name)).size).toBe(VECTORS.length);
    const has = (pred: (f: FrameDescription) => boolean) => VECTORS.some((v) => pred(v.frame));
    expect(
      has((f) => f.type === 'REQUEST' && f.codec === 'json'),
      'a json REQUEST',
    ).toBe(true);
    expect(
      has((f) => f.type === 'RESPONSE' && f.codec === 'msgpack' && f.result !== undefined),
      'a msgpack RESPONSE',
    ).toBe(true);
    expect(
      has((f) => f.type === 'NOTIFY'),
      'a NOTIFY',
    ).toBe(true);
    expect(
      has((f) => f.type === 'CANCEL'),
      'a CANCEL',
    ).toBe(true);
    expect(
      has((f) => f.type === 'ERROR'),
      'an ERROR',
    ).toBe(true);
    expect(
      has((f) => f.type === 'CREDIT'),
      'a CREDIT',
    ).toBe(true);
    expect(
      has((f) => f.type === 'RESPONSE' && f.stream === true),
      'a RESPONSE with the STREAM flag',
    ).toBe(true);
    // Every frame type has at least one vector.
    expect(new Set(VECTORS.map((v) => v.frame.type))).toEqual(new Set(Object.keys(FrameType)));
  });

  for (const v of VECTORS) {
    it(`${v.name}: the encoder writes the printed bytes and the decoder reads the described frame`, () => {
      checkVector(v);
    });
  }

  it('the same frames decode identically when concatenated into one stream and fed byte by byte', () => {
    const all = Buffer.from(VECTORS.map((v) => v.hex).join(''), 'hex');
    const calls: Call[] = [];
    const framing = new BinaryFraming({ sink: recordingSink(calls), out: { push: () => {} } });
    for (let i = 0; i < all.length; i++) framing.feed(all.subarray(i, i + 1));
    framing.end();
    expect(calls).toStrictEqual(VECTORS.map((v) => expectedCall(v.frame)));
  });

  it('this check fails when a vector and the code disagree', () => {
    // A guard against a checker that cannot fail: corrupt each vector in several ways.
    for (const v of VECTORS) {
      const bytes = Buffer.from(v.hex, 'hex');
      const lastByte = Buffer.from(bytes);
      lastByte[lastByte.length - 1] = (lastByte[lastByte.length - 1] as number) ^ 0x01;
      expect(() => checkVector({ ...v, hex: lastByte.toString('hex') }), `${v.name}: flipped last byte`).toThrow();
      expect(() => checkVector({ ...v, frame: { ...v.frame, id: v.frame.id ^ 1 } }), `${v.name}: other id`).toThrow();
      expect(() => checkVector({ ...v, hex: `${v.hex}00` }), `${v.name}: trailing byte`).toThrow();
    }
  });
});

describe('docs/protocol.md tables and constants', () => {
  it('the header table gives the magic, version and field offsets of header.ts', () => {
    const rows = tableAfter('## 2. The header');
    expect(rows.map((r) => [Number(r[0]), r[1], r[2]])).toEqual([
      [0, 'u8', 'magic 0'],
      [1, 'u8', 'magic 1'],
      [2, 'u8', 'version'],
      [3, 'u8', 'frame type'],
      [4, 'u8', 'codec id'],
      [5, 'u8', 'flags'],
      [6, 'u32', 'request id'],
      [10, 'u32', 'payload length'],
      [14, 'u16', 'header check'],
    ]);
    expect(rows[0]?.[3]).toContain(`0x${MAGIC_0.toString(16).toUpperCase()}`);
    expect(rows[1]?.[3]).toContain(`0x${MAGIC_1.toString(16).toUpperCase()}`);
    expect(rows[2]?.[3]).toBe(`0x0${VERSION}`);
  });

  it('the CRC parameters and check value describe crc16()', () => {
    const params = Object.fromEntries(tableAfter('### 2.1 The header check').map((r) => [r[0], r[1]]));
    const poly = Number(params.polynomial);
    const init = Number(params['initial value']);
    const xorout = Number(params['final xor']);
    expect([params.width, params['reflect input'], params['reflect output']]).toEqual(['16', 'no', 'no']);
    const check = params['check (CRC of the ASCII bytes 123456789)'];
    const nine = Buffer.from('123456789', 'ascii');
    expect(Number(check)).toBe(crc16(nine, 0, nine.length));
    expect(Number(check)).toBe(0x29b1);
    // The documented parameters, run through the documented bitwise algorithm, give crc16() on any input.
    const fromDoc = (bytes: Uint8Array) => {
      let crc = init;
      for (const b of bytes) {
        crc ^= b << 8;
        for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ poly) & 0xffff : (crc << 1) & 0xffff;
      }
      return crc ^ xorout;
    };
    for (let n = 0; n < 64; n++) {
      const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 97 + n * 13) & 0xff));
      expect(fromDoc(bytes)).toBe(crc16(bytes, 0, bytes.length));
    }
  });

  it('the frame type table lists exactly the frame types of header.ts', () => {
    const rows = tableAfter('## 3. Frame types');
    expect(Object.fromEntries(rows.map((r) => [r[1], Number(r[0])]))).toEqual(FrameType);
  });

  it('the codec table lists exactly the built-in codec ids', () => {
    const rows = tableAfter('## 4. Codecs');
    expect(Object.fromEntries(rows.map((r) => [r[1], Number(r[0])]))).toEqual(CodecId);
  });

  it('the flags table lists exactly the STREAM flag', () => {
    const rows = tableAfter('## 5. Flags');
    expect(rows.map((r) => [Number(r[1]), r[2]])).toEqual([[FLAG_STREAM, 'STREAM']]);
  });

  it('the JSON-RPC error code table is JSONRPC_ERROR_CODES', () => {
    const rows = tableAfter('### 12.3 Error codes');
    expect(Object.fromEntries(rows.map((r) => [r[0], Number(r[1])]))).toEqual(JSONRPC_ERROR_CODES);
  });

  it('the default size limit is the one in the code', () => {
    const m = /\*\*16 MiB \(([\d ]+) bytes\)\s+by\s+default\*\*/.exec(DOC);
    expect(m).not.toBeNull();
    expect(Number((m?.[1] ?? '').replace(/ /g, ''))).toBe(DEFAULT_MAX_FRAME_SIZE);
  });
});
