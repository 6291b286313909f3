// The orders service, a client of the other two: it checks the user and the products through
// the users and products services before it takes an order.
//   POST /orders          { userId, items: [{ productId, quantity }] } -> 201 with the order and
//                         its total; 404 unknown user or product, 409 not enough stock
//   GET /orders/:id       one order, or 404 ORDER_NOT_FOUND
//   GET /stats            responses of /orders/* by status, counted by an onResponse hook
// Each order taken is also broadcast through the WebSocket hub (over its hub.sock): `order` to
// the user's own stream user.<userId>, and `order` (a summary) to presence-shop, the channel of
// everyone watching the shop page.
import { isWarrenError } from 'warren/errors';
import { createBroadcaster } from 'warren/realtime';
import { defineService, reply, runService, ServiceClient } from 'warren/service';
import { z } from 'zod';
import { problem } from './data.mjs';

const NewOrder = z.object({
  userId: z.string().min(1),
  items: z.array(z.object({ productId: z.string().min(1), quantity: z.number().int().positive() })).min(1),
});

async function placeOrder({ body }, { deps, signal }) {
  const { userId, items } = body;
  // Passing the signal on: if this call times out or its caller goes away, these stop too.
  const user = await deps.users.get(`/users/${encodeURIComponent(userId)}`, { signal });
  if (user.status !== 200) return upstreamProblem('user', userId, user);
  const answers = await Promise.all(items.map((item) => deps.products.get(`/products/${encodeURIComponent(item.productId)}`, { signal })));

  const lines = [];
  for (const [i, { productId, quantity }] of items.entries()) {
    const answer = answers[i];
    if (answer.status !== 200) return upstreamProblem('product', productId, answer);
    const { name, priceCents, stock } = answer.body;
    // Checked, not reserved: each products instance has its own copy of the stock in memory.
    if (quantity > stock) return problem(409, 'OUT_OF_STOCK', `${quantity} × ${name} (${productId}) asked, ${stock} in stock`);
    lines.push({ productId, name, quantity, priceCents, subtotalCents: priceCents * quantity });
  }
  const order = {
    id: String(deps.orders.size + 1),
    userId,
    items: lines,
    totalCents: lines.reduce((sum, line) => sum + line.subtotalCents, 0),
  };
  deps.orders.set(order.id, order);
  // Fire-and-forget: the order is taken whether or not the hub is up (the broadcaster keeps a
  // bounded buffer while it is not, and drops broadcasts past it).
  deps.broadcaster.channel('user.{id}', { id: userId }).emit('order', order);
  deps.broadcaster.presenceChannel('shop').emit('order', {
    id: order.id,
    userId,
    totalCents: order.totalCents,
    items: lines.map(({ name, quantity }) => ({ name, quantity })),
  });
  return reply(201, order, { location: `/orders/${order.id}` });
}

/** 404 when the other service does not know the id; 502 when it failed otherwise. */
function upstreamProblem(what, id, answer) {
  if (answer.status === 404) return problem(404, `${what.toUpperCase()}_NOT_FOUND`, `no ${what} with id ${id}`);
  return problem(502, 'UPSTREAM_FAILED', `looking up ${what} ${id} failed with status ${answer.status}`);
}

const orders = defineService({
  name: 'orders',
  dependencies: () => {
    // Finds the other services in the same socket directory (WARREN_SOCKET_DIR) and uses the same token.
    const client = new ServiceClient({ name: 'orders' });
    return {
      client,
      users: client.service('users'),
      products: client.service('products'),
      // Reaches the hub through <WARREN_SOCKET_DIR>/hub.sock, with the same token.
      broadcaster: createBroadcaster(),
      orders: new Map(),
      statuses: {},
    };
  },
  onClose: async ({ client, broadcaster }) => {
    await broadcaster.close();
    await client.close();
  },
  routes: {
    'GET /stats': (_input, { deps }) => deps.statuses,
  },
  scopes: [
    {
      prefix: '/orders',
      // These hooks apply to the routes of this scope only.
      hooks: {
        onResponse: (_input, response, { deps }) => {
          deps.statuses[response.status] = (deps.statuses[response.status] ?? 0) + 1;
        },
        // users or products unreachable (no instance running, connection refused): say so, not a bare 500.
        onError: (error) => (isWarrenError(error) ? problem(503, 'UPSTREAM_UNAVAILABLE', error.message) : undefined),
      },
      routes: {
        'POST /': { schema: { body: NewOrder }, handler: placeOrder },
        'GET /:id': ({ params }, { deps }) =>
          deps.orders.get(params.id) ?? problem(404, 'ORDER_NOT_FOUND', `no order with id ${params.id}`),
      },
    },
  ],
});

await runService(orders);
