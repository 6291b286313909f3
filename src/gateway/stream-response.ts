/**
 * Writes a service's streamed answer (docs/protocol.md §13.2, docs/gateway.md "Streamed
 * answers") to the client as it arrives: the head without a length (HTTP/1.1 chunked), then
 * each chunk; when the connection's buffer is full (write() returns false) the next chunk is
 * not read until 'drain'. Reading is what grants the service credit (protocol §9), so a slow
 * client holds back the service's producer and the gateway holds at most the stream window
 * (64 chunks) of it. A client that goes away ends the iteration, which cancels the call.
 */
import type { Sink } from './exchange.js';

export interface StreamOutcome {
  /** Body bytes written. */
  bytes: number;
  /** The whole body went out (false: the client left, or the stream failed). */
  complete: boolean;
  /** Why the stream failed midway, if it did (the answer was cut short). */
  error?: unknown;
}

/** Resolves once `res` can take more, or is gone. */
function drained(res: Sink): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

/** Writes the head, then the chunks of `stream` (none for HEAD), within the client's pace. */
export async function writeStreamed(
  res: Sink,
  headOnly: boolean,
  status: number,
  headers: Record<string, string>,
  stream: AsyncIterable<Uint8Array>,
): Promise<StreamOutcome> {
  const chunks = stream[Symbol.asyncIterator]();
  let gone = res.destroyed === true || res.stream?.destroyed === true;
  // The client left: the call is cancelled at once, even while a chunk is awaited.
  const onClose = () => {
    if (res.writableFinished) return;
    gone = true;
    void chunks.return?.()?.catch(() => {});
  };
  let bytes = 0;
  if (gone) {
    await chunks.return?.()?.catch(() => {});
    return { bytes, complete: false };
  }
  res.once('close', onClose);
  try {
    res.writeHead(status, headers);
    if (headOnly) {
      await chunks.return?.();
      res.end();
      return { bytes, complete: true };
    }
    for (;;) {
      const step = await chunks.next();
      if (step.done || gone) break;
      bytes += step.value.length;
      if (!res.write(step.value)) {
        await drained(res);
        if (gone) break;
      }
    }
    if (gone) {
      await chunks.return?.();
      return { bytes, complete: false };
    }
    res.end();
    return { bytes, complete: true };
  } catch (error) {
    // Mid-stream, the status is sent already: cutting the connection is how the client learns
    // that the body is incomplete (no final chunk).
    res.off('close', onClose);
    res.destroy();
    await chunks.return?.()?.catch(() => {});
    return { bytes, complete: false, error };
  } finally {
    res.off('close', onClose);
  }
}
