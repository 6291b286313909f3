// The live shop page: joins presence-shop through the gateway's /ws (the same origin that served
// this page), lists who watches, and shows orders as the orders service broadcasts them.
// ?user=<id> picks the seed user (1, 2 or 3); there is no login in this demo.
import { connect } from '/warren-client.browser.js';

const $ = (id) => document.getElementById(id);
const userId = new URLSearchParams(location.search).get('user') ?? '1';
const euros = (cents) => `${(cents / 100).toFixed(2)}`;

/** A JSON request to the shop through the gateway; rejects with the error's message. */
async function call(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await res.json();
  if (!res.ok) throw new Error(answer.error?.message ?? `HTTP ${res.status}`);
  return answer;
}

function item(list, text, attributes = {}) {
  const li = document.createElement('li');
  li.textContent = text;
  for (const [name, value] of Object.entries(attributes)) li.setAttribute(name, value);
  list.prepend(li);
}

const [users, products] = await Promise.all([call('GET', '/users'), call('GET', '/products')]);
const nameOf = (id) => users.find((user) => user.id === id)?.name ?? `user ${id}`;
for (const user of users) $('user').add(new Option(user.name, user.id, false, user.id === userId));
$('user').addEventListener('change', (event) => {
  location.search = `?user=${encodeURIComponent(event.target.value)}`;
});
for (const product of products) $('product').add(new Option(`${product.name} (${euros(product.priceCents)})`, product.id));
$('me').textContent = userId;

// A user token for the hub (who this connection is), then the connection through the gateway.
const session = await call('POST', '/session', { userId }).catch((error) => {
  $('error').textContent = `no session: ${error.message}`;
  throw error;
});
const client = connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, { token: session.token });
client.on('state', (state) => {
  $('state').textContent = state;
});

// presence-shop needs a channel token, signed for this connection (a new one on each reconnect).
const shop = client.subscribe('presence-shop', {
  token: async ({ connectionId, channel }) =>
    (await call('POST', '/session/channel-token', { userToken: session.token, connectionId, channel })).token,
});
shop.on('members', (members) => {
  $('watchers').replaceChildren();
  for (const member of members) item($('watchers'), nameOf(member.userId), { 'data-user': member.userId });
});
shop.on('order', (order) => {
  const what = order.items.map((line) => `${line.quantity} × ${line.name}`).join(', ');
  item($('shop-orders'), `${nameOf(order.userId)} ordered ${what} (${euros(order.totalCents)})`, { 'data-order': order.id });
});
// The user's own stream, user.<id>: every connection of this user gets it without subscribing.
client.on('order', (order, message) => {
  if (message.channel !== `user.${userId}`) return;
  item($('my-orders'), `order ${order.id}: ${euros(order.totalCents)}`, { 'data-order': order.id });
});

$('order-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('error').textContent = '';
  try {
    await call('POST', '/orders', { userId, items: [{ productId: $('product').value, quantity: Number($('quantity').value) }] });
  } catch (error) {
    $('error').textContent = error.message;
  }
});
await shop.ready;
document.body.dataset.ready = 'true';
