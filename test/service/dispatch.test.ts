/** The dispatcher in process: routing, auth, schemas, hooks and scopes, controllers, and every outcome's status. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WarrenError } from '../../src/errors.js';
import { defineService, reply, type ServiceRequest } from '../../src/service/define.js';
import { Dispatcher, forbidden, ServiceError } from '../../src/service/dispatch.js';

const caller = { client: 'test' };

function get(url: string): ServiceRequest {
  return { method: 'GET', url };
}

describe('defineService', () => {
  it('refuses a bad name, a clashing route, a route without a handler and a controller without its action', () => {
    expect(() => defineService({ name: 'Users!' })).toThrow(/service name "Users!" must match/);
    const clash = () => defineService({ name: 'x', routes: { 'GET /a/:id': () => 1 }, scopes: [{ routes: { 'GET /a/:key': () => 2 } }] });
    expect(clash).toThrow(WarrenError);
    try {
      clash();
    } catch (error) {
      expect((error as WarrenError).code).toBe('WARREN_INVALID_ROUTE');
    }
    expect(() => defineService({ name: 'x', routes: { 'GET /a': {} as never } })).toThrow(/route 'GET \/a' has no handler/);
    class Broken {
      static routes = { 'GET /b': 'missing' };
    }
    expect(() => defineService({ name: 'x', controllers: [Broken] })).toThrow(/controller Broken has no action 'missing'/);
  });
});

describe('Dispatcher', () => {
  it('answers data with 200, an explicit reply with its status and headers, nothing with 204', async () => {
    const service = defineService({
      name: 'users',
      routes: {
        'GET /users/:id': ({ params, query }) => ({ id: params.id, fields: query.fields }),
        'POST /users': ({ body }) => reply(201, body, { location: '/users/7' }),
        'DELETE /users/:id': () => undefined,
      },
    });
    const d = new Dispatcher(service, undefined);
    expect(await d.dispatch(get('/users/42?fields=name'), caller)).toEqual({
      status: 200,
      headers: {},
      body: { id: '42', fields: 'name' },
    });
    expect(await d.dispatch({ method: 'POST', url: '/users', body: { name: 'Ada' } }, caller)).toEqual({
      status: 201,
      headers: { location: '/users/7' },
      body: { name: 'Ada' },
    });
    expect((await d.dispatch({ method: 'DELETE', url: '/users/1' }, caller)).status).toBe(204);
  });

  it('404 for no route, 405 with Allow for a wrong method, 400 for a malformed url', async () => {
    const d = new Dispatcher(defineService({ name: 'users', routes: { 'GET /users/:id': () => 1, 'PUT /users/:id': () => 2 } }), undefined);
    const missing = await d.dispatch(get('/orders'), caller);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'WARREN_NOT_FOUND' } });
    const wrong = await d.dispatch({ method: 'POST', url: '/users/1' }, caller);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET, HEAD, PUT');
    expect(wrong.body).toMatchObject({ error: { code: 'WARREN_METHOD_NOT_ALLOWED' } });
    const bad = await d.dispatch(get('/users/%zz'), caller);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'WARREN_BAD_URL' } });
  });

  it('401 without a token unless the route is public', async () => {
    const d = new Dispatcher(
      defineService({ name: 'users', routes: { 'GET /private': () => 'secret', 'GET /health': { public: true, handler: () => 'ok' } } }),
      undefined,
    );
    const refused = await d.dispatch(get('/private'), null);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: { code: 'WARREN_UNAUTHORIZED' } });
    expect(await d.dispatch(get('/health'), null)).toMatchObject({ status: 200, body: 'ok' });
    expect(await d.dispatch(get('/private'), caller)).toMatchObject({ status: 200, body: 'secret' });
  });

  it('without a token, unknown paths and other methods are 401 too: which routes exist is not told', async () => {
    const d = new Dispatcher(
      defineService({ name: 'users', routes: { 'GET /private': () => 'secret', 'GET /health': { public: true, handler: () => 'ok' } } }),
      undefined,
    );
    for (const request of [get('/nowhere'), { method: 'DELETE', url: '/health' }, { method: 'POST', url: '/private' }]) {
      expect(await d.dispatch(request, null)).toMatchObject({ status: 401, body: { error: { code: 'WARREN_UNAUTHORIZED' } } });
    }
    expect((await d.dispatch(get('/nowhere'), caller)).status).toBe(404);
    expect((await d.dispatch({ method: 'DELETE', url: '/health' }, caller)).status).toBe(405);
    expect((await d.dispatch(get('/users/%zz'), null)).status).toBe(400);
  });

  it('validates params, query and body with zod: 400 naming every failing field, parsed values reach the handler', async () => {
    const seen: unknown[] = [];
    const d = new Dispatcher(
      defineService({
        name: 'orders',
        routes: {
          'POST /orders/:shop': {
            schema: {
              params: z.object({ shop: z.coerce.number().int() }),
              query: z.object({ dry: z.enum(['yes', 'no']).default('no') }),
              body: z.object({ sku: z.string().min(1), qty: z.number().int().positive() }),
            },
            handler: (input) => {
              seen.push([input.params, input.query, input.body]);
              return 'placed';
            },
          },
        },
      }),
      undefined,
    );
    const bad = await d.dispatch({ method: 'POST', url: '/orders/abc', body: { sku: '', qty: -1 } }, caller);
    expect(bad.status).toBe(400);
    const fields = (bad.body as { error: { code: string; data: { fields: { in: string; path: string }[] } } }).error;
    expect(fields.code).toBe('WARREN_VALIDATION');
    expect(fields.data.fields.map((f) => `${f.in}.${f.path}`).sort()).toEqual(['body.qty', 'body.sku', 'params.shop']);
    expect(seen).toEqual([]);
    const ok = await d.dispatch({ method: 'POST', url: '/orders/12', body: { sku: 'a', qty: 2 } }, caller);
    expect(ok).toMatchObject({ status: 200, body: 'placed' });
    expect(seen).toEqual([[{ shop: 12 }, { dry: 'no' }, { sku: 'a', qty: 2 }]]);
  });

  it('runs hooks outermost first; a scope inherits its parent hooks and its own do not leak to the parent', async () => {
    const log: string[] = [];
    const d = new Dispatcher(
      defineService({
        name: 'shop',
        hooks: {
          onRequest: (_i, ctx) => void log.push(`root.onRequest ${ctx.route}`),
          preHandler: () => void log.push('root.preHandler'),
          onResponse: (_i, res) => void log.push(`root.onResponse ${res.status}`),
        },
        routes: { 'GET /open': () => 'open' },
        scopes: [
          {
            prefix: '/admin',
            hooks: {
              onRequest: (input) => (input.headers['x-admin'] === 'yes' ? undefined : reply(403, 'admins only')),
              preHandler: () => void log.push('admin.preHandler'),
            },
            routes: { 'GET /stats': () => 'stats' },
          },
        ],
      }),
      undefined,
    );
    expect(await d.dispatch(get('/open'), caller)).toMatchObject({ status: 200, body: 'open' });
    expect(log.splice(0)).toEqual(['root.onRequest GET /open', 'root.preHandler', 'root.onResponse 200']);
    expect(await d.dispatch(get('/admin/stats'), caller)).toMatchObject({ status: 403, body: 'admins only' });
    expect(log.splice(0)).toEqual(['root.onRequest GET /admin/stats', 'root.onResponse 403']);
    expect(await d.dispatch({ method: 'GET', url: '/admin/stats', headers: { 'x-admin': 'yes' } }, caller)).toMatchObject({
      body: 'stats',
    });
    expect(log.splice(0)).toEqual(['root.onRequest GET /admin/stats', 'root.preHandler', 'admin.preHandler', 'root.onResponse 200']);
  });

  it('maps errors: ServiceError keeps its status, forbidden() is 403, onError may reply, anything else is 500 with only the request id', async () => {
    const internal: unknown[] = [];
    const d = new Dispatcher(
      defineService({
        name: 'pay',
        hooks: { onError: (error) => (error instanceof RangeError ? reply(422, { reason: error.message }) : undefined) },
        routes: {
          'GET /teapot': () => {
            throw new ServiceError(418, 'E_TEAPOT', 'short and stout', { spout: true });
          },
          'GET /admin': () => {
            throw forbidden('not you');
          },
          'GET /range': () => {
            throw new RangeError('too many');
          },
          'GET /boom': async () => {
            throw new Error('password=hunter2 in /etc/secret');
          },
        },
      }),
      undefined,
      { onInternalError: (error, requestId, route) => internal.push([(error as Error).message, requestId, route]) },
    );
    expect(await d.dispatch(get('/teapot'), caller)).toEqual({
      status: 418,
      headers: {},
      body: { error: { code: 'E_TEAPOT', message: 'short and stout', data: { spout: true } } },
    });
    expect(await d.dispatch(get('/admin'), caller)).toMatchObject({
      status: 403,
      body: { error: { code: 'WARREN_FORBIDDEN', message: 'not you' } },
    });
    expect(await d.dispatch(get('/range'), caller)).toMatchObject({ status: 422, body: { reason: 'too many' } });
    const boom = await d.dispatch({ method: 'GET', url: '/boom', requestId: 'req-9' }, caller);
    expect(boom.status).toBe(500);
    expect(JSON.stringify(boom.body)).not.toContain('hunter2');
    expect(boom.body).toMatchObject({ error: { code: 'WARREN_INTERNAL', message: 'internal error (request req-9)' } });
    expect(internal).toEqual([['password=hunter2 in /etc/secret', 'req-9', 'GET /boom']]);
  });

  it('408 when a handler runs past its timeout, and the handler sees its signal abort', async () => {
    let aborted: Promise<unknown> | undefined;
    const d = new Dispatcher(
      defineService({
        name: 'slow',
        routes: {
          'GET /never': {
            timeoutMs: 30,
            handler: (_input, ctx) => {
              aborted = new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason)));
              return new Promise(() => {});
            },
          },
        },
      }),
      undefined,
    );
    const res = await d.dispatch(get('/never'), caller);
    expect(res.status).toBe(408);
    expect(res.body).toMatchObject({ error: { code: 'WARREN_HANDLER_TIMEOUT' } });
    expect(await aborted).toMatchObject({ code: 'WARREN_HANDLER_TIMEOUT' });
  });

  it('serves class controllers, one instance made with the dependencies', async () => {
    const made: unknown[] = [];
    class Products {
      static routes = { 'GET /products': 'list', 'GET /products/:id': { action: 'show', public: true } };
      constructor(private readonly deps: { names: string[] }) {
        made.push(deps);
      }
      list() {
        return this.deps.names;
      }
      show(input: { params: Record<string, string> }) {
        return this.deps.names[Number(input.params.id)] ?? reply(404, 'no such product');
      }
    }
    const deps = { names: ['tea', 'cake'] };
    const d = new Dispatcher(defineService({ name: 'products', controllers: [Products] }), deps);
    expect(await d.dispatch(get('/products'), caller)).toMatchObject({ status: 200, body: ['tea', 'cake'] });
    expect(await d.dispatch(get('/products/1'), null)).toMatchObject({ status: 200, body: 'cake' });
    expect(await d.dispatch(get('/products/5'), caller)).toMatchObject({ status: 404 });
    expect(made).toEqual([deps]);
  });
});
