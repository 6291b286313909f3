/**
 * What travels through a Broadcaster: one broadcast as MessagePack `{ e: event, d: data, x?: except }`,
 * `x` being the id of a connection that must not receive it (the sender of a relayed client event).
 * The channel travels beside it (the Broadcaster's own argument).
 */
import { Packr, Unpackr } from 'msgpackr/pack';

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export interface Envelope {
  event: string;
  data: unknown;
  except?: string | undefined;
}

export function packEnvelope(envelope: Envelope): Buffer {
  return packr.pack(
    envelope.except === undefined ? { e: envelope.event, d: envelope.data } : { e: envelope.event, d: envelope.data, x: envelope.except },
  );
}

/** The envelope in `bytes`, or undefined when they are not one. */
export function unpackEnvelope(bytes: Uint8Array): Envelope | undefined {
  let value: { e?: unknown; d?: unknown; x?: unknown };
  try {
    value = unpackr.unpack(bytes) as typeof value;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || typeof value.e !== 'string') return undefined;
  return { event: value.e, data: value.d, except: typeof value.x === 'string' ? value.x : undefined };
}
