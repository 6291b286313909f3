/**
 * Serves one request of a defined service, in process and without I/O: routing, auth,
 * schema validation, hooks, the handler with its timeout, and the mapping of every outcome
 * to a status. The socket server (server.ts) puts the wire around it; tests call it directly.
 */
import { isWarrenError, ServiceError } from '../errors.js';
import { isPromiseLike } from '../util/guards.js';
import {
  type AuthInfo,
  type ControllerClass,
  type Hooks,
  Reply,
  type ResolvedRoute,
  type RouteContext,
  type RouteHandler,
  type RouteInput,
  type ServiceDefinition,
  type ServiceRequest,
  type ServiceResponse,
} from './define.js';
import { errorResponse } from './response.js';
import { createRouter } from './router.js';

// ServiceError and forbidden() live in the error registry; re-exported here for this layer's index.
export { forbidden, ServiceError } from '../errors.js';
export { errorResponse } from './response.js';

interface Served<D> {
  route: ResolvedRoute<D>;
  handler: RouteHandler<D>;
}

export interface DispatchOptions {
  /** Called with every error that becomes a 500, with the request id (the caller only sees the id). */
  onInternalError?: ((error: unknown, requestId: string, route: string) => void) | undefined;
}

/** Where the dispatcher reports each request (RouteMetrics does). */
export interface DispatchMetrics {
  /** A request matched `route`: returns its start time, handed back to finish(). */
  begin(route: string): number;
  finish(route: string, status: number, startedAt: number): void;
  /** An asynchronous call begun at startedAt is running: returns a key for close(). */
  open?(startedAt: number): number;
  close?(key: number): void;
}

let requestCounter = 0;

/** '0'..'999', and '000'..'999' for the last three digits of larger numbers. */
const DIGITS = Array.from({ length: 1000 }, (_, i) => String(i));
const DIGITS3 = DIGITS.map((d) => d.padStart(3, '0'));

/**
 * Makes request ids `${service}-${n}` without turning a number into a string on every call:
 * V8 keeps each such string in its number-string cache, a table in the old generation, so
 * every id outlived the young generation (the scavenger copied it, then promoted it) even
 * though nothing read it. Here only the thousands change the prefix, and the last three digits
 * come from a table made once.
 */
class RequestIds {
  private high = -1;
  private prefix = '';
  constructor(private readonly name: string) {}

  next(): string {
    const n = ++requestCounter;
    const high = Math.floor(n / 1000);
    if (high !== this.high) {
      this.high = high;
      this.prefix = high === 0 ? `${this.name}-` : `${this.name}-${high}`;
    }
    const low = n - high * 1000;
    return this.prefix + (high === 0 ? DIGITS[low] : DIGITS3[low]);
  }
}

/** The metrics label of requests that matched no route. */
export const NO_ROUTE = '(no route)';

export class Dispatcher<D> {
  private readonly router;
  private readonly ids: RequestIds;
  readonly name: string;

  constructor(
    private readonly definition: ServiceDefinition<D>,
    private readonly deps: D,
    private readonly options: DispatchOptions = {},
  ) {
    this.name = definition.name;
    this.ids = new RequestIds(definition.name);
    const instances = new Map<ControllerClass<D>, object>();
    for (const Controller of definition.controllers) if (!instances.has(Controller)) instances.set(Controller, new Controller(deps));
    const table: Record<string, Served<D>> = {};
    for (const route of definition.routes) table[route.key] = { route, handler: route.bind(instances) };
    this.router = createRouter(table);
  }

  /**
   * Serves one request. `metrics` is told the matched route key ('(no route)' when none) as
   * soon as routing is done, and the final status at the end.
   */
  dispatch(
    request: ServiceRequest,
    auth: AuthInfo | null,
    /** Where the caller's cancellation comes from; read only if the handler looks at ctx.signal. */
    cancel?: { readonly signal: AbortSignal },
    metrics?: DispatchMetrics,
  ): ServiceResponse | Promise<ServiceResponse> {
    const requestId = request.requestId ?? this.ids.next();
    // The router takes the method in any case (and anything that is not a string as no method).
    const found = this.router.find(request.method, request.url);
    if (found.kind !== 'found') {
      const startedAt = metrics?.begin(NO_ROUTE) ?? 0;
      // A caller without a token learns nothing of which routes exist: what is not a public
      // route is 401 to it, whether the path is unknown, private or another method's.
      const response =
        auth === null && found.kind !== 'bad-url'
          ? unauthorizedResponse()
          : found.kind === 'method-not-allowed'
            ? errorResponse(405, 'WARREN_METHOD_NOT_ALLOWED', `${request.method} is not allowed here`, undefined, {
                allow: found.allow.join(', '),
              })
            : found.kind === 'bad-url'
              ? errorResponse(found.status, 'WARREN_BAD_URL', found.reason)
              : errorResponse(404, 'WARREN_NOT_FOUND', `no route for ${request.method} ${request.url}`);
      metrics?.finish(NO_ROUTE, response.status, startedAt);
      return response;
    }
    const startedAt = metrics?.begin(found.route) ?? 0;
    const { route, handler } = found.handler as Served<D>;
    const input: RouteInput = {
      params: found.params as Record<string, string>,
      query: found.query as Record<string, string | string[]>,
      body: request.body,
      headers: request.headers ?? {},
      auth,
      requestId,
    };
    const ctx = new CallContext<D>(this.name, route.key, this.deps, cancel);
    // Fast path, with no promise of its own: no hooks, no schema, allowed, and a handler that
    // answers synchronously. Anything else takes the general path below.
    if (route.hooks.length === 0 && route.schema === undefined && (route.public || auth !== null)) {
      let result: unknown;
      try {
        result = handler(input, ctx);
      } catch (error) {
        return this.complete(route, input, ctx, metrics, startedAt, Promise.reject(error));
      }
      if (!isPromiseLike(result)) {
        const response = toResponse(result);
        metrics?.finish(route.key, response.status, startedAt);
        return response;
      }
      return this.complete(route, input, ctx, metrics, startedAt, this.withTimeout(route, result, ctx));
    }
    return this.complete(route, input, ctx, metrics, startedAt, this.run(route, handler, input, ctx));
  }

  /** Settles a response: errors through onError, then onResponse hooks, then metrics. */
  private async complete(
    route: ResolvedRoute<D>,
    input: RouteInput,
    ctx: CallContext<D>,
    metrics: DispatchMetrics | undefined,
    startedAt: number,
    pending: Promise<ServiceResponse>,
  ): Promise<ServiceResponse> {
    const requestId = input.requestId;
    // Only calls that outlive their synchronous run are tracked: a synchronous one cannot run
    // past a deadline without blocking the process, which the supervisor notices by other means.
    const open = metrics?.open?.(startedAt);
    let response: ServiceResponse;
    try {
      response = await pending;
    } catch (error) {
      response = await this.fail(route.hooks, error, input, ctx);
    } finally {
      if (open !== undefined) metrics?.close?.(open);
    }
    for (const hooks of route.hooks) {
      try {
        await hooks.onResponse?.(input, response, ctx);
      } catch (error) {
        this.options.onInternalError?.(error, requestId, route.key);
      }
    }
    metrics?.finish(route.key, response.status, startedAt);
    return response;
  }

  private async run(route: ResolvedRoute<D>, handler: RouteHandler<D>, input: RouteInput, ctx: CallContext<D>): Promise<ServiceResponse> {
    if (!route.public && input.auth === null) {
      return unauthorizedResponse();
    }
    for (const hooks of route.hooks) {
      const early = await hooks.onRequest?.(input, ctx);
      if (early instanceof Reply) return toResponse(early);
    }
    const invalid = validate(route, input);
    if (invalid) return invalid;
    for (const hooks of route.hooks) {
      const early = await hooks.preHandler?.(input, ctx);
      if (early instanceof Reply) return toResponse(early);
    }
    const result = handler(input, ctx);
    // A synchronous answer needs no timer; only a pending one races the handler timeout.
    if (!isPromiseLike(result)) return toResponse(result);
    return this.withTimeout(route, result, ctx);
  }

  private async withTimeout(route: ResolvedRoute<D>, result: PromiseLike<unknown>, ctx: CallContext<D>): Promise<ServiceResponse> {
    const timeoutMs = route.timeoutMs ?? this.definition.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<ServiceResponse>((resolve) => {
      timer = setTimeout(() => {
        ctx.abort(new ServiceError(408, 'WARREN_HANDLER_TIMEOUT', `handler ran past ${timeoutMs} ms`));
        resolve(errorResponse(408, 'WARREN_HANDLER_TIMEOUT', `${route.key} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve(result).then(toResponse), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async fail(hooksChain: Hooks<D>[], error: unknown, input: RouteInput, ctx: RouteContext<D>): Promise<ServiceResponse> {
    for (const hooks of hooksChain) {
      try {
        const replaced = await hooks.onError?.(error, input, ctx);
        if (replaced instanceof Reply) return toResponse(replaced);
      } catch (hookError) {
        this.options.onInternalError?.(hookError, input.requestId, ctx.route);
      }
    }
    if (error instanceof ServiceError) return errorResponse(error.status, error.code, error.message, error.data);
    if (isWarrenError(error) && error.code === 'WARREN_CODEC') {
      this.options.onInternalError?.(error, input.requestId, ctx.route);
      return errorResponse(500, 'WARREN_INTERNAL', `the result could not be sent (request ${input.requestId})`);
    }
    // The message of an unexpected error may hold anything (paths, SQL): the caller only gets
    // the request id to quote; the error itself goes to the log.
    this.options.onInternalError?.(error, input.requestId, ctx.route);
    return errorResponse(500, 'WARREN_INTERNAL', `internal error (request ${input.requestId})`);
  }
}

/**
 * A handler's context. Its AbortSignal is only made when a handler reads it: most never do,
 * and an AbortController per call was the largest cost of a service call (bench/service).
 */
class CallContext<D> implements RouteContext<D> {
  private controller: AbortController | undefined = undefined;
  private abortedWith: unknown = undefined;
  constructor(
    readonly service: string,
    readonly route: string,
    readonly deps: D,
    private readonly cancel: { readonly signal: AbortSignal } | undefined,
  ) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.abortedWith !== undefined) controller.abort(this.abortedWith);
      const outer = this.cancel?.signal;
      if (outer?.aborted) controller.abort(outer.reason);
      else outer?.addEventListener('abort', () => controller.abort(outer.reason), { once: true });
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    this.abortedWith = reason;
    this.controller?.abort(reason);
  }
}

function validate<D>(route: ResolvedRoute<D>, input: RouteInput): ServiceResponse | undefined {
  const schema = route.schema;
  if (!schema) return undefined;
  const fields: { in: string; path: string; message: string }[] = [];
  for (const part of ['params', 'query', 'body'] as const) {
    const type = schema[part];
    if (!type) continue;
    const result = type.safeParse(input[part]);
    if (result.success) {
      // Parsed values (coerced numbers, defaults) replace the raw ones.
      (input as unknown as Record<string, unknown>)[part] = result.data;
    } else {
      for (const issue of result.error.issues) fields.push({ in: part, path: issue.path.join('.'), message: issue.message });
    }
  }
  if (fields.length === 0) return undefined;
  return errorResponse(
    400,
    'WARREN_VALIDATION',
    `invalid request: ${fields.map((f) => `${f.in}${f.path ? `.${f.path}` : ''}: ${f.message}`).join('; ')}`,
    {
      fields,
    },
  );
}

function toResponse(result: unknown): ServiceResponse {
  if (result instanceof Reply) return { status: result.status, headers: { ...result.headers }, body: result.body };
  return { status: result === undefined ? 204 : 200, headers: {}, body: result ?? null };
}

function unauthorizedResponse(): ServiceResponse {
  return errorResponse(401, 'WARREN_UNAUTHORIZED', 'this route needs a valid token (say warren.hello first)');
}
