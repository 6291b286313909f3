/** Two peers joined by in-memory streams: for tests and for running both sides in one process. */
import { Duplex } from 'node:stream';
import { Peer, type PeerOptions } from '../peer.js';

class MemoryEnd extends Duplex {
  other: MemoryEnd | undefined;
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.other?.push(chunk);
    callback();
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.other?.push(null);
    callback();
  }
  override _read(): void {}
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const other = this.other;
    this.other = undefined;
    // Like a socket whose other end is gone both ways: its stream ends, and its own writing
    // side is finished too (nothing written could arrive), so its peer does not wait to answer.
    if (other && !other.destroyed) {
      other.other = undefined;
      other.push(null);
      other.end();
    }
    callback(error);
  }
}

/** A pair of connected in-memory Duplex streams. */
export function memoryStreams(): [Duplex, Duplex] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.other = b;
  b.other = a;
  return [a, b];
}

export function memoryPair(options: PeerOptions = {}, otherOptions: PeerOptions = options): [Peer, Peer] {
  const [a, b] = memoryStreams();
  return [new Peer(a, { name: 'memory-a', ...options }), new Peer(b, { name: 'memory-b', ...otherOptions })];
}
