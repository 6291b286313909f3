/**
 * The route table of a service: keys like 'GET /users/:id' mapped to handlers, matched by
 * find-my-way. Plain data in and out (a method and a url string), no HTTP and no peer, so the
 * dispatcher, the gateway and tests can all use it.
 *
 * Decisions, each covered by test/service/router.test.ts:
 * - A key is `METHOD /path`, `GET,HEAD /path` (a list) or `* /path` (every method below).
 *   Methods are matched case-insensitively and stored uppercase. A method claimed twice for the
 *   same path pattern is a duplicate, whatever the parameter names ('/users/:id' and
 *   '/users/:name' are the same pattern).
 * - HEAD falls back to the GET route when no HEAD route matches; the caller drops the body.
 * - Paths are case-sensitive and a trailing slash matters ('/users/' is not '/users').
 * - A named parameter never matches an empty segment: 'GET /users/' does not reach
 *   'GET /users/:id' with id ''. A wildcard ('*') may be empty.
 * - Params and query are objects without a prototype, so '__proto__' or 'constructor' in a url
 *   is data like any other key.
 * - A url that is not a string, does not start with '/' or has malformed percent-encoding is
 *   `bad-url` with status 400; one over `maxUrlLength` is `bad-url` with status 414. `find`
 *   never throws on what a caller sends.
 */
import { createRequire } from 'node:module';
import type FindMyWayType from 'find-my-way';
import { invalidArgument, invalidRoute, type WarrenError } from '../errors.js';

/** The methods a route may name, sorted (the order of an Allow header). */
export const ROUTE_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const;
export type RouteMethod = (typeof ROUTE_METHODS)[number];

/** A parsed query string: a repeated key gives an array of its values in order. */
export type Query = Record<string, string | string[]>;

export type RouteMatch<H> =
  | {
      kind: 'found';
      handler: H;
      /** Decoded path parameters; a wildcard's value is under '*'. */
      params: Record<string, string>;
      query: Query;
      /** The route key that matched, normalised ('GET /users/:id'): a stable label for metrics. */
      route: string;
    }
  | { kind: 'not-found' }
  /** The path exists under other methods; `allow` is sorted and includes HEAD when GET is there. */
  | { kind: 'method-not-allowed'; allow: RouteMethod[] }
  /** 400 for a malformed url, 414 for one over the length limit. */
  | { kind: 'bad-url'; status: 400 | 414; reason: string };

export interface RouterOptions {
  /** Longest url accepted, in characters, query string included (8192). Longer ones are `bad-url` 414. */
  maxUrlLength?: number;
}

export interface ResolvedRouterOptions {
  readonly maxUrlLength: number;
}

export interface Router<H> {
  /** Matches a method and a url ('/users/42?fields=name'). Never throws. */
  find(method: string, url: string): RouteMatch<H>;
  /** The methods under which the url's path matches, sorted; HEAD is there when GET is. */
  allowed(url: string): RouteMethod[];
  /** The normalised route keys, in definition order. */
  routes(): string[];
}

export interface ParsedRouteKey {
  /** Normalised: methods uppercase, one space ('GET,HEAD /x', '* /x'). */
  key: string;
  methods: RouteMethod[];
  path: string;
}

export function resolveRouterOptions(options: RouterOptions = {}): ResolvedRouterOptions {
  const maxUrlLength = options.maxUrlLength ?? 8192;
  if (!Number.isInteger(maxUrlLength) || maxUrlLength < 1) {
    throw invalidArgument(`maxUrlLength must be a positive integer, got ${maxUrlLength}`);
  }
  return Object.freeze({ maxUrlLength });
}

function badRoute(key: string, reason: string): WarrenError {
  return invalidRoute(`route '${key}': ${reason}`, { data: { key, reason } });
}

const KNOWN_METHODS: ReadonlySet<string> = new Set(ROUTE_METHODS);

function isRouteMethod(method: string): method is RouteMethod {
  return KNOWN_METHODS.has(method);
}

/**
 * Checks the form of a route key and normalises it. Whether its path pattern clashes with
 * another route is only known when the table is built (createRouter).
 */
export function parseRouteKey(key: string): ParsedRouteKey {
  const parts = key.trim().split(/\s+/);
  if (parts.length !== 2) throw badRoute(key, "expected 'METHOD /path', e.g. 'GET /users/:id'");
  const [methodPart, path] = parts as [string, string];
  let methods: RouteMethod[];
  if (methodPart === '*') {
    methods = [...ROUTE_METHODS];
  } else {
    methods = [];
    for (const name of methodPart.split(',')) {
      const method = name.toUpperCase();
      if (!isRouteMethod(method)) {
        throw badRoute(key, `unknown method '${name}' (expected ${ROUTE_METHODS.join(', ')} or '*')`);
      }
      if (methods.includes(method)) throw badRoute(key, `method ${method} is listed twice`);
      methods.push(method);
    }
  }
  if (!path.startsWith('/')) throw badRoute(key, "the path must start with '/'");
  for (const segment of path.split('/')) {
    // '?' in a parameter segment marks it optional ('/:id?'); anywhere else it would start a query.
    const isParam = segment.startsWith(':') && !segment.startsWith('::');
    if (segment.includes('#') || (!isParam && segment.includes('?'))) {
      throw badRoute(key, 'a route path holds no query string or fragment');
    }
  }
  return { key: `${methodPart === '*' ? '*' : methods.join(',')} ${path}`, methods, path };
}

interface RouteRecord<H> {
  readonly key: string;
  readonly handler: H;
  /** Named parameters, checked to be non-empty on every match. */
  readonly named: string[];
}

// find-my-way calls handlers in its lookup() API; only find() is used here, so every route
// shares this one, and our record travels as the route's store.
const unusedHandler = () => undefined;
const noQuery = () => ({});

/**
 * Objects with nothing inherited (no toString, no __proto__ setter), as find-my-way makes its
 * params: `new NullObject()` is a plain fast object, where Object.create(null) makes a slow
 * dictionary one.
 */
const NullObject = function NullObject() {} as unknown as new () => object;
NullObject.prototype = Object.freeze(Object.create(null));

/** Paths remembered per method spelling (first in, first out past this many). */
const MATCH_CACHE_SIZE = 1024;
/** Method spellings ('GET', 'get', ...) that get a cache; a caller inventing more gets none. */
const MATCH_CACHE_METHODS = 32;

/** A path that matched, as remembered: the route and its params, copied for each caller. */
interface CachedMatch<H> {
  readonly record: RouteRecord<H>;
  readonly params: Record<string, string>;
}

/**
 * Builds a route table.
 * @example
 * const router = createRouter({ 'GET /users/:id': getUser, 'POST /users': createUser });
 * router.find('GET', '/users/42?fields=name');
 * // { kind: 'found', handler: getUser, params: { id: '42' }, query: { fields: 'name' }, route: 'GET /users/:id' }
 */
/**
 * find-my-way is loaded on the first router made, not when this module is: a process that only
 * calls services (the client reaches parseRouteKey through typed contracts) never pays its few
 * MB of memory. It is CommonJS, so require() loads it synchronously where it is needed.
 */
let findMyWay: typeof FindMyWayType | undefined;
function loadFindMyWay(): typeof FindMyWayType {
  findMyWay ??= createRequire(import.meta.url)('find-my-way') as typeof FindMyWayType;
  return findMyWay;
}

export function createRouter<H>(routes: Record<string, H>, options?: RouterOptions): Router<H> {
  const resolved = resolveRouterOptions(options);
  if (typeof routes !== 'object' || routes === null) throw invalidArgument('routes must be an object of route keys to handlers');
  const fmw = loadFindMyWay()({
    caseSensitive: true,
    ignoreTrailingSlash: false,
    ignoreDuplicateSlashes: false,
    // The url length limit bounds every parameter; a second, shorter limit would turn a long
    // id into a baffling 404.
    maxParamLength: resolved.maxUrlLength,
    querystringParser: noQuery,
    // With a bad-url handler, find-my-way answers a malformed url with a null store instead of
    // null, which keeps it apart from "no route".
    onBadUrl: unusedHandler,
  });
  const keys: string[] = [];
  for (const [rawKey, handler] of Object.entries(routes)) {
    const { key, methods, path } = parseRouteKey(rawKey);
    const record: RouteRecord<H> = { key, handler, named: [] };
    for (const method of methods) {
      const clash = fmw.findRoute(method, path);
      if (clash !== null) {
        const other = (clash.store as RouteRecord<H>).key;
        throw badRoute(rawKey, `${method} ${path} is already routed by '${other}' (parameter names do not tell routes apart)`);
      }
      try {
        fmw.on(method, path, unusedHandler, record);
      } catch (error) {
        throw badRoute(rawKey, error instanceof Error ? error.message : String(error));
      }
    }
    const names = fmw.findRoute(methods[0] as RouteMethod, path)?.params ?? [];
    const named = names.filter((name) => name !== '*');
    if (named.includes('')) throw badRoute(rawKey, "a parameter needs a name (':id')");
    const twice = named.find((name, i) => named.indexOf(name) !== i);
    if (twice !== undefined) throw badRoute(rawKey, `parameter ':${twice}' appears twice`);
    record.named.push(...named);
    keys.push(key);
  }
  fmw.compile();

  type Matched = { record: RouteRecord<H>; params: Record<string, string> } | null | 'bad';

  const match = (method: RouteMethod, path: string): Matched => {
    const found = fmw.find(method, path);
    if (found === null) return null;
    if (found.store === null) return 'bad';
    const record = found.store as RouteRecord<H>;
    const params = found.params as Record<string, string>;
    for (const name of record.named) if (params[name] === '') return null;
    return { record, params };
  };

  const allowedFor = (path: string): RouteMethod[] | 'bad' => {
    const allow: RouteMethod[] = [];
    for (const method of ROUTE_METHODS) {
      const found = match(method, path);
      if (found === 'bad') return 'bad';
      if (found !== null) allow.push(method);
    }
    if (allow.includes('GET') && !allow.includes('HEAD')) allow.splice(allow.indexOf('GET') + 1, 0, 'HEAD');
    return allow;
  };

  // Paths that matched a route, by method as the caller spelled it, then by path: a service
  // sees the same few urls again and again, and a find-my-way lookup with its url checks costs
  // more than the rest of routing. Only matches are kept (a 404 costs what it did), at most
  // MATCH_CACHE_SIZE paths per spelling, the oldest going first.
  const cache = new Map<string, Map<string, CachedMatch<H>>>();
  const remember = (method: string, path: string, found: CachedMatch<H>) => {
    let paths = cache.get(method);
    if (paths === undefined) {
      if (cache.size >= MATCH_CACHE_METHODS) return;
      paths = new Map();
      cache.set(method, paths);
    }
    if (paths.size >= MATCH_CACHE_SIZE) paths.delete(paths.keys().next().value as string);
    paths.set(path, found);
  };
  // The last remembered path found without a query string, and the method it was found for.
  let lastMethod: unknown;
  let lastUrl: unknown;
  let last: CachedMatch<H> | undefined;
  const matched = (found: CachedMatch<H>, query: string): RouteMatch<H> => {
    const params = new NullObject() as Record<string, string>;
    const template = found.params;
    for (const name in template) params[name] = template[name] as string;
    return { kind: 'found', handler: found.record.handler, params, query: parseQuery(query), route: found.record.key };
  };

  return {
    find(method, url) {
      // The same call again (a busy route): two string comparisons, no lookup.
      if (url === lastUrl && method === lastMethod && last !== undefined) return matched(last, '');
      // Most urls have no query string: one that is a remembered path as it stands was
      // checked when it was remembered, and is not split again.
      const paths = typeof method === 'string' ? cache.get(method) : undefined;
      if (paths !== undefined && typeof url === 'string') {
        const known = paths.get(url);
        if (known !== undefined) {
          lastMethod = method;
          lastUrl = url;
          last = known;
          return matched(known, '');
        }
      }
      const split = splitUrl(url, resolved.maxUrlLength);
      if (split.kind === 'bad-url') return split;
      if (paths !== undefined && split.path !== url) {
        const known = paths.get(split.path);
        if (known !== undefined) return matched(known, split.query);
      }
      const wanted = typeof method === 'string' ? method.toUpperCase() : '';
      if (isRouteMethod(wanted)) {
        let found = match(wanted, split.path);
        if (found === null && wanted === 'HEAD') found = match('GET', split.path);
        if (found === 'bad') return MALFORMED;
        if (found !== null) {
          remember(method, split.path, found);
          return matched(found, split.query);
        }
      }
      const allow = allowedFor(split.path);
      if (allow === 'bad') return MALFORMED;
      return allow.length === 0 ? { kind: 'not-found' } : { kind: 'method-not-allowed', allow };
    },
    allowed(url) {
      const split = splitUrl(url, resolved.maxUrlLength);
      if (split.kind === 'bad-url') return [];
      const allow = allowedFor(split.path);
      return allow === 'bad' ? [] : allow;
    },
    routes() {
      return [...keys];
    },
  };
}

const MALFORMED = Object.freeze({ kind: 'bad-url', status: 400, reason: 'the url has malformed percent-encoding' } as const);

type SplitUrl = { kind: 'ok'; path: string; query: string } | Extract<RouteMatch<never>, { kind: 'bad-url' }>;

/** Guards a url from outside and splits it into its path and raw query string (a fragment is dropped). */
function splitUrl(url: unknown, maxUrlLength: number): SplitUrl {
  if (typeof url !== 'string') return { kind: 'bad-url', status: 400, reason: `the url must be a string, got ${typeof url}` };
  if (url.length > maxUrlLength) {
    return { kind: 'bad-url', status: 414, reason: `the url is ${url.length} characters long, over the limit of ${maxUrlLength}` };
  }
  if (url.charCodeAt(0) !== 47) return { kind: 'bad-url', status: 400, reason: "the url must start with '/'" };
  const hash = url.indexOf('#');
  const bare = hash === -1 ? url : url.slice(0, hash);
  const mark = bare.indexOf('?');
  const path = mark === -1 ? bare : bare.slice(0, mark);
  // Checked here, not only by find-my-way, so the answer does not depend on which methods
  // have routes (find-my-way decodes only when the method's tree exists).
  if (path.includes('%')) {
    try {
      decodeURI(path);
    } catch {
      return MALFORMED;
    }
  }
  return { kind: 'ok', path, query: mark === -1 ? '' : bare.slice(mark + 1) };
}

/**
 * Parses a query string the way browsers do (URLSearchParams: '+' is a space, a malformed
 * escape stays as written, 'a' and 'a=' both give ''). A repeated key gives an array.
 */
export function parseQuery(raw: string): Query {
  const query = new NullObject() as Query;
  if (raw === '') return query;
  for (const [name, value] of new URLSearchParams(raw)) {
    const previous = query[name];
    if (previous === undefined) query[name] = value;
    else if (typeof previous === 'string') query[name] = [previous, value];
    else previous.push(value);
  }
  return query;
}
