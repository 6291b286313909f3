/** `gateway.inject()`: runs a request through the pipeline on an in-memory request, without a socket. */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Sink } from './exchange.js';

/** A request for inject(): what a client would send. */
export interface InjectRequest {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  /** A string or bytes as sent; an object is sent as JSON (with its content type). */
  body?: string | Buffer | object;
  remoteAddress?: string;
}

export interface InjectResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Set when a streamed answer was cut short midway (a real client would see its connection close). */
  truncated?: true;
  /** The body parsed as JSON. */
  json(): unknown;
  text(): string;
}

export interface Pipeline {
  serve(req: IncomingMessage, res: Sink): void;
}

export function inject(pipeline: Pipeline, request: InjectRequest): Promise<InjectResponse> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
  let body: Buffer | undefined;
  if (request.body !== undefined) {
    if (typeof request.body === 'string') body = Buffer.from(request.body);
    else if (Buffer.isBuffer(request.body)) body = request.body;
    else {
      body = Buffer.from(JSON.stringify(request.body));
      headers['content-type'] ??= 'application/json';
    }
    headers['content-length'] = String(body.length);
  }
  const req = Readable.from(body === undefined ? [] : [body]) as unknown as IncomingMessage;
  Object.assign(req, {
    method: (request.method ?? 'GET').toUpperCase(),
    url: request.url,
    headers,
    socket: { remoteAddress: request.remoteAddress ?? '127.0.0.1' },
  });
  return new Promise((resolve) => {
    let status = 0;
    let out: Record<string, string> = {};
    // A streamed answer arrives in chunks (write), collected whole: inject() has no slow client.
    const chunks: Buffer[] = [];
    const done = (truncated: boolean) => {
      const bytes = Buffer.concat(chunks);
      const response: InjectResponse = {
        status,
        headers: out,
        body: bytes,
        json: () => JSON.parse(bytes.toString('utf8')),
        text: () => bytes.toString('utf8'),
      };
      if (truncated) response.truncated = true;
      resolve(response);
    };
    const sink: { -readonly [K in keyof Sink]: Sink[K] } = {
      writableFinished: false,
      destroyed: false,
      writeHead(code, written) {
        status = code;
        out = { ...written };
      },
      write(chunk) {
        chunks.push(Buffer.from(chunk));
        return true;
      },
      end(payload) {
        if (payload !== undefined) chunks.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload));
        sink.writableFinished = true;
        done(false);
      },
      destroy() {
        sink.destroyed = true;
        done(true);
      },
      once: () => sink,
      off: () => sink,
    };
    pipeline.serve(req, sink);
  });
}
