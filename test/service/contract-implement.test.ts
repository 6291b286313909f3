import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isWarrenError } from '../../src/errors.js';
import { route, ServiceCallError, serviceContract } from '../../src/service/contract.js';
import { defineService, reply } from '../../src/service/define.js';
import { serviceCleanup } from '../support/service-cleanup.js';

const { serveAndConnect } = serviceCleanup();

interface User {
  id: string;
  name: string;
}
const NewUser = z.object({ name: z.string().min(1) });
const Page = z.object({ limit: z.coerce.number().int().positive() });

const usersApi = serviceContract('users', {
  list: route('GET /users', { query: Page }).returns<User[]>(),
  get: route('GET /users/:id').returns<User>(),
  limit: route('GET /limit', { query: Page }).returns<{ limit: number }>(),
  create: route('POST /users', { body: NewUser, response: z.object({ id: z.string(), name: z.string() }) }),
});

const users = defineService(usersApi, {
  dependencies: () => ({
    db: new Map<string, User>([
      ['1', { id: '1', name: 'Ada' }],
      ['2', { id: '2', name: 'Grace' }],
    ]),
  }),
  routes: {
    // query.limit is a number here: the contract's query schema ran on the service side.
    list: ({ query }, { deps }) => [...deps.db.values()].slice(0, query.limit),
    limit: ({ query }) => ({ limit: query.limit }),
    get: ({ params }, { deps }) =>
      deps.db.get(params.id) ?? reply(404, { error: { code: 'USER_NOT_FOUND', message: `no user ${params.id}` } }),
    create: {
      public: true,
      handler: ({ body }, { deps }) => {
        const user = { id: String(deps.db.size + 1), name: body.name };
        deps.db.set(user.id, user);
        return reply(201, user);
      },
    },
  },
});

async function setup() {
  return serveAndConnect(users);
}

describe('defineService(contract, input)', () => {
  it('serves the contract under its name, with its route keys', async () => {
    expect(users.name).toBe('users');
    expect(users.routes.map((r) => r.key).sort()).toEqual(['GET /limit', 'GET /users', 'GET /users/:id', 'POST /users']);
    const api = (await setup()).service(usersApi);
    expect(await api.get({ params: { id: '2' } })).toEqual({ id: '2', name: 'Grace' });
    expect(await api.list({ query: { limit: 1 } })).toEqual([{ id: '1', name: 'Ada' }]);
    // The handler got the query schema's output: a number, not the string of the url.
    expect(await api.limit({ query: { limit: '2' } })).toEqual({ limit: 2 });
    expect(await api.create({ body: { name: 'Edsger' } })).toEqual({ id: '3', name: 'Edsger' });
    const missing = await api.get({ params: { id: '9' } }).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(ServiceCallError);
    expect((missing as ServiceCallError).status).toBe(404);
    expect((missing as ServiceCallError).code).toBe('USER_NOT_FOUND');
  });

  it("validates requests with the contract's body and query schemas on the service side", async () => {
    const handle = (await setup()).service('users');
    // The untyped handle bypasses the caller's checks: the service itself must refuse.
    const badBody = await handle.post('/users', { name: '' });
    expect(badBody.status).toBe(400);
    expect(JSON.stringify(badBody.body)).toContain('name');
    const badQuery = await handle.get('/users?limit=zero');
    expect(badQuery.status).toBe(400);
    expect(JSON.stringify(badQuery.body)).toContain('limit');
    const noQuery = await handle.get('/users');
    expect(noQuery.status).toBe(400);
  });

  it('keeps the route options given with a handler and takes the schemas from the contract', () => {
    const byKey = new Map(users.routes.map((r) => [r.key, r]));
    expect(byKey.get('POST /users')?.public).toBe(true);
    expect(byKey.get('GET /users/:id')?.public).toBe(false);
    expect(byKey.get('POST /users')?.schema?.body).toBe(NewUser);
  });

  it('refuses a contract route without a handler, and a handler for no contract route', () => {
    const refused = (input: unknown) => {
      try {
        defineService(usersApi, input as never);
        return undefined;
      } catch (error) {
        return error;
      }
    };
    const missing = refused({ routes: { list: () => [], get: () => null, limit: () => null } });
    expect(isWarrenError(missing) && missing.code).toBe('WARREN_INVALID_ARGUMENT');
    expect((missing as Error).message).toContain("contract route 'create' (POST /users) has no handler");
    const extra = refused({ routes: { list: () => [], get: () => null, limit: () => null, create: () => null, drop: () => null } });
    expect((extra as Error).message).toContain("'drop' is not a route of the contract");
    expect((refused({}) as Error).message).toContain('routes must map each contract route name');
  });
});
