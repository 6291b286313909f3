/**
 * A consumer project's code, type-checked against the packed package by
 * test/packaging/consumer.test.ts (strictest settings, skipLibCheck off). It is never run.
 * Every `@ts-expect-error` must find an error: a wrong type that compiles fails the test.
 */
import { defineConfig as defineRootConfig } from 'warren';
import { method, type Peer } from 'warren/peer';
import { defineService, reply, route, ServiceCallError, type ServiceClient, serviceContract } from 'warren/service';
import { defineConfig, type WarrenConfig } from 'warren/supervisor';
import { z } from 'zod';

interface User {
  id: string;
  name: string;
}
const NewUser = z.object({ name: z.string().min(1) });
const Page = z.object({ limit: z.coerce.number().int() });

export const usersApi = serviceContract('users', {
  list: route('GET /users').returns<User[]>(),
  page: route('GET /users/page', { query: Page }).returns<User[]>(),
  get: route('GET /users/:id').returns<User>(),
  create: route('POST /users', { body: NewUser, response: z.object({ id: z.string(), name: z.string() }) }),
  rename: route('PUT /users/:id/name').body<{ name: string }>().returns<User>(),
});

// ---- the calling side ------------------------------------------------------------------------
export async function caller(client: ServiceClient): Promise<string> {
  const users = client.service(usersApi);
  const all: User[] = await users.list();
  const ada: User = await users.get({ params: { id: '42' } });
  const byNumber: User = await users.get({ params: { id: 42 }, query: { fields: ['name'] }, timeout: 1_000 });
  const created: { id: string; name: string } = await users.create({ body: { name: 'Grace' } });
  const renamed: User = await users.rename({ params: { id: '1' }, body: { name: 'Ada' } });
  const page: User[] = await users.page({ query: { limit: 10 } });
  try {
    await users.get({ params: { id: 'x' } });
  } catch (error) {
    if (error instanceof ServiceCallError) return `${error.status} ${error.code}`;
  }
  const raw = await client.service('users').get('/users/42');

  // @ts-expect-error a route with a path parameter needs its params
  await users.get();
  // @ts-expect-error the parameter is called id
  await users.get({ params: { userId: '42' } });
  // @ts-expect-error the body is required
  await users.rename({ params: { id: '1' } });
  // @ts-expect-error the zod schema types the body
  await users.create({ body: { name: 1 } });
  // @ts-expect-error the query schema names limit
  await users.page({ query: { limt: 10 } });
  // @ts-expect-error the result is a User
  const wrong: string = await users.get({ params: { id: '42' } });
  return [all.length, ada.name, byNumber.id, created.id, renamed.name, page.length, raw.status, wrong].join();
}

// ---- the serving side: route handlers typed from keys and schemas ------------------------------
export const plain = defineService({
  name: 'plain',
  dependencies: () => ({ db: new Map<string, User>() }),
  routes: {
    'GET /users/:id': ({ params }, { deps }) => deps.db.get(params.id) ?? reply(404, 'no such user'),
    'POST /users': { schema: { body: NewUser }, handler: ({ body }) => reply(201, { name: body.name }) },
    'GET /health': { public: true, handler: () => 'ok' },
    // @ts-expect-error the key names id, not userId
    'DELETE /users/:id': ({ params }) => params.userId,
  },
});

// ---- the serving side: one contract types both sides -----------------------------------------
export const implemented = defineService(usersApi, {
  dependencies: () => ({ db: new Map<string, User>() }),
  routes: {
    list: (_input, { deps }) => [...deps.db.values()],
    page: ({ query }, { deps }) => [...deps.db.values()].slice(0, query.limit),
    get: ({ params }, { deps }) => deps.db.get(params.id) ?? reply(404, { error: { code: 'USER_NOT_FOUND', message: 'none' } }),
    create: async ({ body }) => ({ id: '1', name: body.name }),
    // @ts-expect-error rename answers a User: a number is not one
    rename: () => 42,
  },
});

// ---- the peer ---------------------------------------------------------------------------------
const add = method<{ a: number; b: number }, number>('math.add');

export async function peers(server: Peer, client: Peer): Promise<number> {
  server.onRequest(add, ({ a, b }) => a + b);
  const sum: number = await client.request(add, { a: 1, b: 2 }, { timeout: 1_000 });
  // @ts-expect-error a param of the wrong type
  await client.request(add, { a: '1', b: 2 });
  return sum;
}

// A typed warren.config.ts, from either entry point.
export const config = defineConfig({ services: [{ name: 'users', entry: './users.ts', instances: 2 }] });
export const sameConfig: WarrenConfig = defineRootConfig({ services: [{ name: 'users', entry: './users.ts' }] });
// @ts-expect-error an unknown service key is a compile error
defineConfig({ services: [{ name: 'users', entry: './users.ts', instancse: 2 }] });
