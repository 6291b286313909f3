/**
 * A client that speaks frames by hand over a real Unix socket, as an implementer in another
 * language would: it writes exactly the frames a test asks for (also broken ones) and records
 * every frame it reads, so tests can check the peer's answers byte for byte, codec byte
 * included. It uses the wire module's encoder and decoder only, never a Peer.
 */
import { createConnection, type Socket } from 'node:net';
import { BinaryFraming } from '../../src/wire/binary.js';
import { codecById } from '../../src/wire/codecs.js';
import { FrameDecoder } from '../../src/wire/decoder.js';
import { HEADER_SIZE, writeHeader } from '../../src/wire/header.js';
import { recordingSink } from '../support/recording-sink.js';
import { until } from './helpers.js';

export interface ReadFrame {
  type: number;
  codec: number;
  flags: number;
  id: number;
  payload: Buffer;
}

export interface RawClient {
  readonly socket: Socket;
  /** Every frame read so far, in order. */
  readonly frames: ReadFrame[];
  /** An encoder whose frames go straight to the socket. */
  readonly framing: BinaryFraming;
  /** Writes one frame with any header fields and payload, valid or not. */
  writeFrame(type: number, codec: number, flags: number, id: number, payload?: Buffer): void;
  /** Waits until a frame matching `match` has been read; returns it. */
  waitFor(match: (frame: ReadFrame) => boolean, message?: string): Promise<ReadFrame>;
  /** Decodes a frame's payload with the codec its header names. */
  decode(frame: ReadFrame): unknown;
  /** Whether the other side ended its writable side. */
  readonly ended: boolean;
}

export async function rawClient(path: string, defer: (task: () => unknown) => void): Promise<RawClient> {
  const socket = createConnection({ path, allowHalfOpen: true });
  defer(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const frames: ReadFrame[] = [];
  let ended = false;
  const decoder = new FrameDecoder({
    onFrame: (type, codec, flags, id, payload) => frames.push({ type, codec, flags, id, payload: Buffer.from(payload) }),
    onError: (error) => socket.destroy(error),
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  socket.on('end', () => {
    ended = true;
  });
  socket.on('error', () => {});
  const framing = new BinaryFraming({
    sink: recordingSink([]),
    out: { push: (bytes, start = 0, end = bytes.length) => socket.write(Buffer.from(bytes.subarray(start, end))) },
  });
  return {
    socket,
    frames,
    framing,
    get ended() {
      return ended;
    },
    writeFrame(type, codec, flags, id, payload = Buffer.alloc(0)) {
      const header = Buffer.alloc(HEADER_SIZE);
      writeHeader(header, 0, type, codec, flags, id, payload.length);
      socket.write(Buffer.concat([header, payload]));
    },
    async waitFor(match, message) {
      await until(() => frames.some(match), { message: message ?? 'a matching frame' });
      return frames.find(match) as ReadFrame;
    },
    decode(frame) {
      if (frame.payload.length === 0) return undefined;
      const codec = codecById(frame.codec);
      if (!codec) throw new Error(`unknown codec ${frame.codec}`);
      return codec.decode(frame.payload);
    },
  };
}
