/**
 * One broadcast, encoded once per format and framed once: every member gets the same bytes.
 *
 * ws frames each `send()` anew (a header per call, and a string converted per call). A broadcast
 * to thousands of members instead builds its WebSocket frame once with ws's own `Sender.frame`
 * and hands that one Buffer to each member's Sender as an already-framed message. That is ws's
 * internal `sendFrame` (ws 8); it is only used while the Sender is idle (no compression in
 * progress), otherwise the payload goes through the ordinary `send`.
 */
import type { WebSocket } from 'ws';
import * as wsModule from 'ws';
import { encode, isBinaryFormat } from './format.js';
import type { FormatName, WireMessage } from './protocol.js';

/** ws's Sender as the hub uses it: the internal state (0 = idle) and the pre-framed write. */
interface InternalSender {
  _state: number;
  sendFrame(list: Buffer[], cb?: () => void): void;
}

// ws exports Sender (its ESM wrapper names it) but its type declarations do not.
const SenderFrame = (wsModule as unknown as { Sender: SenderStatics }).Sender;

interface SenderStatics {
  frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[];
}

export interface Prepared {
  /** The encoded message. */
  payload: Buffer;
  /** The payload with its WebSocket frame header, as one Buffer. */
  frame: Buffer;
  binary: boolean;
}

export function prepare(format: FormatName, message: WireMessage): Prepared {
  const payload = encode(format, message);
  const binary = isBinaryFormat(format);
  const list = SenderFrame.frame(payload, { fin: true, rsv1: false, opcode: binary ? 2 : 1, mask: false, readOnly: false });
  return { payload, frame: list.length === 1 ? list[0]! : Buffer.concat(list), binary };
}

/** A message prepared lazily for each format, at most once each. */
export class PreparedMessage {
  readonly message: WireMessage;
  #json: Prepared | undefined;
  #msgpack: Prepared | undefined;

  constructor(message: WireMessage) {
    this.message = message;
  }

  get(format: FormatName): Prepared {
    if (format === 'json') {
      this.#json ??= prepare('json', this.message);
      return this.#json;
    }
    this.#msgpack ??= prepare('msgpack', this.message);
    return this.#msgpack;
  }
}

/** Writes a prepared message; `compressed` connections go through `send` so that ws can deflate it. */
export function writePrepared(socket: WebSocket, prepared: Prepared, compressed: boolean): void {
  const sender = (socket as unknown as { _sender: InternalSender | undefined })._sender;
  if (!compressed && sender !== undefined && sender._state === 0) sender.sendFrame([prepared.frame]);
  else socket.send(prepared.payload, { binary: prepared.binary });
}
