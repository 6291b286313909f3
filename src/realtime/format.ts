/**
 * The two message formats: JSON in text frames, MessagePack in binary frames. Decoding checks the
 * shape `{ event: string, channel?: string, data?, id?: integer }` and nothing more.
 */
import { Packr, Unpackr } from 'msgpackr/pack';
import type { FormatName, WireMessage } from './protocol.js';

// Plain MessagePack any library reads: no records, no extensions.
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export function encode(format: FormatName, message: WireMessage): Buffer {
  return format === 'json' ? Buffer.from(JSON.stringify(message), 'utf8') : packr.pack(message);
}

export function isBinaryFormat(format: FormatName): boolean {
  return format === 'msgpack';
}

/** The message a frame holds, or a one-line reason why it is not one. */
export function decode(format: FormatName, bytes: Buffer, isBinary: boolean): WireMessage | string {
  let value: unknown;
  try {
    if (format === 'json') {
      if (isBinary) return 'binary frame on a warren.json connection';
      value = JSON.parse(bytes.toString('utf8'));
    } else {
      if (!isBinary) return 'text frame on a warren.msgpack connection';
      value = unpackr.unpack(bytes);
    }
  } catch {
    return `message is not valid ${format === 'json' ? 'JSON' : 'MessagePack'}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'message is not an object';
  const { event, channel, id } = value as Record<string, unknown>;
  if (typeof event !== 'string' || event.length === 0 || event.length > 200)
    return "message needs 'event', a string of 1 to 200 characters";
  if (channel !== undefined && typeof channel !== 'string') return "'channel' must be a string";
  if (id !== undefined && !(Number.isSafeInteger(id) && (id as number) >= 0)) return "'id' must be a non-negative integer";
  return value as WireMessage;
}
