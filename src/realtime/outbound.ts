/**
 * Everything the hub writes to a client goes through here, under the write-buffer cap: a
 * connection whose unsent data would pass `writeBufferSize` is a slow reader and is cut (4008)
 * instead of growing the hub's memory without bound.
 */
import type { Duplex } from 'node:stream';
import type { Connection } from './connection.js';
import { encode, isBinaryFormat } from './format.js';
import { type PreparedMessage, writePrepared } from './frames.js';
import { CloseCode, type WireMessage } from './protocol.js';

/**
 * Closes with a close frame. `cut` (a slow reader) also destroys the socket at once: its unsent
 * data is what must be freed, and a close frame queued behind it would never be read.
 */
export function closeConnection(connection: Connection, code: number, reason: string, cut = false): void {
  if (connection.closedWith !== undefined) return;
  connection.closedWith = code;
  const socket = connection.socket;
  socket.close(code, reason);
  if (cut) socket.terminate();
}

export class Outbound {
  /** Connections closed because their unsent data passed the write buffer (4008). */
  slowReadersClosed = 0;
  readonly #writeBufferSize: number;
  readonly #compressed: boolean;
  #corked: Duplex[] = [];

  constructor(options: { writeBufferSize: number; perMessageDeflate: boolean }) {
    this.#writeBufferSize = options.writeBufferSize;
    this.#compressed = options.perMessageDeflate;
  }

  /** Writes a broadcast's bytes, prepared once for every member. */
  write(connection: Connection, prepared: PreparedMessage): void {
    const socket = connection.socket;
    if (socket.readyState !== 1 || connection.closedWith !== undefined) return;
    const bytes = prepared.get(connection.format);
    // Checked before the write, so a connection never holds more than the limit.
    if (this.#overflows(connection, bytes.frame.length)) return;
    this.#cork(connection);
    writePrepared(socket, bytes, this.#compressed);
  }

  /** Sends a message meant for this connection alone (acks, errors, `connected`). */
  send(connection: Connection, message: WireMessage): void {
    const socket = connection.socket;
    if (socket.readyState !== 1 || connection.closedWith !== undefined) return;
    const payload = encode(connection.format, message);
    if (this.#overflows(connection, payload.length)) return;
    socket.send(payload, { binary: isBinaryFormat(connection.format) });
  }

  /** Cuts the connection when `length` more bytes would pass its write buffer; true if it did. */
  #overflows(connection: Connection, length: number): boolean {
    if (connection.socket.bufferedAmount + length <= this.#writeBufferSize) return false;
    this.slowReadersClosed++;
    closeConnection(connection, CloseCode.SLOW_READER, 'write buffer full', true);
    return true;
  }

  /**
   * Holds a connection's writes until the end of this tick, so that the broadcasts of one burst
   * reach its socket in one system call instead of one each (socket.io's advantage in fan-out).
   */
  #cork(connection: Connection): void {
    const raw = (connection as unknown as { _socket: Duplex | null })._socket;
    if (raw === null || raw.writableCorked > 0) return;
    raw.cork();
    this.#corked.push(raw);
    if (this.#corked.length === 1) process.nextTick(this.#uncorkAll);
  }

  readonly #uncorkAll = (): void => {
    const corked = this.#corked;
    this.#corked = [];
    for (const raw of corked) raw.uncork();
  };
}
