/**
 * The client's two message formats (docs/realtime.md): JSON in text frames (`warren.json`),
 * MessagePack in binary frames (`warren.msgpack`). msgpackr's pack/unpack entries are its
 * browser-safe build (no native addon, no Node built-ins).
 */
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';

export type ClientFormat = 'json' | 'msgpack';

export const SUBPROTOCOLS: Readonly<Record<ClientFormat, string>> = Object.freeze({
  json: 'warren.json',
  msgpack: 'warren.msgpack',
});

/** One message of the protocol, both ways. */
export interface ClientMessage {
  event: string;
  channel?: string;
  data?: unknown;
  id?: number;
  offset?: number;
  error?: { code: string; message: string };
}

// Plain MessagePack as the hub writes it: no records, maps as objects.
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export function encodeMessage(format: ClientFormat, message: ClientMessage): string | Uint8Array {
  return format === 'json' ? JSON.stringify(message) : packr.pack(message);
}

/** The message a frame holds, or undefined when it is not one (the hub never sends such; ignored, not fatal). */
export function decodeMessage(data: unknown): ClientMessage | undefined {
  let value: unknown;
  try {
    if (typeof data === 'string') value = JSON.parse(data);
    else if (data instanceof ArrayBuffer) value = unpackr.unpack(new Uint8Array(data));
    else if (ArrayBuffer.isView(data)) value = unpackr.unpack(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else return undefined;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || typeof (value as ClientMessage).event !== 'string') return undefined;
  return value as ClientMessage;
}
