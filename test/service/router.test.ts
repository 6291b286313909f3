/**
 * The route table: route keys and their errors, params, wildcards and query strings, 404 and
 * 405 with a sorted Allow, HEAD falling back to GET, urls from outside that are malformed, and
 * a property test over generated tables of up to 1,000 routes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { createRouter, parseQuery, parseRouteKey, ROUTE_METHODS, type RouteMatch } from '../../src/service/router.js';

function invalidRoute(routes: Record<string, string>): { code: string; message: string; data: unknown } {
  try {
    createRouter(routes);
  } catch (error) {
    if (!isWarrenError(error)) throw error;
    return { code: error.code, message: error.message, data: error.data };
  }
  throw new Error('createRouter accepted the routes');
}

/** The match with params and query copied into plain objects, for toEqual. */
function plain<H>(match: RouteMatch<H>): unknown {
  if (match.kind !== 'found') return match;
  return { ...match, params: { ...match.params }, query: { ...match.query } };
}

describe('route keys', () => {
  it('accepts one method, a list, or * for every method, and normalises the key', () => {
    const router = createRouter({
      'get /users/:id': 'a',
      'POST,put /orders': 'b',
      '* /any': 'c',
      '  DELETE   /users/:id  ': 'd',
    });
    expect(router.routes()).toEqual(['GET /users/:id', 'POST,PUT /orders', '* /any', 'DELETE /users/:id']);
    expect(router.find('PUT', '/orders')).toMatchObject({ kind: 'found', handler: 'b', route: 'POST,PUT /orders' });
    for (const method of ROUTE_METHODS) expect(router.find(method, '/any')).toMatchObject({ kind: 'found', handler: 'c' });
    expect(parseRouteKey('head,GET /x')).toEqual({ key: 'HEAD,GET /x', methods: ['HEAD', 'GET'], path: '/x' });
  });

  it.each([
    ['GET', "expected 'METHOD /path'"],
    ['GET /a /b', "expected 'METHOD /path'"],
    ['', "expected 'METHOD /path'"],
    ['FETCH /x', "unknown method 'FETCH'"],
    ['GET,,POST /x', "unknown method ''"],
    ['GET,* /x', "unknown method '*'"],
    ['GET,get /x', 'method GET is listed twice'],
    ['GET users', "the path must start with '/'"],
    ['GET *', "the path must start with '/'"],
    ['GET /users?active=1', 'no query string or fragment'],
    ['GET /users#top', 'no query string or fragment'],
    ['GET /e/:', 'a parameter needs a name'],
    ['GET /d/:a/:a', "parameter ':a' appears twice"],
    ['GET /files/*/x', 'Wildcard must be the last character'],
  ])('rejects %j with WARREN_INVALID_ROUTE naming the key and the fault', (key, reason) => {
    const error = invalidRoute({ [key]: 'h' });
    expect(error.code).toBe('WARREN_INVALID_ROUTE');
    expect(error.message).toContain(`route '${key}'`);
    expect(error.message).toContain(reason);
    expect(error.data).toMatchObject({ key });
  });

  it('rejects two keys for the same method and path pattern, naming the first', () => {
    const renamed = invalidRoute({ 'GET /users/:id': 'a', 'get /users/:name': 'b' });
    expect(renamed.code).toBe('WARREN_INVALID_ROUTE');
    expect(renamed.message).toBe(
      "route 'get /users/:name': GET /users/:name is already routed by 'GET /users/:id' (parameter names do not tell routes apart)",
    );
    expect(invalidRoute({ '* /x': 'a', 'POST /x': 'b' }).message).toContain("POST /x is already routed by '* /x'");
    expect(invalidRoute({ 'GET,HEAD /x': 'a', 'HEAD /x': 'b' }).message).toContain("already routed by 'GET,HEAD /x'");
    // An optional parameter stands for two paths; either may clash.
    expect(invalidRoute({ 'GET /y': 'a', 'GET /y/:id?': 'b' }).code).toBe('WARREN_INVALID_ROUTE');
  });

  it('keeps routes that differ by method, by a static part, or by a trailing slash', () => {
    const router = createRouter({ 'GET /u/:id': 1, 'DELETE /u/:id': 2, 'GET /u/me': 3, 'GET /u': 4, 'GET /u/': 5 });
    expect(router.routes()).toHaveLength(5);
    expect(router.find('GET', '/u/me')).toMatchObject({ handler: 3 });
    expect(router.find('GET', '/u/42')).toMatchObject({ handler: 1 });
    expect(router.find('GET', '/u/')).toMatchObject({ handler: 5 });
  });

  it('rejects bad arguments and options as WARREN_INVALID_ARGUMENT', () => {
    expect(() => createRouter(null as unknown as Record<string, string>)).toThrow(
      expect.objectContaining({ code: 'WARREN_INVALID_ARGUMENT' }),
    );
    expect(() => createRouter({}, { maxUrlLength: 0 })).toThrow(/maxUrlLength must be a positive integer, got 0/);
  });
});

describe('finding a route', () => {
  const router = createRouter({
    'GET /users/:id': 'user',
    'GET /users/:id/posts/:post': 'post',
    'GET /files/*': 'files',
    'GET /range/:from-:to': 'range',
    'GET /only-digits/:n(^\\d+$)': 'digits',
    'GET /opt/:id?': 'optional',
    'GET /search': 'search',
  });

  it('gives decoded params and the route key', () => {
    expect(plain(router.find('GET', '/users/42/posts/7'))).toEqual({
      kind: 'found',
      handler: 'post',
      params: { id: '42', post: '7' },
      query: {},
      route: 'GET /users/:id/posts/:post',
    });
    expect(plain(router.find('GET', '/users/a%2Fb'))).toMatchObject({ params: { id: 'a/b' } });
    expect(plain(router.find('GET', '/users/%E2%9C%93%20ok'))).toMatchObject({ params: { id: '✓ ok' } });
    expect(plain(router.find('GET', '/users/100%25'))).toMatchObject({ params: { id: '100%' } });
    expect(plain(router.find('GET', '/users/a%3Fb%23c'))).toMatchObject({ params: { id: 'a?b#c' } });
    expect(plain(router.find('GET', '/range/3-9'))).toMatchObject({ params: { from: '3', to: '9' } });
    expect(plain(router.find('GET', '/only-digits/12'))).toMatchObject({ params: { n: '12' } });
    expect(router.find('GET', '/only-digits/ab')).toEqual({ kind: 'not-found' });
    expect(plain(router.find('GET', '/opt'))).toMatchObject({ handler: 'optional', params: {} });
    expect(plain(router.find('GET', '/opt/5'))).toMatchObject({ handler: 'optional', params: { id: '5' } });
  });

  it('accepts a long parameter up to the url limit', () => {
    const id = 'x'.repeat(5000);
    expect(plain(router.find('GET', `/users/${id}`))).toMatchObject({ params: { id } });
  });

  it('never matches a named parameter with an empty segment, but lets a wildcard be empty', () => {
    expect(router.find('GET', '/users/')).toEqual({ kind: 'not-found' });
    expect(router.find('GET', '/users//posts/1')).toEqual({ kind: 'not-found' });
    expect(plain(router.find('GET', '/files/'))).toMatchObject({ handler: 'files', params: { '*': '' } });
  });

  it('gives a wildcard the rest of the path, decoded, slashes included', () => {
    expect(plain(router.find('GET', '/files/docs/a%20b/c.txt?x=1'))).toEqual({
      kind: 'found',
      handler: 'files',
      params: { '*': 'docs/a b/c.txt' },
      query: { x: '1' },
      route: 'GET /files/*',
    });
  });

  it('is case-sensitive in the path and takes the method in any case', () => {
    expect(router.find('GET', '/USERS/1')).toEqual({ kind: 'not-found' });
    expect(router.find('get', '/users/1')).toMatchObject({ kind: 'found', handler: 'user' });
    expect(router.find('GET', '/users/1/')).toEqual({ kind: 'not-found' });
  });

  it('gives params and query objects without a prototype, so any name is data', () => {
    const found = router.find('GET', '/search?__proto__=x&constructor=y&toString=z');
    expect(found.kind).toBe('found');
    if (found.kind !== 'found') return;
    // Nothing inherited: a handler reading params.constructor or query.toString gets undefined.
    expect('toString' in found.params || 'hasOwnProperty' in found.params).toBe(false);
    expect('hasOwnProperty' in found.query).toBe(false);
    expect(Object.entries(found.query)).toEqual([
      ['__proto__', 'x'],
      ['constructor', 'y'],
      ['toString', 'z'],
    ]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('query strings', () => {
  const router = createRouter({ 'GET /search': 'search' });
  const query = (url: string) => {
    const found = router.find('GET', url);
    if (found.kind !== 'found') throw new Error(`no match for ${url}`);
    return { ...found.query };
  };

  it('gives repeated keys as arrays in order', () => {
    expect(query('/search?tag=a&tag=b&q=x&tag=c')).toEqual({ tag: ['a', 'b', 'c'], q: 'x' });
  });

  it('decodes escapes and + the way browsers encode forms', () => {
    expect(query('/search?q=a%26b%3Dc&name=J%C3%BCrgen&sp=a+b&plus=1%2B1')).toEqual({ q: 'a&b=c', name: 'Jürgen', sp: 'a b', plus: '1+1' });
    expect(query('/search?a%5B0%5D=1')).toEqual({ 'a[0]': '1' });
  });

  it('keeps empty values, bare keys and empty pairs apart', () => {
    expect(query('/search?a=&b&=c&&d=1')).toEqual({ a: '', b: '', '': 'c', d: '1' });
    expect(query('/search?')).toEqual({});
    expect(query('/search')).toEqual({});
  });

  it('leaves malformed escapes in the query as written and drops a fragment', () => {
    expect(query('/search?q=%zz&r=%')).toEqual({ q: '%zz', r: '%' });
    expect(query('/search?q=1#frag?x=2')).toEqual({ q: '1' });
    expect(query('/search#frag?x=2')).toEqual({});
    expect(query('/search?q=a?b')).toEqual({ q: 'a?b' });
  });

  it('is exported as parseQuery', () => {
    expect({ ...parseQuery('x=1&x=2') }).toEqual({ x: ['1', '2'] });
  });
});

describe('404 and 405', () => {
  // Declared out of order on purpose: Allow is sorted whatever the order of the keys.
  const router = createRouter({
    'POST /users/:id': 'update',
    'DELETE /users/:id': 'remove',
    'GET /users/:id': 'get',
    'PUT /items': 'put',
    'HEAD /items': 'head',
  });

  it('answers not-found when no method routes the path', () => {
    expect(router.find('GET', '/nothing')).toEqual({ kind: 'not-found' });
    expect(router.find('POST', '/users')).toEqual({ kind: 'not-found' });
    expect(router.allowed('/nothing')).toEqual([]);
  });

  it('answers method-not-allowed with the sorted methods that do match, HEAD with GET', () => {
    expect(router.find('PATCH', '/users/1')).toEqual({ kind: 'method-not-allowed', allow: ['DELETE', 'GET', 'HEAD', 'POST'] });
    expect(router.find('GET', '/items')).toEqual({ kind: 'method-not-allowed', allow: ['HEAD', 'PUT'] });
    expect(router.allowed('/users/1?x=1')).toEqual(['DELETE', 'GET', 'HEAD', 'POST']);
  });

  it('treats a method it does not know like any method without a route', () => {
    expect(router.find('BREW', '/users/1')).toEqual({ kind: 'method-not-allowed', allow: ['DELETE', 'GET', 'HEAD', 'POST'] });
    expect(router.find(undefined as unknown as string, '/users/1')).toMatchObject({ kind: 'method-not-allowed' });
    expect(router.find('constructor', '/nothing')).toEqual({ kind: 'not-found' });
  });

  it('falls back from HEAD to the GET route, and prefers a HEAD route when there is one', () => {
    expect(router.find('HEAD', '/users/7')).toMatchObject({ kind: 'found', handler: 'get', route: 'GET /users/:id', params: { id: '7' } });
    expect(router.find('HEAD', '/items')).toMatchObject({ kind: 'found', handler: 'head', route: 'HEAD /items' });
  });
});

describe('urls from outside', () => {
  const router = createRouter({ 'GET /users/:id': 'user', 'POST /other': 'other' }, { maxUrlLength: 64 });

  it.each([
    [42, 'the url must be a string, got number'],
    [undefined, 'the url must be a string, got undefined'],
    [null, 'the url must be a string, got object'],
    [{ toString: () => '/users/1' }, 'the url must be a string, got object'],
    ['', "the url must start with '/'"],
    ['users/1', "the url must start with '/'"],
    ['http://host/users/1', "the url must start with '/'"],
    ['*', "the url must start with '/'"],
    ['/users/%zz', 'malformed percent-encoding'],
    ['/users/%', 'malformed percent-encoding'],
    ['/users/%C3', 'malformed percent-encoding'],
    ['/users/%ED%A0%80', 'malformed percent-encoding'],
  ])('answers %j with bad-url 400', (url, reason) => {
    const found = router.find('GET', url as string);
    expect(found).toMatchObject({ kind: 'bad-url', status: 400 });
    expect(found.kind === 'bad-url' && found.reason).toContain(reason);
    expect(router.allowed(url as string)).toEqual([]);
  });

  it('answers bad-url 400 for malformed escapes whichever method is asked, routed or not', () => {
    for (const method of ['GET', 'PUT', 'PATCH', 'NOPE']) {
      expect(router.find(method, '/zzz/%G0')).toMatchObject({ kind: 'bad-url', status: 400 });
    }
    expect(createRouter({}).find('GET', '/%')).toMatchObject({ kind: 'bad-url', status: 400 });
  });

  it('answers a url over the limit with bad-url 414, and accepts one at the limit', () => {
    const atLimit = `/users/${'x'.repeat(64 - '/users/'.length)}`;
    expect(router.find('GET', atLimit)).toMatchObject({ kind: 'found' });
    expect(router.find('GET', `${atLimit}y`)).toEqual({
      kind: 'bad-url',
      status: 414,
      reason: 'the url is 65 characters long, over the limit of 64',
    });
    // The query string counts too: it is parsed into an object.
    expect(router.find('GET', `/users/1?${'q=1&'.repeat(20)}`)).toMatchObject({ kind: 'bad-url', status: 414 });
  });

  it('routes by the path only: traversal and doubled slashes do not reach other routes', () => {
    expect(router.find('GET', '/other/../users/1')).toEqual({ kind: 'not-found' });
    expect(router.find('GET', '//users/1')).toEqual({ kind: 'not-found' });
    expect(router.find('GET', '/users/1/..')).toEqual({ kind: 'not-found' });
  });

  it('never throws, whatever the strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ maxLength: 10 }), (url, method) => {
        const found = router.find(method, url);
        expect(['found', 'not-found', 'method-not-allowed', 'bad-url']).toContain(found.kind);
        router.allowed(url);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('/', '%', '2', 'F', 'C', '3', 'u', 's', 'e', 'r', '?', '#', '&', '='), { maxLength: 30 }),
        (chars) => {
          router.find('GET', `/${chars.join('')}`);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// ---- property: generated route tables -------------------------------------------------------

// Built so that every request has one right answer: static segments are lowercase words,
// parameter values start with an uppercase letter (so never equal a static segment), and
// 'files' only ever appears right before a wildcard.
const STATIC_WORDS = ['a', 'b', 'users', 'orders', 'v1', 'items'];

type Segment = { kind: 'static'; word: string } | { kind: 'param' };

interface GeneratedRoute {
  method: (typeof ROUTE_METHODS)[number];
  segments: Segment[];
  wildcard: boolean;
}

const segmentArb: fc.Arbitrary<Segment> = fc.oneof(
  fc.constantFrom(...STATIC_WORDS).map((word) => ({ kind: 'static' as const, word })),
  fc.constant({ kind: 'param' as const }),
);

const routeArb: fc.Arbitrary<GeneratedRoute> = fc.record({
  method: fc.constantFrom(...ROUTE_METHODS),
  segments: fc.array(segmentArb, { minLength: 1, maxLength: 6 }),
  wildcard: fc.boolean(),
});

/** The pattern with parameter names erased: two routes with the same one clash. */
function patternOf(route: GeneratedRoute): string {
  const path = route.segments.map((s) => (s.kind === 'static' ? s.word : ':')).join('/');
  return `${route.method} /${path}${route.wildcard ? '/files/*' : ''}`;
}

function keyOf(route: GeneratedRoute): string {
  let n = 0;
  const path = route.segments.map((s) => (s.kind === 'static' ? s.word : `:p${n++}`)).join('/');
  return `${route.method} /${path}${route.wildcard ? '/files/*' : ''}`;
}

/** A parameter value: any text (emoji, '/', '%', '?', spaces), starting with an uppercase letter. */
const valueArb = fc.string({ unit: 'grapheme', maxLength: 8 }).map((s) => `V${s}`);

const tableArb = (size: number) =>
  fc
    .uniqueArray(routeArb, { minLength: size, maxLength: size, selector: patternOf })
    .chain((routes) =>
      fc.tuple(
        fc.constant(routes),
        fc.array(fc.array(valueArb, { minLength: 6, maxLength: 6 }), { minLength: size, maxLength: size }),
        fc.array(fc.array(valueArb, { minLength: 1, maxLength: 3 }), { minLength: size, maxLength: size }),
      ),
    );

function checkTable([routes, paramValues, wildcardValues]: [GeneratedRoute[], string[][], string[][]]): void {
  const table: Record<string, number> = {};
  routes.forEach((route, i) => {
    table[keyOf(route)] = i;
  });
  const router = createRouter(table, { maxUrlLength: 1 << 16 });
  expect(router.routes()).toHaveLength(routes.length);
  routes.forEach((route, i) => {
    const values = paramValues[i]!;
    const expected: Record<string, string> = {};
    let n = 0;
    const segments = route.segments.map((s) => {
      if (s.kind === 'static') return s.word;
      const value = values[n]!;
      expected[`p${n++}`] = value;
      return encodeURIComponent(value);
    });
    if (route.wildcard) {
      const rest = wildcardValues[i]!;
      segments.push('files', ...rest.map(encodeURIComponent));
      expected['*'] = rest.join('/');
    }
    const found = router.find(route.method, `/${segments.join('/')}?i=${i}`);
    expect(plain(found)).toEqual({ kind: 'found', handler: i, params: expected, query: { i: String(i) }, route: keyOf(route) });
  });
}

describe('generated route tables', () => {
  it('finds each of 1,000 routes with its params', () => {
    fc.assert(fc.property(tableArb(1000), checkTable), { numRuns: 5 });
  });

  it('finds each route of many smaller tables with its params', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }).chain(tableArb), checkTable), { numRuns: 200 });
  });
});
