/**
 * Compile-time tests of service handlers: params typed from the route key, query and body
 * from the route's zod schemas, and a service implementing a contract with every handler
 * checked against it. Every `@ts-expect-error` below must find an error.
 */
import { expectTypeOf } from 'vitest';
import { z } from 'zod';
import { route, serviceContract } from '../../src/service/contract.js';
import { defineService, type Reply, type RouteInput, reply } from '../../src/service/define.js';

interface User {
  id: string;
  name: string;
}
const NewUser = z.object({ name: z.string(), email: z.string().optional() });
const Page = z.object({ limit: z.coerce.number().int(), after: z.string().optional() });

// ---- defineService({ routes }): handlers typed from keys and schemas ----------------------
defineService({
  name: 'users',
  dependencies: () => ({ db: new Map<string, User>() }),
  routes: {
    'GET /users/:id': ({ params, query, body }, { deps }) => {
      expectTypeOf(params).toEqualTypeOf<{ id: string }>();
      expectTypeOf(query).toEqualTypeOf<Record<string, string | string[]>>();
      expectTypeOf(body).toBeUnknown();
      return deps.db.get(params.id) ?? reply(404, 'no such user');
    },
    'GET /orders/:orderId/items/:n': ({ params }) => {
      expectTypeOf(params).toEqualTypeOf<{ orderId: string; n: string }>();
      return params.orderId + params.n;
    },
    'GET /files/*': ({ params }) => params['*'],
    'GET /users': {
      schema: { query: Page },
      handler: ({ query }) => {
        expectTypeOf(query).toEqualTypeOf<{ limit: number; after?: string | undefined }>();
        return query.limit;
      },
    },
    'POST /users': {
      schema: { body: NewUser },
      handler: ({ body, params }) => {
        expectTypeOf(body).toEqualTypeOf<{ name: string; email?: string | undefined }>();
        expectTypeOf(params).toEqualTypeOf<Record<never, string>>(); // no parameters to read
        return reply(201, body);
      },
    },
    'GET /n/:id': {
      public: true,
      schema: { params: z.object({ id: z.coerce.number() }) },
      handler: ({ params }) => {
        expectTypeOf(params).toEqualTypeOf<{ id: number }>();
        return params.id + 1;
      },
    },
  },
});

defineService({
  name: 'wrong',
  dependencies: () => ({ db: new Map<string, User>() }),
  routes: {
    // @ts-expect-error the key names the parameter id, not userId
    'GET /users/:id': ({ params }, { deps }) => deps.db.get(params.userId),
    'POST /users': {
      schema: { body: NewUser },
      // @ts-expect-error the body schema has no age
      handler: ({ body }) => body.age,
    },
    'GET /users': {
      schema: { query: Page },
      // @ts-expect-error limit is a number after the schema
      handler: ({ query }) => query.limit.toUpperCase(),
    },
    // @ts-expect-error without a schema the body is unknown
    'PUT /users/:id': ({ body }) => body.name,
  },
});

// Hooks, scopes and controllers keep the untyped input.
defineService({
  name: 'scoped',
  hooks: { onRequest: (input) => expectTypeOf(input).toEqualTypeOf<RouteInput>() },
  scopes: [{ prefix: '/v1', routes: { 'GET /x/:id': ({ params }) => params.id } }],
});

// ---- defineService(contract, { routes }): one contract types both sides ------------------
const usersApi = serviceContract('users', {
  list: route('GET /users', { query: Page }).returns<User[]>(),
  get: route('GET /users/:id').returns<User>(),
  create: route('POST /users', { body: NewUser, response: z.object({ id: z.string(), name: z.string() }) }),
  rename: route('PUT /users/:id/name').body<{ name: string }>().returns<User>(),
  remove: route('DELETE /users/:id'),
});

const implemented = defineService(usersApi, {
  dependencies: () => ({ db: new Map<string, User>() }),
  routes: {
    list: ({ query }, { deps }) => {
      expectTypeOf(query).toEqualTypeOf<{ limit: number; after?: string | undefined }>();
      return [...deps.db.values()].slice(0, query.limit);
    },
    get: ({ params }, { deps }) => {
      expectTypeOf(params).toEqualTypeOf<{ id: string }>();
      return deps.db.get(params.id) ?? reply(404, { error: { code: 'USER_NOT_FOUND', message: 'no such user' } });
    },
    create: {
      public: true,
      handler: async ({ body }) => {
        expectTypeOf(body).toEqualTypeOf<{ name: string; email?: string | undefined }>();
        return { id: '1', name: body.name };
      },
    },
    rename: ({ params, body }) => ({ id: params.id, name: body.name }),
    remove: () => undefined,
  },
});
expectTypeOf(implemented.name).toBeString();

defineService(usersApi, {
  routes: {
    list: () => [],
    // @ts-expect-error get answers a User, not a string
    get: () => 'Ada',
    // @ts-expect-error an async handler resolving to the wrong shape
    create: async () => ({ id: 1 }),
    // @ts-expect-error the contract's body has a name, not a title
    rename: ({ params, body }) => ({ id: params.id, name: body.title }),
    // @ts-expect-error the key names id only
    remove: ({ params }) => params.userId,
  },
});

// A reply is always allowed (another status); its body is not tied to the result type.
defineService(usersApi, {
  routes: {
    list: () => reply(503, 'later'),
    get: async (): Promise<User | Reply> => reply(404, 'none'),
    create: () => reply(201, { id: '1', name: 'x' }),
    rename: () => ({ id: '1', name: 'x' }),
    remove: () => undefined,
  },
});

defineService(usersApi, {
  // @ts-expect-error every contract route needs a handler (remove is missing)
  routes: {
    list: () => [],
    get: () => ({ id: '1', name: 'x' }),
    create: () => ({ id: '1', name: 'x' }),
    rename: () => ({ id: '1', name: 'x' }),
  },
});

defineService(usersApi, {
  routes: {
    list: () => [],
    get: () => ({ id: '1', name: 'x' }),
    create: () => ({ id: '1', name: 'x' }),
    rename: () => ({ id: '1', name: 'x' }),
    remove: () => undefined,
    // @ts-expect-error a name that is not in the contract
    extra: () => 1,
  },
});

// Type arguments given explicitly turn inference off: the handlers get the untyped input, as before.
defineService<{ db: Map<string, User> }>({
  name: 'explicit',
  dependencies: () => ({ db: new Map<string, User>() }),
  routes: {
    'GET /users/:id': ({ params, body }, { deps }) => {
      expectTypeOf(params).toEqualTypeOf<Record<string, string>>();
      expectTypeOf(body).toBeUnknown();
      return deps.db.get(params.id ?? '');
    },
  },
});
