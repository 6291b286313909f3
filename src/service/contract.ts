/**
 * Typed service contracts for callers: a module both sides may import that names a service
 * and its routes with their body and result types. `client.service(contract)` turns it into
 * an object of async functions whose params come from the path (`:id` → `params.id`), whose
 * body has the declared type, and whose result is the response body of a 2xx answer; any other
 * status rejects with a ServiceCallError that carries the answer.
 *
 * Types come from zod schemas when given (and the answer is then checked at run time), else
 * from `.body<T>()` and `.returns<T>()`, which exist only for the type checker.
 *
 * @example
 * export const usersApi = serviceContract('users', {
 *   get: route('GET /users/:id').returns<User>(),
 *   create: route('POST /users', { body: NewUser, response: User }),
 * });
 * const users = client.service(usersApi);
 * const ada = await users.get({ params: { id: '42' } });   // ada: User
 */
import type { ZodType, z } from 'zod';
import { invalidArgument, RemoteError, validationFailed } from '../errors.js';
import type { CallOptions } from './client.js';
import type { RouteOptions, RouteSchemas, ServiceResponse } from './define.js';
import { parseRouteKey } from './router.js';

declare const routeTypes: unique symbol;

/** The names of a path's parameters: '/users/:id/orders/:n' → 'id' | 'n'; a wildcard is '*'. */
export type PathParamNames<P extends string> = P extends `${string}:${infer Rest}`
  ? Rest extends `${infer Name}/${infer Tail}`
    ? ParamName<Name> | PathParamNames<`/${Tail}`>
    : ParamName<Rest>
  : P extends `${string}*${string}`
    ? '*'
    : never;
/** ':id(^\\d+)' and ':from-:to' style parameters: the name stops at '(' or '-'. */
type ParamName<S extends string> = S extends `${infer N}(${string}` ? N : S extends `${infer N}-${string}` ? N : S;

/** The path of a route key: 'GET /users/:id' → '/users/:id'. */
export type PathOf<K extends string> = K extends `${string} ${infer P}` ? P : K;

/** A query value on the calling side; each becomes one or more `name=value` pairs. */
export type QueryValue = string | number | boolean | readonly (string | number | boolean)[];
/** What a query may hold on the calling side. */
export type QueryInput = Record<string, QueryValue>;

/** The schemas a contract route may carry: `body` and `query` are checked by the service, `response` by the caller. */
export interface ContractSchemas {
  body?: ZodType;
  query?: ZodType;
  response?: ZodType;
}

/**
 * A route of a contract. B is the body, R the result of a 2xx answer, Q the query the service
 * receives (the output of the query schema, else the parsed query string). The types live in
 * a phantom member that exists only for the type checker.
 */
export interface RouteDescriptor<K extends string, B, R, Q = Record<string, string | string[]>, QIn = QueryInput> {
  readonly key: K;
  readonly method: string;
  readonly path: string;
  readonly schemas: Readonly<ContractSchemas>;
  /** Declares the body type (type checker only). */
  body<T>(): RouteDescriptor<K, T, R, Q, QIn>;
  /** Declares the result type (type checker only). */
  returns<T>(): RouteDescriptor<K, B, T, Q, QIn>;
  /** Never present at run time; required so that inference sees the types under exactOptionalPropertyTypes too. */
  readonly [routeTypes]: { body: B; result: R; query: Q; queryInput: QIn };
}

/** The output type of schema F of S, or Fallback when S has no such schema. */
type SchemaOutput<S, F extends keyof ContractSchemas, Fallback> = S extends { readonly [P in F]: infer Z }
  ? Z extends ZodType
    ? z.output<Z>
    : Fallback
  : Fallback;

/**
 * What the caller passes as the query: with a query schema, its input's names (a value the
 * schema takes as anything, like z.coerce's, is any query value); else any names.
 */
type QueryArg<S> = S extends { readonly query: infer Z }
  ? Z extends ZodType
    ? { [P in keyof z.input<Z>]: unknown extends z.input<Z>[P] ? QueryValue : z.input<Z>[P] }
    : QueryInput
  : QueryInput;

/**
 * A route of a contract, keyed like a service route: 'GET /users/:id'. Schemas are optional:
 * `body` types the argument and is checked on both sides, `query` types the query and is
 * checked by the service, `response` types the result and the caller checks every 2xx answer.
 */
// biome-ignore lint/complexity/noBannedTypes: {} is "no schemas", the default when none are given.
export function route<const K extends string, const S extends ContractSchemas = {}>(
  key: K,
  schemas?: S,
): RouteDescriptor<
  K,
  SchemaOutput<S, 'body', undefined>,
  SchemaOutput<S, 'response', unknown>,
  SchemaOutput<S, 'query', Record<string, string | string[]>>,
  QueryArg<S>
> {
  const parsed = parseRouteKey(key);
  const methods = parsed.methods;
  if (methods.length !== 1) throw invalidArgument(`a contract route names one method, got '${key}'`);
  for (const [name, schema] of Object.entries(schemas ?? {})) {
    if (!['body', 'query', 'response'].includes(name))
      throw invalidArgument(`route '${key}': unknown schema '${name}' (body, query or response)`);
    if (typeof (schema as ZodType | undefined)?.safeParse !== 'function')
      throw invalidArgument(`route '${key}': schema '${name}' is not a zod schema`);
  }
  const descriptor = {
    key,
    method: methods[0] as string,
    path: parsed.path,
    schemas: Object.freeze({ ...(schemas ?? {}) }),
    body: () => descriptor,
    returns: () => descriptor,
  };
  return Object.freeze(descriptor) as never;
}

// biome-ignore lint/suspicious/noExplicitAny: any route, whatever its types (unknown would reject routes whose body is undefined).
export type AnyRoute = RouteDescriptor<string, any, any, any, any>;

export interface ServiceContract<Routes extends Record<string, AnyRoute>> {
  readonly service: string;
  readonly routes: Routes;
}

export function serviceContract<const Routes extends Record<string, AnyRoute>>(service: string, routes: Routes): ServiceContract<Routes> {
  if (typeof service !== 'string' || service === '') throw invalidArgument('a contract needs a service name');
  for (const [name, r] of Object.entries(routes)) {
    if (typeof r?.key !== 'string') throw invalidArgument(`contract entry '${name}' is not a route(): use route('GET /path')`);
  }
  return Object.freeze({ service, routes: Object.freeze({ ...routes }) });
}

/** The body, result and (service-side) query types of a contract route. */
export type BodyOf<Rt> = Rt extends { readonly [routeTypes]: { body: infer B } } ? B : never;
export type ResultOf<Rt> = Rt extends { readonly [routeTypes]: { result: infer R } } ? R : never;
export type QueryOf<Rt> = Rt extends { readonly [routeTypes]: { query: infer Q } } ? Q : never;
export type QueryInputOf<Rt> = Rt extends { readonly [routeTypes]: { queryInput: infer Q } } ? Q : never;
export type KeyOf<Rt> = Rt extends { readonly key: infer K extends string } ? K : never;

type ParamsPart<K extends string> = [PathParamNames<PathOf<K>>] extends [never]
  ? { params?: Record<string, never> }
  : { params: { [N in PathParamNames<PathOf<K>>]: string | number } };
type BodyPart<B> = [B] extends [undefined] ? { body?: undefined } : { body: B };

/** Whether an empty object is a T, i.e. nothing in T is required. */
type NothingRequired<T> = Record<never, never> extends T ? true : false;
/** A query the contract does not constrain may be left out; one with required names may not. */
type QueryPart<QIn> = NothingRequired<QIn> extends true ? { query?: QIn } : { query: QIn };

/** What a typed call takes: path params, the body, the query, and the usual call options. */
export type TypedCallInput<K extends string, B, QIn = QueryInput> = ParamsPart<K> &
  BodyPart<B> &
  QueryPart<QIn> & {
    headers?: Record<string, string>;
    timeout?: number;
    signal?: AbortSignal;
    idempotent?: boolean;
  };

/** The input may be left out when nothing in it is required. */
type InputArgs<K extends string, B, QIn> = [PathParamNames<PathOf<K>>] extends [never]
  ? [B] extends [undefined]
    ? NothingRequired<QIn> extends true
      ? [input?: TypedCallInput<K, B, QIn>]
      : [input: TypedCallInput<K, B, QIn>]
    : [input: TypedCallInput<K, B, QIn>]
  : [input: TypedCallInput<K, B, QIn>];

export type TypedService<Routes extends Record<string, AnyRoute>> = {
  readonly [Name in keyof Routes]: (
    ...args: InputArgs<KeyOf<Routes[Name]>, BodyOf<Routes[Name]>, QueryInputOf<Routes[Name]>>
  ) => Promise<ResultOf<Routes[Name]>>;
};

/** A typed call answered with a status outside 2xx: the code of its error body, the status and the whole answer. */
export class ServiceCallError extends RemoteError {
  readonly status: number;
  readonly response: ServiceResponse;
  constructor(route: string, response: ServiceResponse) {
    const error = (response.body as { error?: { code?: unknown; message?: unknown; data?: unknown } } | null)?.error;
    const code = typeof error?.code === 'string' ? error.code : 'WARREN_REMOTE_ERROR';
    const message = typeof error?.message === 'string' ? error.message : `status ${response.status}`;
    super(code, `${route} answered ${response.status}: ${message}`, { data: error?.data });
    this.name = 'ServiceCallError';
    this.status = response.status;
    this.response = response;
  }
}

/** Fills a route path with its params (each encoded as one path segment; '*' keeps its slashes) and a query string. */
export function buildUrl(path: string, params: Record<string, unknown> | undefined, query: QueryInput | undefined): string {
  let url = path.replace(/:([A-Za-z0-9_]+)(\([^)]*\))?/g, (_match, name: string) => {
    const value = params?.[name];
    if (value === undefined || value === null || value === '') throw invalidArgument(`missing path parameter '${name}' for ${path}`);
    return encodeURIComponent(String(value));
  });
  if (url.includes('*')) {
    const rest = params?.['*'];
    url = url.replace('*', rest === undefined ? '' : String(rest).split('/').map(encodeURIComponent).join('/'));
  }
  if (query !== undefined) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (Array.isArray(value)) for (const item of value) search.append(name, String(item));
      else if (value !== undefined) search.append(name, String(value));
    }
    const text = search.toString();
    if (text !== '') url += `?${text}`;
  }
  return url;
}

/** What bindContract needs of a ServiceHandle. */
export interface RequestSender {
  request(method: string, url: string, options?: CallOptions): Promise<ServiceResponse>;
}

/** Builds the typed functions of a contract over a handle; used by `client.service(contract)`. */
export function bindContract<Routes extends Record<string, AnyRoute>>(
  handle: RequestSender,
  contract: ServiceContract<Routes>,
): TypedService<Routes> {
  const api: Record<string, (input?: TypedCallInput<string, unknown>) => Promise<unknown>> = {};
  for (const [name, r] of Object.entries(contract.routes)) {
    api[name] = async (input = {} as TypedCallInput<string, unknown>) => {
      const url = buildUrl(r.path, input.params as Record<string, unknown> | undefined, input.query);
      let body = input.body;
      if (r.schemas.body !== undefined) body = checked(r.schemas.body, body, `${contract.service} ${r.key}: the body`);
      const options: CallOptions = { body };
      if (input.headers !== undefined) options.headers = input.headers;
      if (input.timeout !== undefined) options.timeout = input.timeout;
      if (input.signal !== undefined) options.signal = input.signal;
      if (input.idempotent !== undefined) options.idempotent = input.idempotent;
      const response = await handle.request(r.method, url, options);
      if (response.status < 200 || response.status > 299) throw new ServiceCallError(`${contract.service} ${r.key}`, response);
      if (r.schemas.response !== undefined) return checked(r.schemas.response, response.body, `${contract.service} ${r.key}: the answer`);
      return response.body;
    };
  }
  return Object.freeze(api) as TypedService<Routes>;
}

/**
 * The routes of a service implementing a contract (see defineService(contract, input)): each
 * handler, given by the route's name in the contract, keyed by the route's key, with the
 * contract's body and query schemas as the route's schema so the service validates what the
 * caller's types promise. Every contract route needs a handler; a name not in the contract is refused.
 */
export function contractRoutes(
  contract: ServiceContract<Record<string, AnyRoute>>,
  handlers: unknown,
): Record<string, RouteOptions<unknown>> {
  if (typeof contract?.service !== 'string' || typeof contract.routes !== 'object' || contract.routes === null) {
    throw invalidArgument('defineService(contract, input) needs a contract made by serviceContract()');
  }
  if (typeof handlers !== 'object' || handlers === null) {
    throw invalidArgument(`service '${contract.service}': routes must map each contract route name to its handler`);
  }
  const given = handlers as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(contract.routes, name)) {
      throw invalidArgument(
        `service '${contract.service}': '${name}' is not a route of the contract (${Object.keys(contract.routes).join(', ')})`,
      );
    }
  }
  const routes: Record<string, RouteOptions<unknown>> = {};
  for (const [name, r] of Object.entries(contract.routes)) {
    const spec = given[name];
    const options = (typeof spec === 'function' ? { handler: spec } : spec) as Partial<RouteOptions<unknown>> | undefined;
    if (typeof options?.handler !== 'function') {
      throw invalidArgument(`service '${contract.service}': contract route '${name}' (${r.key}) has no handler`);
    }
    const schema: RouteSchemas = {};
    if (r.schemas.body !== undefined) schema.body = r.schemas.body;
    if (r.schemas.query !== undefined) schema.query = r.schemas.query;
    const route: RouteOptions<unknown> = { handler: options.handler, schema };
    if (options.public !== undefined) route.public = options.public;
    if (options.timeoutMs !== undefined) route.timeoutMs = options.timeoutMs;
    routes[r.key] = route;
  }
  return routes;
}

/** Parses with a schema; a mismatch is WARREN_VALIDATION listing the failing fields. */
function checked(schema: ZodType, value: unknown, what: string): unknown {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  const list = fields.map((f) => `${f.path || '(root)'}: ${f.message}`).join('; ');
  throw validationFailed(`${what} does not match its schema: ${list}`, { data: { fields } });
}
