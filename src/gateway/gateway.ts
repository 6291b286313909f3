/**
 * The HTTP gateway: node:http parses, one router built from every service's published routes
 * picks the service, the pooled ServiceClient makes the call (least in flight, retries only when
 * safe, a deadline for the whole call), and the errors table gives the status of a failure.
 * docs/gateway.md is the normative description; this file is its request pipeline.
 *
 * A request goes: request id (taken or made) → /healthz, /readyz → route → body (within the
 * limit) → call → answer, hop-by-hop headers dropped both ways, `x-request-id` on the answer,
 * one access line. `inject()` runs the same pipeline on an in-memory request, without a socket.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { type GatewayConfig, type ResolvedGatewayConfig, resolveGatewayConfig } from '../config/gateway.js';
import { invalidRoute } from '../errors.js';
import { ServiceClient, type ServiceHandle } from '../service/client.js';
import type { ServiceResponse } from '../service/define.js';
import { resolveSocketDir } from '../service/socket-dir.js';
import { chooseEncoding, compress, isCompressible } from './compression.js';
import { GatewayLog } from './gateway-log.js';
import { decodeBody, encodeBody, errorBody, failureOf, forwardedHeaders, JSON_TYPE, responseHeaders } from './http-message.js';
import { createRateLimiter, type RateLimiter } from './rate-limit.js';
import { RouteFollower } from './route-follower.js';
import type { RouteTable, RouteTarget } from './route-table.js';
import type { GatewayRoute } from './route-types.js';

export interface GatewayOptions extends GatewayConfig {
  /** The socket directory of the services (as for the service client). */
  socketDir?: string | undefined;
  /** Environment overrides (HTTP_PORT, …) are read from here (default: none; `warren gateway` passes process.env). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Log lines go here instead of stdout or logDir (tests). */
  logDestination?: NodeJS.WritableStream | undefined;
  /** Reject start-up when two services claim the same route (default true). */
  failOnConflict?: boolean;
}

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
  /** The body parsed as JSON. */
  json(): unknown;
  text(): string;
}

export interface Gateway {
  /** `http://host:port` */
  readonly url: string;
  readonly address: AddressInfo;
  readonly config: ResolvedGatewayConfig;
  /** The routes served now. */
  routes(): readonly GatewayRoute[];
  /** Resolves once the first scan is done and every instance found has told its routes. */
  ready(): Promise<void>;
  inject(request: InjectRequest): Promise<InjectResponse>;
  /** Stops listening, ends idle connections, waits for the requests in progress, closes the pools. */
  close(): Promise<void>;
}

/** A request id we accept from a client: short, printable, no spaces. Anything else is replaced. */
const GOOD_ID = /^[\x21-\x7e]{1,200}$/;
/** Seconds a client is told to wait when no instance is ready. */
const RETRY_AFTER_S = '1';

/** What the pipeline writes a response with: a node ServerResponse, or inject()'s recorder. */
interface Sink {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body?: Buffer | string): unknown;
}

class GatewayCore {
  table: RouteTable;
  readonly follower: RouteFollower;
  readonly client: ServiceClient;
  private readonly handles = new Map<string, ServiceHandle>();
  private listening = false;
  /** Per-IP rate limits, when the config has rules. */
  private readonly limiter: RateLimiter | undefined;

  constructor(
    readonly config: ResolvedGatewayConfig,
    readonly log: GatewayLog,
    socketDir: string,
  ) {
    this.client = new ServiceClient({
      socketDir,
      name: `gateway-${process.pid}`,
      minConnections: config.socketPoolMin,
      maxConnections: config.socketPoolMax,
      connectTimeoutMs: config.socketConnectionTimeoutMs,
      healthCheckIntervalMs: config.socketHealthCheckIntervalMs,
      timeoutMs: config.timeoutMs,
      // The calls of every HTTP request read in one turn of the loop leave in one write.
      batchWrites: 'loop',
    });
    this.follower = new RouteFollower(this.client, socketDir, config.prefixes, {
      onTable: (table) => {
        const before = this.table.routes.length;
        this.table = table;
        if (table.routes.length !== before) this.log.event('info', `routes: ${table.routes.length}`, { routes: table.routes.length });
      },
      onProblem: (message) => this.log.event('error', message),
    });
    this.table = this.follower.table;
    this.limiter = config.rateLimit.length > 0 ? createRateLimiter(config.rateLimit) : undefined;
  }

  markListening(): void {
    this.listening = true;
  }

  private handle(service: string): ServiceHandle {
    let handle = this.handles.get(service);
    if (handle === undefined) {
      handle = this.client.service(service);
      this.handles.set(service, handle);
    }
    return handle;
  }

  /** Serves one request. `req` is read for its body only when it has one. */
  serve(req: IncomingMessage, res: Sink): void {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && GOOD_ID.test(given) ? given : randomUUID();
    if (url === '/healthz' || url === '/readyz') {
      this.health(url, method, requestId, res, started);
      return;
    }
    if (this.limiter !== undefined) {
      const decision = this.limiter.take(req.socket.remoteAddress ?? '', url);
      if (!decision.ok) {
        const extra: Record<string, string> = { 'retry-after': String(decision.retryAfterS) };
        // A body left unread would be taken for the next request: close instead of reading it.
        const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
        if (hasBody) extra.connection = 'close';
        this.fail(
          res,
          method,
          url,
          429,
          'WARREN_RATE_LIMITED',
          `over the rate limit for ${pathOf(url)}: try again in ${decision.retryAfterS} s`,
          requestId,
          started,
          undefined,
          extra,
        );
        if (hasBody) req.resume();
        return;
      }
    }
    const found = this.table.router.find(method, url);
    if (found.kind !== 'found') {
      if (found.kind === 'method-not-allowed') {
        const allow = found.allow.includes('OPTIONS' as never) ? found.allow.join(', ') : [...found.allow, 'OPTIONS'].join(', ');
        if (method === 'OPTIONS') {
          this.send(res, method, url, 204, { allow, 'x-request-id': requestId }, '', requestId, started, undefined);
          return;
        }
        this.fail(res, method, url, 405, 'WARREN_METHOD_NOT_ALLOWED', `${method} is not allowed here`, requestId, started, undefined, {
          allow,
        });
        return;
      }
      if (found.kind === 'bad-url') {
        this.fail(res, method, url, found.status, 'WARREN_BAD_URL', found.reason, requestId, started, undefined);
        return;
      }
      this.fail(res, method, url, 404, 'WARREN_NOT_FOUND', `no route for ${method} ${pathOf(url)}`, requestId, started, undefined);
      return;
    }
    const target = found.handler;
    const headers = req.headers;
    const length = headers['content-length'];
    if (length === undefined && headers['transfer-encoding'] === undefined) {
      this.forward(req, res, target, method, url, requestId, undefined, started);
      return;
    }
    const encoding = headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      this.fail(
        res,
        method,
        url,
        400,
        'WARREN_BAD_REQUEST',
        `Content-Encoding ${encoding} is not taken: send the body as it is`,
        requestId,
        started,
        target.service,
      );
      return;
    }
    const limit = this.config.bodyLimit;
    if (length !== undefined && Number(length) > limit) {
      this.tooLarge(req, res, method, url, requestId, started, target.service);
      return;
    }
    readBody(req, limit, (error, bytes) => {
      if (error === 'too-large') {
        this.tooLarge(req, res, method, url, requestId, started, target.service);
        return;
      }
      if (error !== undefined) return; // The client went away: nobody to answer.
      let body: unknown;
      try {
        body = decodeBody(bytes as Buffer, headers['content-type']);
      } catch (thrown) {
        this.fail(
          res,
          method,
          url,
          400,
          'WARREN_BAD_REQUEST',
          `the body is not valid JSON: ${(thrown as Error).message}`,
          requestId,
          started,
          target.service,
        );
        return;
      }
      this.forward(req, res, target, method, url, requestId, body, started);
    });
  }

  private forward(
    req: IncomingMessage,
    res: Sink,
    target: RouteTarget,
    method: string,
    url: string,
    requestId: string,
    body: unknown,
    started: number,
  ): void {
    const serviceUrl = target.prefix === '' ? url : stripPrefix(url, target.prefix);
    this.handle(target.service)
      .request(method, serviceUrl, {
        body,
        headers: forwardedHeaders(req.headers),
        requestId,
        deadline: Date.now() + this.config.timeoutMs,
        classifyFailures: true,
      })
      .then(
        (response) => this.answer(res, method, url, response, requestId, started, target.service, req.headers['accept-encoding']),
        (error: unknown) => {
          const failure = failureOf(error, requestId);
          this.fail(res, method, url, failure.status, failure.code, failure.message, requestId, started, target.service);
        },
      );
  }

  private answer(
    res: Sink,
    method: string,
    url: string,
    response: ServiceResponse,
    requestId: string,
    started: number,
    service: string,
    acceptEncoding?: string,
  ): void {
    const headers: Record<string, string> = {};
    const hasType = responseHeaders(response.headers, headers);
    headers['x-request-id'] = requestId;
    const status = response.status;
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      this.send(res, method, url, status, headers, '', requestId, started, service);
      return;
    }
    const { bytes, type } = encodeBody(response.body);
    if (!hasType) headers['content-type'] = type;
    if (status === 503 && headers['retry-after'] === undefined) headers['retry-after'] = RETRY_AFTER_S;
    const threshold = this.config.compressionThreshold;
    const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
    if (
      !this.config.compression ||
      size < threshold ||
      headers['content-encoding'] !== undefined ||
      !isCompressible(headers['content-type'])
    ) {
      this.send(res, method, url, status, headers, bytes, requestId, started, service);
      return;
    }
    // Above the threshold the answer depends on Accept-Encoding, for caches too.
    headers.vary = headers.vary ? `${headers.vary}, Accept-Encoding` : 'Accept-Encoding';
    const encoding = method === 'HEAD' ? undefined : chooseEncoding(acceptEncoding);
    if (encoding === undefined) {
      this.send(res, method, url, status, headers, bytes, requestId, started, service);
      return;
    }
    compress(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, encoding).then(
      (compressed) => {
        headers['content-encoding'] = encoding;
        this.send(res, method, url, status, headers, compressed, requestId, started, service);
      },
      // zlib failing on a buffer is not expected; the body still goes out, uncompressed.
      () => this.send(res, method, url, status, headers, bytes, requestId, started, service),
    );
  }

  private fail(
    res: Sink,
    method: string,
    url: string,
    status: number,
    code: string,
    message: string,
    requestId: string,
    started: number,
    service: string | undefined,
    extra?: Record<string, string>,
  ): void {
    const headers: Record<string, string> = { 'content-type': JSON_TYPE, 'x-request-id': requestId, ...extra };
    if (status === 503) headers['retry-after'] = RETRY_AFTER_S;
    this.send(res, method, url, status, headers, errorBody(code, message), requestId, started, service);
  }

  /** Answers 413 and closes the connection: the rest of the body is not read. */
  private tooLarge(
    req: IncomingMessage,
    res: Sink,
    method: string,
    url: string,
    requestId: string,
    started: number,
    service: string,
  ): void {
    const limit = this.config.bodyLimit;
    this.fail(
      res,
      method,
      url,
      413,
      'WARREN_BODY_TOO_LARGE',
      `the body is over ${limit} bytes (gateway.bodyLimit)`,
      requestId,
      started,
      service,
      {
        connection: 'close',
      },
    );
    req.resume();
  }

  private send(
    res: Sink,
    method: string,
    url: string,
    status: number,
    headers: Record<string, string>,
    body: Buffer | string,
    requestId: string,
    started: number,
    service: string | undefined,
  ): void {
    const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (status !== 204 && status !== 304) headers['content-length'] = String(bytes);
    res.writeHead(status, headers);
    if (method === 'HEAD' || bytes === 0) res.end();
    else res.end(body);
    if (this.log.accessLog) {
      this.log.access({
        requestId,
        method,
        path: url,
        status,
        ms: Math.round((performance.now() - started) * 1000) / 1000,
        bytes: method === 'HEAD' ? 0 : bytes,
        service,
      });
    }
  }

  /** /healthz: the process answers. /readyz: it listens and every service it routes to has an instance. */
  private health(url: string, method: string, requestId: string, res: Sink, started: number): void {
    const headers = { 'content-type': JSON_TYPE, 'x-request-id': requestId };
    if (url === '/healthz') {
      this.send(res, method, url, 200, headers, '{"status":"ok"}', requestId, started, undefined);
      return;
    }
    const routed = new Set(this.table.routes.map((route) => route.service));
    const missing = [...routed].filter((service) => !this.follower.hasInstance(service));
    const ready = this.listening && missing.length === 0;
    const body = JSON.stringify(
      ready ? { status: 'ready', services: [...routed] } : { status: 'not ready', missing, listening: this.listening },
    );
    if (!ready) (headers as Record<string, string>)['retry-after'] = RETRY_AFTER_S;
    this.send(res, method, url, ready ? 200 : 503, headers, body, requestId, started, undefined);
  }

  close(): void {
    this.follower.close();
    this.client.close();
  }
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function stripPrefix(url: string, prefix: string): string {
  const rest = url.slice(prefix.length);
  return rest === '' || rest[0] === '?' ? `/${rest}` : rest;
}

/** Reads a body up to `limit` bytes; 'too-large' as soon as it is over, 'aborted' when the client goes away. */
function readBody(req: IncomingMessage, limit: number, done: (error: 'too-large' | 'aborted' | undefined, body?: Buffer) => void): void {
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

/** The one-line answer to a request node's parser refused, written on the raw socket. */
function rawError(status: number, reason: string, code: string, message: string): string {
  const body = errorBody(code, message);
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Starts the gateway: resolves its config (the options, environment overrides on top), follows the
 * services in the socket directory, and listens once their routes are known.
 * @example
 * const gateway = await startGateway({ port: 8080, prefixes: { users: '/api/users' } });
 * const res = await fetch(`${gateway.url}/api/users/users/42`);
 */
export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const { socketDir, env, logDestination, failOnConflict = true, ...section } = options;
  const config = resolveGatewayConfig(section, env ?? {});
  const log = new GatewayLog({ level: config.logLevel, logDir: config.logDir, accessLog: config.accessLog, destination: logDestination });
  const core = new GatewayCore(config, log, resolveSocketDir(socketDir));
  await core.follower.ready;
  if (failOnConflict && core.table.conflicts.length > 0) {
    core.close();
    await log.close();
    throw invalidRoute(`the gateway's routes clash: ${core.table.conflicts.join('; ')}`, { data: { conflicts: core.table.conflicts } });
  }
  const server = createServer(
    {
      maxHeaderSize: config.maxHeaderBytes,
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.timeoutMs + config.headersTimeoutMs,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      // How often node looks for connections past headersTimeout (30 s by default, which would let
      // a slowloris client hold its connection that long whatever the timeout says).
      connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs),
      noDelay: true,
    },
    (req, res) => {
      // A pipelined request waits until the answers before it are written (node gives its
      // response the socket then): a client that sends many and reads none holds one answer in
      // the gateway's memory, not all of them.
      if (res.socket === null) res.once('socket', () => core.serve(req, res));
      else core.serve(req, res);
    },
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => onClientError(error, socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  core.markListening();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  log.event('info', `gateway listening on ${url}`, { url, routes: core.table.routes.length });
  let closing: Promise<void> | undefined;
  return {
    url,
    address,
    config,
    routes: () => core.table.routes,
    ready: () => core.follower.ready,
    inject: (request) => inject(core, request),
    close: () => {
      closing ??= closeServer(server).then(() => {
        core.close();
        return log.close();
      });
      return closing;
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** Answers what node's parser refused: 431 for oversized headers, 400 for anything malformed; never leaves the client hanging. */
function onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const text =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? rawError(
          431,
          'Request Header Fields Too Large',
          'WARREN_HEADERS_TOO_LARGE',
          'the request headers are over the limit (gateway.maxHeaderBytes)',
        )
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? rawError(408, 'Request Timeout', 'WARREN_TIMEOUT', 'the request was not received in time')
        : rawError(400, 'Bad Request', 'WARREN_BAD_REQUEST', `malformed request (${error.code ?? 'parse error'})`);
  socket.end(text);
}

/** Runs a request through the pipeline without a socket. */
function inject(core: GatewayCore, request: InjectRequest): Promise<InjectResponse> {
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
    const sink: Sink = {
      writeHead(code, written) {
        status = code;
        out = { ...written };
      },
      end(payload) {
        const bytes = payload === undefined ? Buffer.alloc(0) : Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
        resolve({ status, headers: out, body: bytes, json: () => JSON.parse(bytes.toString('utf8')), text: () => bytes.toString('utf8') });
      },
    };
    core.serve(req, sink);
  });
}
