/** `warren decode`: prints the frames in a hex dump, for debugging a protocol exchange. */
import { codecById } from '../wire/codecs.js';
import { FrameDecoder } from '../wire/decoder.js';
import { FLAG_STREAM, FrameType } from '../wire/header.js';

const TYPE_NAMES = Object.fromEntries(Object.entries(FrameType).map(([name, value]) => [value, name]));

/** Decodes `hex` and calls `print` with one JSON line per frame; returns the exit code. */
export function decodeFramesCommand(hex: string, lenient: boolean, print: (line: string) => void): number {
  const clean = hex.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) {
    print(JSON.stringify({ error: 'WARREN_INVALID_ARGUMENT', message: 'input is not an even number of hex digits' }));
    return 2;
  }
  let status = 0;
  const decoder = new FrameDecoder({
    lenient,
    onFrame: (type, codecId, flags, id, payload) => {
      const frame: Record<string, unknown> = { type: TYPE_NAMES[type], codec: codecById(codecId)?.name ?? codecId, id };
      if (flags & FLAG_STREAM) frame.stream = true;
      let body = payload;
      if (type === FrameType.REQUEST || type === FrameType.NOTIFY) {
        const length = payload[0] ?? 0;
        frame.method = payload.toString('utf8', 1, 1 + length);
        body = payload.subarray(1 + length);
      }
      if (body.length > 0) frame.payload = describe(codecId, body);
      print(JSON.stringify(frame));
    },
    onJunk: (bytes) => print(JSON.stringify({ junk: bytes.toString('utf8') })),
    onError: (error) => {
      print(JSON.stringify({ error: error.code, message: error.message }));
      status = 1;
    },
  });
  decoder.push(Buffer.from(clean, 'hex'));
  decoder.end();
  return status;
}

function describe(codecId: number, body: Buffer): unknown {
  const codec = codecById(codecId);
  if (!codec || codec.name === 'raw') return { hex: body.toString('hex') };
  try {
    return codec.decode(body);
  } catch (error) {
    return { undecodable: (error as Error).message, hex: body.toString('hex') };
  }
}
