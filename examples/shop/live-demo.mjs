// What the live page (public/index.html) does, from Node, for start.mjs to show in a terminal:
// a session token from the web service, a WebSocket through the gateway's /ws to the hub, the
// presence channel presence-shop joined with a channel token, then an order placed over HTTP and
// its two broadcasts seen arriving (user.<id> and presence-shop).
import { connect } from 'warren/client';
import WebSocket from 'ws';

/**
 * Runs the demo against the gateway at `base` (http://host:port) and prints each step with
 * `say`. Resolves with true when both broadcasts arrived within `timeoutMs`.
 */
export async function liveDemo(base, say, timeoutMs) {
  const post = async (path, body) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: await res.json() };
  };
  const userId = '2';
  const session = await post('/session', { userId });
  say(`POST ${base}/session {"userId":"${userId}"}: HTTP ${session.status}, a user token for ${session.body.name ?? '?'}`);
  if (session.status !== 200) return false;

  const url = `${base.replace(/^http/, 'ws')}/ws`;
  // Node 20 has no global WebSocket: the client takes ws's.
  const client = connect(url, { token: session.body.token, WebSocket, reconnect: false });
  const seen = [];
  let arrived;
  const both = new Promise((resolve) => {
    arrived = resolve;
  });
  const note = (channel, order) => {
    seen.push(channel);
    say(`live, on ${channel}: order ${order.id}, ${order.totalCents} cents`);
    if (seen.length === 2) arrived(true);
  };
  const timer = setTimeout(() => arrived(false), timeoutMs);
  try {
    const shop = client.subscribe('presence-shop', {
      token: async ({ connectionId, channel }) =>
        (await post('/session/channel-token', { userToken: session.body.token, connectionId, channel })).body.token,
    });
    client.on('order', (order, message) => {
      if (message.channel === `user.${userId}`) note(message.channel, order);
    });
    shop.on('order', (order) => note('presence-shop', order));
    await Promise.race([shop.ready, both]);
    if (shop.state !== 'subscribed') return false;
    say(
      `connected through ${url} as user ${client.userId}; joined presence-shop, watching: ${shop
        .members()
        .map((m) => m.userId)
        .join(', ')}`,
    );

    const order = await post('/orders', { userId, items: [{ productId: 'p3', quantity: 1 }] });
    say(`POST ${base}/orders: HTTP ${order.status}, order ${order.body.id}`);
    return order.status === 201 && (await both);
  } catch (error) {
    say(`the live demo failed: ${error.message}`);
    return false;
  } finally {
    clearTimeout(timer);
    client.close();
  }
}
