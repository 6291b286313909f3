/**
 * What a service is, as its author writes it: a name, routes keyed 'GET /users/:id', optional
 * schemas, hooks in nested scopes, class controllers, and dependencies created once per
 * process. defineService() checks the definition and flattens it into the route table that
 * the dispatcher (dispatch.ts) serves; nothing here does I/O.
 */
import type { ZodType, z } from 'zod';
import { invalidArgument } from '../errors.js';
import {
  type AnyRoute,
  type BodyOf,
  contractRoutes,
  type KeyOf,
  type PathOf,
  type PathParamNames,
  type QueryOf,
  type ResultOf,
  type ServiceContract,
} from './contract.js';
import { createRouter, parseRouteKey } from './router.js';

/** Who is calling: set by the server from the connection's hello, null when it presented no valid token. */
export interface AuthInfo {
  /** The client's self-reported name, for logs. */
  client?: string;
}

/** A request as it reaches a service. */
export interface ServiceRequest {
  method: string;
  /** Path with an optional query string: '/users/42?fields=name'. */
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  requestId?: string;
}

/** What a service answers. */
export interface ServiceResponse {
  status: number;
  headers: Record<string, string>;
  /** On the serving side an AsyncIterable of bytes or strings is a streamed body (streamed.ts). */
  body: unknown;
  /**
   * The body's chunks, when the service streamed it (body is undefined then). Read it to the
   * end, or break out of it (return()): that cancels the call; a stream left unread holds the
   * service's producer.
   */
  stream?: AsyncIterable<Uint8Array>;
}

export interface RouteInput<P = Record<string, string>, Q = Record<string, string | string[]>, B = unknown> {
  params: P;
  query: Q;
  body: B;
  headers: Record<string, string>;
  auth: AuthInfo | null;
  requestId: string;
}

export interface RouteContext<D> {
  service: string;
  /** The route key that matched, e.g. 'GET /users/:id'. */
  route: string;
  deps: D;
  /** Aborts when the request times out or its caller goes away. */
  signal: AbortSignal;
}

/** An explicit response: a status other than 200, headers, or both. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    if (!Number.isInteger(status) || status < 100 || status > 599) throw invalidArgument(`reply status must be 100-599, got ${status}`);
  }
}

/** Returns an explicit response from a handler or hook: `return reply(201, order)`. */
export function reply(status: number, body?: unknown, headers?: Record<string, string>): Reply {
  return new Reply(status, body, headers);
}

export type RouteHandler<D, I = RouteInput, R = unknown> = (input: I, ctx: RouteContext<D>) => R;

export interface RouteSchemas {
  params?: ZodType;
  query?: ZodType;
  body?: ZodType;
}

export interface RouteOptions<D, I = RouteInput, S = RouteSchemas> {
  handler: RouteHandler<D, I>;
  /** Callable without a token. */
  public?: boolean;
  /** Validated before the handler runs; a failure answers 400 with the failing fields. */
  schema?: S;
  /** Overrides the service's handler timeout (ms). */
  timeoutMs?: number;
}

export type RouteSpec<D, I = RouteInput, S = RouteSchemas> = RouteHandler<D, I> | RouteOptions<D, I, S>;

/** The output type of schema F of S, or Fallback when S has none. */
type SchemaOutput<S, F extends keyof RouteSchemas, Fallback> = S extends { readonly [P in F]: infer Z }
  ? Z extends ZodType
    ? z.output<Z>
    : Fallback
  : Fallback;

/** The params a route key names: 'GET /users/:id' → { id: string }; any string when the key is not known. */
export type ParamsOfKey<K extends string> = string extends K ? Record<string, string> : { [N in PathParamNames<PathOf<K>>]: string };

/**
 * What the handler of route K with schemas S gets: params named by the key (or the params
 * schema's output), the query and body schemas' outputs, else the raw query and an unknown body.
 */
export type RouteInputFor<K extends string, S> = RouteInput<
  SchemaOutput<S, 'params', ParamsOfKey<K>>,
  SchemaOutput<S, 'query', Record<string, string | string[]>>,
  SchemaOutput<S, 'body', unknown>
>;

/** A routes map whose handlers are typed from their keys and schemas; R maps each key to its schemas (inferred). */
export type TypedRoutes<D, R> = { [K in keyof R]: RouteSpec<D, RouteInputFor<K & string, R[K]>, R[K]> };

/** What a handler implementing a contract route may return: its result (or a promise of it), or an explicit Reply. */
type ContractReturn<Rt> = ResultOf<Rt> | Reply | PromiseLike<ResultOf<Rt> | Reply>;
/** The handler input of a contract route: params from its key, query and body as the contract declares. */
export type ContractRouteInput<Rt> = RouteInput<ParamsOfKey<KeyOf<Rt>>, QueryOf<Rt>, BodyOf<Rt>>;
export type ContractHandler<D, Rt> = RouteHandler<D, ContractRouteInput<Rt>, ContractReturn<Rt>>;
/** A contract route's implementation: its handler, or the handler with `public` and `timeoutMs` (schemas come from the contract). */
export type ContractRouteSpec<D, Rt> = ContractHandler<D, Rt> | { handler: ContractHandler<D, Rt>; public?: boolean; timeoutMs?: number };

/** defineService(contract, input): the service named by the contract, one handler per contract route by its name. */
export interface ContractServiceInput<D, C extends Record<string, AnyRoute>> extends Omit<ServiceDefinitionInput<D>, 'name' | 'routes'> {
  routes: { [Name in keyof C]: ContractRouteSpec<D, C[Name]> };
}

/** Per-request hooks. Returning a Reply from onRequest or preHandler answers at once. */
export interface Hooks<D> {
  /** After routing, before validation. */
  onRequest?: (input: RouteInput, ctx: RouteContext<D>) => unknown;
  /** After validation, right before the handler. */
  preHandler?: (input: RouteInput, ctx: RouteContext<D>) => unknown;
  /** After the response is made (errors included); cannot change it. */
  onResponse?: (input: RouteInput, response: ServiceResponse, ctx: RouteContext<D>) => unknown;
  /** Sees every error; may turn it into a Reply. */
  onError?: (error: unknown, input: RouteInput, ctx: RouteContext<D>) => unknown;
}

/** A scope: routes under a prefix with hooks of their own, on top of (never leaking into) its parent's. */
export interface ScopeDefinition<D> {
  prefix?: string;
  hooks?: Hooks<D>;
  routes?: Record<string, RouteSpec<D>>;
  controllers?: ControllerClass<D>[];
  scopes?: ScopeDefinition<D>[];
}

/**
 * A class controller: `static routes` maps route keys to action names; one instance is made
 * per process with the service's dependencies.
 * @example
 * class Users { static routes = { 'GET /users/:id': 'show' }; constructor(deps) {…} show(input) {…} }
 */
export interface ControllerClass<D> {
  new (deps: D): object;
  routes: Record<string, string | (Omit<RouteOptions<D>, 'handler'> & { action: string })>;
}

export interface ServiceDefinitionInput<D, R = Record<string, RouteSchemas>> extends Omit<ScopeDefinition<D>, 'routes'> {
  name: string;
  /** Route keys to handlers: params are typed from the key, query and body from the route's zod schemas. */
  routes?: TypedRoutes<D, R>;
  /** Creates what handlers need (repositories, clients of other services), once per process. */
  dependencies?: () => D | Promise<D>;
  /** Application hooks: after the dependencies exist and the server listens; at shutdown. */
  onReady?: (deps: D) => unknown;
  onClose?: (deps: D) => unknown;
  /** Handler timeout in ms (30 s): past it the caller gets 408 and ctx.signal aborts. */
  timeoutMs?: number;
}

/** One servable route after scopes and controllers are flattened. */
export interface ResolvedRoute<D> {
  /** 'GET /users/:id' (or 'GET,HEAD /x', '* /x'), with the scope prefixes applied. */
  key: string;
  path: string;
  public: boolean;
  schema: RouteSchemas | undefined;
  timeoutMs: number | undefined;
  /** The scope chain's hooks, outermost first. */
  hooks: Hooks<D>[];
  /** Makes the handler once the dependencies exist (controllers need an instance). */
  bind: (instances: Map<ControllerClass<D>, object>) => RouteHandler<D>;
}

export interface ServiceDefinition<D> {
  readonly name: string;
  readonly routes: readonly ResolvedRoute<D>[];
  readonly controllers: readonly ControllerClass<D>[];
  readonly dependencies: () => D | Promise<D>;
  readonly onReady: ((deps: D) => unknown) | undefined;
  readonly onClose: ((deps: D) => unknown) | undefined;
  readonly timeoutMs: number;
}

const SERVICE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

function joinPath(prefix: string, path: string): string {
  if (prefix === '' || prefix === '/') return path;
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === '/' ? base : `${base}${path}`;
}

/**
 * Checks a service definition and flattens scopes and controllers into one route list.
 * @example
 * export default defineService({
 *   name: 'users',
 *   dependencies: () => ({ db: openDb() }),
 *   routes: { 'GET /users/:id': ({ params }, { deps }) => deps.db.find(params.id) },
 * });
 */
export function defineService<D = undefined, R = Record<string, RouteSchemas>>(input: ServiceDefinitionInput<D, R>): ServiceDefinition<D>;
/**
 * Implements a contract: the service takes the contract's name, and each route's handler (by its
 * name in the contract) is checked against the route's params, query, body and result types;
 * the contract's body and query schemas validate requests as a route's `schema` would.
 * @example
 * export default defineService(usersApi, {
 *   dependencies: () => ({ db: openDb() }),
 *   routes: { get: ({ params }, { deps }) => deps.db.find(params.id) ?? reply(404, notFound) },
 * });
 */
export function defineService<D = undefined, const C extends Record<string, AnyRoute> = Record<string, AnyRoute>>(
  contract: ServiceContract<C>,
  input: ContractServiceInput<D, C>,
): ServiceDefinition<D>;
export function defineService<D>(
  first: ServiceDefinitionInput<D> | ServiceContract<Record<string, AnyRoute>>,
  second?: ContractServiceInput<D, Record<string, AnyRoute>>,
): ServiceDefinition<D> {
  const input = (
    second === undefined
      ? first
      : {
          ...second,
          name: (first as ServiceContract<Record<string, AnyRoute>>).service,
          routes: contractRoutes(first as ServiceContract<Record<string, AnyRoute>>, second.routes),
        }
  ) as ScopeDefinition<D> & Omit<ServiceDefinitionInput<D>, 'routes'>;
  if (typeof input.name !== 'string' || !SERVICE_NAME.test(input.name)) {
    throw invalidArgument(`service name ${JSON.stringify(input.name)} must match ${SERVICE_NAME} (lowercase letters, digits, - and _)`);
  }
  const timeoutMs = input.timeoutMs ?? 30_000;
  if (!(timeoutMs > 0)) throw invalidArgument(`timeoutMs must be a positive number of ms, got ${timeoutMs}`);
  const routes: ResolvedRoute<D>[] = [];
  const controllers: ControllerClass<D>[] = [];

  const add = (scope: ScopeDefinition<D>, prefix: string, parentHooks: Hooks<D>[]) => {
    const path = joinPath(prefix, scope.prefix ?? '');
    // Copy, never push into the parent's array: a scope's hooks must not leak upwards or sideways.
    const hooks = scope.hooks ? [...parentHooks, scope.hooks] : parentHooks;
    const push = (key: string, options: Omit<RouteOptions<D>, 'handler'>, bind: ResolvedRoute<D>['bind']) => {
      const parsed = parseRouteKey(key);
      const fullPath = joinPath(path, parsed.path);
      const fullKey = `${parsed.key.slice(0, parsed.key.indexOf(' '))} ${fullPath}`;
      routes.push({
        key: fullKey,
        path: fullPath,
        public: options.public ?? false,
        schema: options.schema,
        timeoutMs: options.timeoutMs,
        hooks,
        bind,
      });
    };
    for (const [key, spec] of Object.entries(scope.routes ?? {})) {
      const options = typeof spec === 'function' ? { handler: spec } : spec;
      if (typeof options?.handler !== 'function') throw invalidArgument(`route '${key}' has no handler function`);
      push(key, options, () => options.handler);
    }
    for (const Controller of scope.controllers ?? []) {
      if (typeof Controller !== 'function' || typeof Controller.routes !== 'object' || Controller.routes === null) {
        throw invalidArgument('a controller must be a class with a static routes map');
      }
      controllers.push(Controller);
      for (const [key, target] of Object.entries(Controller.routes)) {
        const { action, ...options } = typeof target === 'string' ? { action: target } : target;
        if (typeof Controller.prototype[action as keyof object] !== 'function') {
          throw invalidArgument(`controller ${Controller.name} has no action '${action}' for route '${key}'`);
        }
        push(key, options, (instances) => {
          const instance = instances.get(Controller) as Record<string, RouteHandler<D>>;
          const method = instance[action] as RouteHandler<D>;
          return (routeInput, ctx) => method.call(instance, routeInput, ctx);
        });
      }
    }
    for (const child of scope.scopes ?? []) add(child, path, hooks);
  };
  add(input, '', []);
  // Building the route table once here reports clashing routes when the service is defined,
  // not when it first serves.
  createRouter(Object.fromEntries(routes.map((route) => [route.key, route])));

  return Object.freeze({
    name: input.name,
    routes: Object.freeze(routes),
    controllers: Object.freeze(controllers),
    dependencies: input.dependencies ?? (() => undefined as D),
    onReady: input.onReady,
    onClose: input.onClose,
    timeoutMs,
  });
}
