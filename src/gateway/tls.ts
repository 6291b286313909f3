/**
 * The gateway over TLS: HTTP/2 with HTTP/1.1 for clients that do not offer it (ALPN), or HTTPS
 * with HTTP/1.1 only (`http2: false`), with the limits of the plain HTTP server. Each HTTP/2
 * stream goes through the same pipeline (core.serve) as an HTTP/1.1 request; what HTTP/2 does
 * differently (no `Connection` header, no body length needed, pseudo-headers) is adapted here.
 * `reload()` reads the files again and swaps the certificate for new connections; connections
 * already open keep theirs. docs/gateway.md ("TLS and HTTP/2") is the normative description.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  constants,
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  Http2ServerResponse,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { ResolvedGatewayConfig } from '../config/gateway.js';
import { onClientError } from './client-errors.js';
import type { GatewayCore } from './core.js';
import type { Sink } from './exchange.js';
import { errorBody, JSON_TYPE } from './http-message.js';
import type { GatewayMetrics } from './metrics.js';
import { readTlsMaterial, type TlsFiles, type TlsMaterial } from './tls-files.js';

export { readTlsMaterial, type TlsMaterial } from './tls-files.js';

/** Streams one HTTP/2 connection may have open at once (nginx: 128, most servers 100). */
export const MAX_CONCURRENT_STREAMS = 100;
/** Header lines one request may have (node's HTTP/1.1 parser takes 2000). */
const MAX_HEADER_PAIRS = 2_000;

export interface SecureGateway {
  readonly server: Http2SecureServer | HttpsServer;
  /** Reads the files again and serves new connections with them; false (and an error logged) when they cannot be used: the old certificate stays. */
  reload(): Promise<boolean>;
  /** Asks every HTTP/2 connection to close (GOAWAY) once its streams are answered; the HTTP/1.1 ones are drain.ts's. */
  closeSessions(): void;
}

/** The secure server over `material` (read by readTlsMaterial), serving through `core`. */
export function createSecureGateway(
  config: ResolvedGatewayConfig,
  core: GatewayCore,
  material: TlsMaterial,
  metrics: GatewayMetrics | undefined,
): SecureGateway {
  const files = config.tls as TlsFiles;
  const secure = { ...material.options, handshakeTimeout: config.headersTimeoutMs, noDelay: true };
  const sessions = new Set<ServerHttp2Session>();
  let closing = false;
  let server: Http2SecureServer | HttpsServer;
  if (config.http2 === false) {
    server = createHttpsServer({ ...secure, ...http1Limits(config) }, (req, res) => serveHttp1(core, metrics, req, res));
  } else {
    const h2 = createSecureServer(
      {
        ...secure,
        allowHTTP1: true,
        maxHeaderListPairs: MAX_HEADER_PAIRS,
        settings: { maxHeaderListSize: headerListLimit(config.maxHeaderBytes), maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
      },
      (req, res) => {
        if (res instanceof Http2ServerResponse) {
          // In flight until its 'close', as an HTTP/1.1 response: all the metrics read of it.
          metrics?.track(res as unknown as ServerResponse);
          serveHttp2(core, req, res);
        } else serveHttp1(core, metrics, req as unknown as IncomingMessage, res as unknown as ServerResponse);
      },
    );
    // The HTTP/1.1 connections of an HTTP/2 server take these as properties, not options.
    Object.assign(h2, http1Limits(config));
    h2.on('session', (session: ServerHttp2Session) => {
      trackSession(session, sessions, config.keepAliveTimeoutMs);
      // A connection whose handshake ended after closeSessions(): its streams are still answered.
      if (closing) session.close();
    });
    server = h2;
  }
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // A failed handshake comes here too (HTTP/2 servers): no HTTP answer can reach such a client.
    if (error.code?.startsWith('HPE_') === true || error.code === 'ERR_HTTP_REQUEST_TIMEOUT') onClientError(error, socket);
    else socket.destroy();
  });
  const log = core.log;
  return {
    server,
    reload: async () => {
      try {
        const next = await readTlsMaterial(files);
        server.setSecureContext(next.options);
        const level = next.expired ? 'warn' : 'info';
        log.event(level, `TLS certificate reloaded${next.expired ? ' (it has expired)' : ''}`, {
          fingerprint256: next.fingerprint256,
          validTo: next.validTo,
        });
        return true;
      } catch (error) {
        log.event('error', `TLS reload failed, the certificate in use stays: ${(error as Error).message}`);
        return false;
      }
    },
    closeSessions: () => {
      closing = true;
      for (const session of sessions) session.close();
    },
  };
}

/** The limits of an HTTP/1.1 server: the plain one (gateway.ts), HTTPS, and an HTTP/2 server's HTTP/1.1 connections. */
export function http1Limits(config: ResolvedGatewayConfig) {
  return {
    maxHeaderSize: config.maxHeaderBytes,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.timeoutMs + config.headersTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // How often node looks for connections past headersTimeout (30 s by default, which would let
    // a slowloris client hold its connection that long whatever the timeout says).
    connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs),
  };
}

/**
 * Serves an HTTP/1.1 request. A pipelined request waits until the answers before it are written
 * (node gives its response the socket then): a client that sends many and reads none holds one
 * answer in the gateway's memory, not all of them.
 */
export function serveHttp1(core: GatewayCore, metrics: GatewayMetrics | undefined, req: IncomingMessage, res: ServerResponse): void {
  if (res.socket === null) {
    res.once('socket', () => {
      metrics?.track(res);
      core.serve(req, res);
    });
  } else {
    metrics?.track(res);
    core.serve(req, res);
  }
}

/**
 * The SETTINGS_MAX_HEADER_LIST_SIZE the gateway advertises (node enforces it, once the client
 * acknowledged it, by resetting the stream). It counts 32 bytes per header more than the head as
 * HTTP/1.1 sends it (headSize): so that every head within maxHeaderBytes by headSize is under it,
 * it leaves 28 bytes per header line allowed; heads over maxHeaderBytes but under it get 431.
 */
function headerListLimit(maxHeaderBytes: number): number {
  return maxHeaderBytes + 28 * MAX_HEADER_PAIRS;
}

/** The size of a request's head as HTTP/1.1 would send it (`name: value` lines), pseudo-headers included. */
function headSize(raw: readonly string[]): number {
  let size = 0;
  for (const part of raw) size += part.length + 2;
  return size;
}

/** One HTTP/2 stream through the pipeline. */
function serveHttp2(core: GatewayCore, req: Http2ServerRequest, res: Http2ServerResponse): void {
  // Node does not hold HTTP/2 headers to the maxHeaderListSize it advertises: the gateway does, as for HTTP/1.1.
  if (headSize(req.rawHeaders) > core.config.maxHeaderBytes) {
    const body = errorBody('WARREN_HEADERS_TOO_LARGE', 'the request headers are over the limit (gateway.maxHeaderBytes)');
    res.writeHead(431, { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
    closeStream(res.stream);
    return;
  }
  const headers = req.headers;
  // HTTP/2 names the host in :authority; services read `host`.
  if (headers.host === undefined && typeof headers[':authority'] === 'string') headers.host = headers[':authority'];
  // A body needs no length in HTTP/2: one without is marked as HTTP/1.1 marks it (chunked), so the pipeline reads it.
  if (!req.stream.endAfterHeaders && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  core.serve(req as unknown as IncomingMessage, http2Sink(res));
}

/**
 * HTTP/2 forbids connection headers (node throws on them). The pipeline's `Connection: close`
 * means "the rest of the body is not read": on HTTP/2 the stream is reset with NO_ERROR once the
 * answer is written (RFC 9113 §8.1), which stops the client sending it, and the connection stays.
 */
function http2Sink(res: Http2ServerResponse): Sink {
  let reset = false;
  return {
    writeHead(status, headers) {
      if (headers.connection !== undefined) {
        reset = headers.connection === 'close';
        delete headers.connection;
      }
      return res.writeHead(status, headers);
    },
    end(body) {
      if (body === undefined) res.end();
      else res.end(body);
      if (reset) closeStream(res.stream);
    },
    // A streamed answer (stream-response.ts) writes through the response itself.
    write: (chunk) => res.write(chunk),
    once: (event, listener) => res.once(event, listener),
    off: (event, listener) => res.off(event, listener),
    destroy: (error) => res.destroy(error),
    get writableFinished() {
      return res.writableFinished;
    },
    get destroyed() {
      return res.stream.destroyed;
    },
    stream: res.stream,
  };
}

function closeStream(stream: ServerHttp2Stream): void {
  if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
}

/** Keeps the session for close(), and closes it once it has had no open stream and no traffic for keepAliveTimeoutMs. */
function trackSession(session: ServerHttp2Session, sessions: Set<ServerHttp2Session>, idleMs: number): void {
  sessions.add(session);
  let open = 0;
  session.on('stream', (stream: ServerHttp2Stream) => {
    open += 1;
    stream.once('close', () => {
      open -= 1;
    });
  });
  session.setTimeout(idleMs, () => {
    if (open === 0) session.close();
  });
  session.once('close', () => sessions.delete(session));
  // An error ends the session; the client sees the connection close. Nothing to answer.
  session.on('error', () => {});
}
