/**
 * Compile-time tests of typed service contracts: every `@ts-expect-error` below must find an
 * error, so a wrong param, body or result type that compiles fails the typecheck.
 */
import { expectTypeOf } from 'vitest';
import { z } from 'zod';
import type { ServiceClient } from '../../src/service/client.js';
import { type PathParamNames, route, serviceContract } from '../../src/service/contract.js';

interface User {
  id: string;
  name: string;
}
const NewOrder = z.object({ userId: z.string(), items: z.array(z.object({ productId: z.string(), quantity: z.number().int() })) });
const Order = z.object({ id: z.string(), total: z.number() });

const usersApi = serviceContract('users', {
  list: route('GET /users').returns<User[]>(),
  get: route('GET /users/:id').returns<User>(),
  rename: route('PUT /users/:id/name').body<{ name: string }>().returns<User>(),
  item: route('GET /orders/:orderId/items/:n'),
  file: route('GET /files/*'),
});
const ordersApi = serviceContract('orders', { create: route('POST /orders', { body: NewOrder, response: Order }) });

expectTypeOf<PathParamNames<'/users/:id'>>().toEqualTypeOf<'id'>();
expectTypeOf<PathParamNames<'/a/:x/b/:y'>>().toEqualTypeOf<'x' | 'y'>();
expectTypeOf<PathParamNames<'/n/:id(^\\d+)'>>().toEqualTypeOf<'id'>();
expectTypeOf<PathParamNames<'/static/*'>>().toEqualTypeOf<'*'>();
expectTypeOf<PathParamNames<'/plain'>>().toBeNever();

export async function neverCalled(client: ServiceClient): Promise<void> {
  const users = client.service(usersApi);
  expectTypeOf(await users.list()).toEqualTypeOf<User[]>();
  expectTypeOf(await users.get({ params: { id: '42' } })).toEqualTypeOf<User>();
  expectTypeOf(await users.get({ params: { id: 42 }, query: { fields: ['name', 'id'] } })).toEqualTypeOf<User>();
  expectTypeOf(await users.rename({ params: { id: '1' }, body: { name: 'Ada' } })).toEqualTypeOf<User>();
  expectTypeOf(await users.item({ params: { orderId: 'o1', n: 2 } })).toEqualTypeOf<unknown>();
  await users.file({ params: { '*': 'a/b.txt' } });

  const orders = client.service(ordersApi);
  const order = await orders.create({ body: { userId: 'u1', items: [{ productId: 'p1', quantity: 2 }] } });
  expectTypeOf(order).toEqualTypeOf<{ id: string; total: number }>();

  // @ts-expect-error a route with a path parameter needs its params
  await users.get();
  // @ts-expect-error the parameter is called id
  await users.get({ params: { userId: '42' } });
  // @ts-expect-error both parameters are needed
  await users.item({ params: { orderId: 'o1' } });
  // @ts-expect-error the body is required and typed
  await users.rename({ params: { id: '1' } });
  // @ts-expect-error the body's name is a string
  await users.rename({ params: { id: '1' }, body: { name: 7 } });
  // @ts-expect-error the zod schema types the body
  await orders.create({ body: { userId: 'u1', items: [{ productId: 'p1', quantity: '2' }] } });
  // @ts-expect-error no such route in the contract
  await users.remove({ params: { id: '1' } });
  // @ts-expect-error the result is a User, not a string
  const wrong: string = await users.get({ params: { id: '42' } });
  void wrong;
  // The untyped handle is still there by name.
  expectTypeOf(client.service('users').get).toBeFunction();
}

const pagedApi = serviceContract('paged', {
  page: route('GET /items', { query: z.object({ limit: z.coerce.number().int(), after: z.string().optional() }) }),
  search: route('GET /search', { query: z.object({ q: z.string().optional() }) }),
});

export async function queries(client: ServiceClient): Promise<void> {
  const paged = client.service(pagedApi);
  await paged.page({ query: { limit: 10 } });
  await paged.page({ query: { limit: '10', after: 'x' } });
  await paged.search();
  await paged.search({ query: { q: 'tea' } });
  // @ts-expect-error the query schema requires limit
  await paged.page();
  // @ts-expect-error the query schema has no name limt
  await paged.page({ query: { limt: 10 } });
  // @ts-expect-error after is a string
  await paged.page({ query: { limit: 1, after: 2 } });
  // @ts-expect-error q is a string
  await paged.search({ query: { q: ['a', 1] } });
}
