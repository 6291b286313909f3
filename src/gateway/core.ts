/**
 * The gateway's request pipeline: request id (taken or made) → CORS preflight (cors.ts) →
 * built-in endpoints (/healthz, /readyz, …) → rate limit → route → response cache (GET, HEAD) →
 * body (within the limit) → call → answer (cached when it may be), hop-by-hop headers dropped
 * both ways, CORS headers and `x-request-id` on the answer, one access line. The pooled ServiceClient
 * makes the call (least in flight, retries only when safe, a deadline for the whole call) and the
 * errors table gives the status of a failure. docs/gateway.md is the normative description.
 */

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ResolvedGatewayConfig } from '../config/gateway.js';
import { ServiceClient, type ServiceHandle } from '../service/client.js';
import type { ServiceResponse } from '../service/define.js';
import { chooseEncoding, compress, isCompressible } from './compression.js';
import { Cors } from './cors.js';
import type { AnswerRecord, Endpoint, Exchange, Sink } from './exchange.js';
import { pathOf } from './exchange.js';
import type { GatewayLog } from './gateway-log.js';
import { decodeBody, encodeBody, errorBody, failureOf, forwardedHeaders, JSON_TYPE, responseHeaders } from './http-message.js';
import { createRateLimiter, type RateLimiter } from './rate-limit.js';
import { readBody } from './request-body.js';
import { ResponseCache } from './response-cache.js';
import { RouteFollower } from './route-follower.js';
import type { RouteTable, RouteTarget } from './route-table.js';
import { writeStreamed } from './stream-response.js';

/** A request id we accept from a client: short, printable, no spaces. Anything else is replaced. */
const GOOD_ID = /^[\x21-\x7e]{1,200}$/;
/** Seconds a client is told to wait when no instance is ready. */
export const RETRY_AFTER_S = '1';

export class GatewayCore {
  table: RouteTable;
  readonly follower: RouteFollower;
  readonly client: ServiceClient;
  private readonly handles = new Map<string, ServiceHandle>();
  private listening = false;
  /** Per-IP rate limits, when the config has rules. */
  private readonly limiter: RateLimiter | undefined;
  /** Paths the gateway answers itself, before routing (exact match on the path). */
  private readonly endpoints = new Map<string, Endpoint>();
  /** CORS by path prefix, when the config has rules. */
  private readonly cors: Cors | undefined;
  /** The GET answer cache, when the config turns it on. */
  readonly cache: ResponseCache | undefined;
  /** Called after every answer is written (metrics). */
  private readonly observers: ((record: AnswerRecord) => void)[] = [];

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
    this.cors = config.cors.length > 0 ? new Cors(config.cors) : undefined;
    this.cache = config.cache === false ? undefined : new ResponseCache(config.cache);
    this.endpoints.set('/healthz', (exchange) => this.healthz(exchange));
    this.endpoints.set('/readyz', (exchange) => this.readyz(exchange));
  }

  markListening(): void {
    this.listening = true;
  }

  /** Answers `path` in the gateway itself, before rate limits and routes. */
  addEndpoint(path: string, endpoint: Endpoint): void {
    this.endpoints.set(path, endpoint);
  }

  /** Calls `observer` after every answer is written. */
  observe(observer: (record: AnswerRecord) => void): void {
    this.observers.push(observer);
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
    const url = req.url ?? '/';
    const given = req.headers['x-request-id'];
    const exchange: Exchange = {
      req,
      res,
      method: req.method ?? 'GET',
      url,
      requestId: typeof given === 'string' && GOOD_ID.test(given) ? given : randomUUID(),
      started: performance.now(),
      service: undefined,
      cacheKey: undefined,
    };
    if (this.cors !== undefined && this.preflight(exchange, this.cors)) return;
    if (this.endpoints.size > 0) {
      const endpoint = this.endpoints.get(pathOf(url));
      if (endpoint !== undefined) {
        endpoint(exchange);
        return;
      }
    }
    if (this.limiter !== undefined && !this.withinRateLimit(exchange)) return;
    this.route(exchange);
  }

  /** Answers a CORS preflight on a covered path itself: 204 with the allow headers, or 403. */
  private preflight(exchange: Exchange, cors: Cors): boolean {
    const answer = cors.preflight(exchange.method, exchange.url, exchange.req.headers);
    if (answer === undefined) return false;
    if (answer.ok) this.send(exchange, 204, { ...answer.headers, 'x-request-id': exchange.requestId }, '');
    else this.fail(exchange, 403, 'WARREN_CORS_REFUSED', answer.message);
    return true;
  }

  private withinRateLimit(exchange: Exchange): boolean {
    const { req, url } = exchange;
    const decision = (this.limiter as RateLimiter).take(req.socket.remoteAddress ?? '', url);
    if (decision.ok) return true;
    const extra: Record<string, string> = { 'retry-after': String(decision.retryAfterS) };
    // A body left unread would be taken for the next request: close instead of reading it.
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) extra.connection = 'close';
    this.fail(
      exchange,
      429,
      'WARREN_RATE_LIMITED',
      `over the rate limit for ${pathOf(url)}: try again in ${decision.retryAfterS} s`,
      extra,
    );
    if (hasBody) req.resume();
    return false;
  }

  private route(exchange: Exchange): void {
    const { req, method, url } = exchange;
    const found = this.table.router.find(method, url);
    if (found.kind !== 'found') {
      if (found.kind === 'method-not-allowed') {
        const allow = found.allow.includes('OPTIONS' as never) ? found.allow.join(', ') : [...found.allow, 'OPTIONS'].join(', ');
        if (method === 'OPTIONS') {
          this.send(exchange, 204, { allow, 'x-request-id': exchange.requestId }, '');
          return;
        }
        this.fail(exchange, 405, 'WARREN_METHOD_NOT_ALLOWED', `${method} is not allowed here`, { allow });
        return;
      }
      if (found.kind === 'bad-url') {
        this.fail(exchange, found.status, 'WARREN_BAD_URL', found.reason);
        return;
      }
      this.fail(exchange, 404, 'WARREN_NOT_FOUND', `no route for ${method} ${pathOf(url)}`);
      return;
    }
    const target = found.handler;
    exchange.service = target.service;
    const headers = req.headers;
    const length = headers['content-length'];
    if (length === undefined && headers['transfer-encoding'] === undefined) {
      const cached = this.cache?.lookup(exchange);
      if (cached !== undefined) this.send(exchange, cached.status, { ...cached.headers, 'x-request-id': exchange.requestId }, cached.body);
      else this.forward(exchange, target, undefined);
      return;
    }
    const encoding = headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      this.fail(exchange, 400, 'WARREN_BAD_REQUEST', `Content-Encoding ${encoding} is not taken: send the body as it is`);
      return;
    }
    const limit = this.config.bodyLimit;
    if (length !== undefined && Number(length) > limit) {
      this.tooLarge(exchange);
      return;
    }
    readBody(req, limit, (error, bytes) => {
      if (error === 'too-large') {
        this.tooLarge(exchange);
        return;
      }
      if (error !== undefined) return; // The client went away: nobody to answer.
      let body: unknown;
      try {
        body = decodeBody(bytes as Buffer, headers['content-type']);
      } catch (thrown) {
        this.fail(exchange, 400, 'WARREN_BAD_REQUEST', `the body is not valid JSON: ${(thrown as Error).message}`);
        return;
      }
      this.forward(exchange, target, body);
    });
  }

  private forward(exchange: Exchange, target: RouteTarget, body: unknown): void {
    const { req, url, requestId } = exchange;
    const serviceUrl = target.prefix === '' ? url : stripPrefix(url, target.prefix);
    this.handle(target.service)
      .request(exchange.method, serviceUrl, {
        body,
        headers: forwardedHeaders(req.headers),
        requestId,
        deadline: Date.now() + this.config.timeoutMs,
        classifyFailures: true,
      })
      .then(
        (response) => this.answer(exchange, response),
        (error: unknown) => {
          const failure = failureOf(error, requestId);
          this.fail(exchange, failure.status, failure.code, failure.message);
        },
      );
  }

  private answer(exchange: Exchange, response: ServiceResponse): void {
    const { method } = exchange;
    const headers: Record<string, string> = {};
    const hasType = responseHeaders(response.headers, headers);
    headers['x-request-id'] = exchange.requestId;
    const status = response.status;
    const bodyless = status === 204 || status === 304 || (status >= 100 && status < 200);
    if (response.stream !== undefined) {
      if (!bodyless) {
        this.answerStreamed(exchange, status, headers, hasType, response.stream);
        return;
      }
      // No body may follow this status: the stream is cancelled unread.
      void response.stream[Symbol.asyncIterator]()
        .return?.()
        ?.catch(() => {});
    }
    if (bodyless) {
      this.send(exchange, status, headers, '');
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
      this.deliver(exchange, status, headers, bytes);
      return;
    }
    // Above the threshold the answer depends on Accept-Encoding, for caches too.
    headers.vary = headers.vary ? `${headers.vary}, Accept-Encoding` : 'Accept-Encoding';
    const encoding = method === 'HEAD' ? undefined : chooseEncoding(exchange.req.headers['accept-encoding']);
    if (encoding === undefined) {
      this.deliver(exchange, status, headers, bytes);
      return;
    }
    compress(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, encoding).then(
      (compressed) => {
        headers['content-encoding'] = encoding;
        this.deliver(exchange, status, headers, compressed);
      },
      // zlib failing on a buffer is not expected; the body still goes out, uncompressed.
      () => this.deliver(exchange, status, headers, bytes),
    );
  }

  /**
   * A streamed answer goes out as it arrives, at the client's pace (stream-response.ts): no
   * length, no compression, never cached (docs/gateway.md, "Streamed answers").
   */
  private answerStreamed(
    exchange: Exchange,
    status: number,
    headers: Record<string, string>,
    hasType: boolean,
    stream: AsyncIterable<Uint8Array>,
  ): void {
    if (!hasType) headers['content-type'] = 'application/octet-stream';
    if (status === 503 && headers['retry-after'] === undefined) headers['retry-after'] = RETRY_AFTER_S;
    if (this.cors !== undefined) this.cors.decorate(exchange.url, exchange.req.headers.origin, headers);
    void writeStreamed(exchange.res, exchange.method === 'HEAD', status, headers, stream).then((outcome) => {
      if (outcome.error !== undefined) {
        const why = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
        this.log.event(
          'error',
          `streamed answer of ${exchange.service} cut short after ${outcome.bytes} bytes (request ${exchange.requestId}): ${why}`,
        );
      }
      this.record(exchange, status, outcome.bytes);
    });
  }

  /** Sends a service's answer with a body, through the response cache when it is on. */
  private deliver(exchange: Exchange, status: number, headers: Record<string, string>, body: Buffer | string): void {
    if (this.cache === undefined || exchange.cacheKey === undefined) this.send(exchange, status, headers, body);
    else {
      const out = this.cache.admit(exchange, status, headers, body);
      this.send(exchange, out.status, headers, out.body);
    }
  }

  /** Answers with the error body every layer uses. */
  fail(exchange: Exchange, status: number, code: string, message: string, extra?: Record<string, string>): void {
    const headers: Record<string, string> = { 'content-type': JSON_TYPE, 'x-request-id': exchange.requestId, ...extra };
    if (status === 503) headers['retry-after'] = RETRY_AFTER_S;
    this.send(exchange, status, headers, errorBody(code, message));
  }

  /** Answers 413 and closes the connection: the rest of the body is not read. */
  private tooLarge(exchange: Exchange): void {
    const limit = this.config.bodyLimit;
    this.fail(exchange, 413, 'WARREN_BODY_TOO_LARGE', `the body is over ${limit} bytes (gateway.bodyLimit)`, { connection: 'close' });
    exchange.req.resume();
  }

  /** Writes an answer whole: its length, the body (none for HEAD), then one access line. */
  send(exchange: Exchange, status: number, headers: Record<string, string>, body: Buffer | string): void {
    const { method, res } = exchange;
    const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (status !== 204 && status !== 304) headers['content-length'] = String(bytes);
    if (this.cors !== undefined) this.cors.decorate(exchange.url, exchange.req.headers.origin, headers);
    res.writeHead(status, headers);
    if (method === 'HEAD' || bytes === 0) res.end();
    else res.end(body);
    this.record(exchange, status, method === 'HEAD' ? 0 : bytes);
  }

  /** One access line and the observers (metrics), once an answer is written. */
  private record(exchange: Exchange, status: number, bytes: number): void {
    if (!this.log.accessLog && this.observers.length === 0) return;
    const { method } = exchange;
    const record: AnswerRecord = {
      requestId: exchange.requestId,
      method,
      path: exchange.url,
      status,
      ms: Math.round((performance.now() - exchange.started) * 1000) / 1000,
      bytes,
      service: exchange.service,
    };
    if (this.log.accessLog) this.log.access(record);
    for (const observer of this.observers) observer(record);
  }

  /** /healthz: the process answers. */
  private healthz(exchange: Exchange): void {
    this.send(exchange, 200, { 'content-type': JSON_TYPE, 'x-request-id': exchange.requestId }, '{"status":"ok"}');
  }

  /** /readyz: it listens and every service it routes to has an instance. */
  private readyz(exchange: Exchange): void {
    const headers: Record<string, string> = { 'content-type': JSON_TYPE, 'x-request-id': exchange.requestId };
    const routed = new Set(this.table.routes.map((route) => route.service));
    const missing = [...routed].filter((service) => !this.follower.hasInstance(service));
    const ready = this.listening && missing.length === 0;
    const body = JSON.stringify(
      ready ? { status: 'ready', services: [...routed] } : { status: 'not ready', missing, listening: this.listening },
    );
    if (!ready) headers['retry-after'] = RETRY_AFTER_S;
    this.send(exchange, ready ? 200 : 503, headers, body);
  }

  close(): void {
    this.follower.close();
    this.client.close();
  }
}

function stripPrefix(url: string, prefix: string): string {
  const rest = url.slice(prefix.length);
  return rest === '' || rest[0] === '?' ? `/${rest}` : rest;
}
