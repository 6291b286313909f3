/**
 * One request's state as it goes through the gateway's pipeline: where the answer is written,
 * the request line, its id and start time, and the service it went to. Built-in endpoints
 * (/healthz, /metrics, …) and the forwarding path answer through the same `send`, so every answer
 * gets its length, its request id and one access line.
 */
import type { IncomingMessage } from 'node:http';
import type { AccessEntry } from './gateway-log.js';

/** What the pipeline writes a response with: a node ServerResponse, or inject()'s recorder. */
export interface Sink {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body?: Buffer | string): unknown;
  /** A streamed answer's chunk (stream-response.ts); false: wait for 'drain'. */
  write(chunk: Uint8Array): boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
  /** Cuts the answer short (a streamed answer that failed midway): the client sees it incomplete. */
  destroy(error?: Error): unknown;
  /** Whether the whole answer was handed to the connection (end() done and flushed). */
  readonly writableFinished: boolean;
  /** Whether the connection is gone (or the answer was cut short). */
  readonly destroyed?: boolean;
  /** An HTTP/2 compatibility response has no `destroyed` of its own: its stream's says it. */
  readonly stream?: { readonly destroyed: boolean };
}

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: Sink;
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly url: string;
  readonly requestId: string;
  /** performance.now() when the request arrived. */
  readonly started: number;
  /** The service the request was routed to, once it is known. */
  service: string | undefined;
  /** Where the response cache may store this request's answer (response-cache.ts); undefined: nowhere. */
  cacheKey: string | undefined;
}

/** What every answer reports once written: the access log and the metrics read it. */
export type AnswerRecord = AccessEntry;

/** A built-in endpoint (/healthz, …): answers the exchange itself, through `send`. */
export type Endpoint = (exchange: Exchange) => void;

export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
