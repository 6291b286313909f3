/** Reading a request body whole, within the gateway's body limit. */
import type { IncomingMessage } from 'node:http';

export type BodyOutcome = 'too-large' | 'aborted' | undefined;

/** Reads a body up to `limit` bytes; 'too-large' as soon as it is over, 'aborted' when the client goes away. */
export function readBody(req: IncomingMessage, limit: number, done: (error: BodyOutcome, body?: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      over = true;
      chunks.length = 0;
      req.off('data', onData);
      done('too-large');
      return;
    }
    chunks.push(chunk);
  };
  req.on('data', onData);
  req.once('end', () => {
    if (!over) done(undefined, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  });
  req.once('error', () => {
    if (!over) done('aborted');
  });
}
