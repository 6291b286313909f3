import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isWarrenError, RemoteError } from '../../src/errors.js';
import { buildUrl, route, ServiceCallError, serviceContract } from '../../src/service/contract.js';
import { defineService, reply } from '../../src/service/define.js';
import { serviceCleanup } from '../support/service-cleanup.js';

const { serveAndConnect } = serviceCleanup();

const User = z.object({ id: z.string(), name: z.string() });
const seen: { requestId: string; body: unknown }[] = [];

const users = defineService({
  name: 'users',
  routes: {
    'GET /users/:id': ({ params, query }) =>
      params.id === '404'
        ? reply(404, { error: { code: 'WARREN_NOT_FOUND', message: 'no such user' } })
        : { id: params.id, name: 'Ada', query },
    'PUT /users/:id/name': ({ params, body }) => ({ id: params.id, name: (body as { name: string }).name }),
    'GET /broken/:id': ({ params }) => ({ id: Number(params.id) }),
    'GET /files/*': ({ params }) => ({ path: params['*'] }),
    'POST /echo': (input) => {
      seen.push({ requestId: input.requestId, body: input.body });
      return input.body;
    },
  },
});

const api = serviceContract('users', {
  get: route('GET /users/:id').returns<{ id: string; name: string; query: Record<string, string | string[]> }>(),
  rename: route('PUT /users/:id/name', { body: z.object({ name: z.string().min(1) }), response: User }),
  broken: route('GET /broken/:id', { response: User }),
  file: route('GET /files/*').returns<{ path: string }>(),
  echo: route('POST /echo', { body: z.object({ n: z.number() }) }),
});

async function setup() {
  return (await serveAndConnect(users)).service(api);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('typed service contracts', () => {
  it('fills path params (encoded) and the query string, and resolves with the body of a 2xx answer', async () => {
    const typed = await setup();
    const got = await typed.get({ params: { id: 'a b/c' }, query: { fields: ['name', 'id'], n: 3 } });
    expect(got).toEqual({ id: 'a b/c', name: 'Ada', query: { fields: ['name', 'id'], n: '3' } });
    expect(await typed.file({ params: { '*': 'docs/read me.txt' } })).toEqual({ path: 'docs/read me.txt' });
    expect(await typed.rename({ params: { id: '7' }, body: { name: 'Grace' } })).toEqual({ id: '7', name: 'Grace' });
  });

  it('a status outside 2xx rejects with ServiceCallError carrying the code, status and answer', async () => {
    const typed = await setup();
    const error = await rejection(typed.get({ params: { id: '404' } }));
    expect(error).toBeInstanceOf(ServiceCallError);
    expect(error).toBeInstanceOf(RemoteError);
    const e = error as ServiceCallError;
    expect(e.code).toBe('WARREN_NOT_FOUND');
    expect(e.status).toBe(404);
    expect(e.response.body).toEqual({ error: { code: 'WARREN_NOT_FOUND', message: 'no such user' } });
    expect(e.message).toContain('users GET /users/:id answered 404: no such user');
  });

  it('checks a body against its schema before sending: nothing reaches the service', async () => {
    const typed = await setup();
    seen.length = 0;
    // Cast: the type checker would refuse this, a JavaScript caller would not.
    const error = await rejection(typed.echo({ body: { n: 'one' } as unknown as { n: number } }));
    expect(isWarrenError(error) && error.code).toBe('WARREN_VALIDATION');
    expect((error as Error).message).toMatch(/users POST \/echo: the body does not match its schema: n: /);
    expect(seen).toEqual([]);
    expect(await typed.echo({ body: { n: 1 } })).toEqual({ n: 1 });
    expect(seen).toHaveLength(1);
  });

  it('an answer that does not match the response schema is WARREN_VALIDATION naming the field', async () => {
    const typed = await setup();
    const error = await rejection(typed.broken({ params: { id: '5' } }));
    expect(isWarrenError(error) && error.code).toBe('WARREN_VALIDATION');
    expect((error as Error).message).toMatch(/the answer does not match its schema: id: /);
  });

  it('a missing path parameter is WARREN_INVALID_ARGUMENT, and a contract route names one method', async () => {
    const typed = await setup();
    const error = await rejection(typed.get({ params: {} as { id: string } }));
    expect(isWarrenError(error) && error.code).toBe('WARREN_INVALID_ARGUMENT');
    expect(() => route('GET,POST /x')).toThrow(/one method/);
    expect(() => serviceContract('users', { x: {} as never })).toThrow(/is not a route/);
  });
});

describe('buildUrl', () => {
  it('encodes each parameter as one segment and keeps a wildcard’s slashes', () => {
    expect(buildUrl('/users/:id', { id: 'a/b?c' }, undefined)).toBe('/users/a%2Fb%3Fc');
    expect(buildUrl('/n/:id(^\\d+)', { id: 12 }, undefined)).toBe('/n/12');
    expect(buildUrl('/files/*', { '*': 'a b/c' }, { v: true })).toBe('/files/a%20b/c?v=true');
    expect(buildUrl('/list', undefined, { tag: ['x', 'y'], empty: [] })).toBe('/list?tag=x&tag=y');
  });
});
