/**
 * The shop, live (examples/shop): `warren up examples/shop` runs the services, the hub and the
 * gateway, which serves the live page and forwards /ws to the hub on the same port. Node `ws`
 * clients and then Debian's Chromium (playwright-core) open it through the gateway, see who
 * watches (presence-shop) and see an order placed over HTTP arrive live, on user.<id> and on
 * presence-shop. Needs the build (dist/) and /usr/bin/chromium.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, type WarrenClient } from '../../src/client/index.js';
import { refusedHandshake } from '../realtime/helpers.js';
import { useCli } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/until.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const TEST_TIMEOUT_MS = 120_000;
const WAIT = { timeoutMs: 45_000 };

const { run, workDir } = useCli();
const clients: WarrenClient[] = [];
let browser: Browser | undefined;

beforeAll(() => {
  if (!existsSync(`${ROOT}dist/cli/main.js`)) throw new Error('the shop runs the built CLI and warren/*: run `npm run build` first');
});
afterAll(async () => {
  for (const client of clients.splice(0)) client.close();
  await browser?.close();
});

/** The shop through `warren up --detach`, on free ports; resolves once the gateway serves the page. */
async function startShop(): Promise<{ base: string; socketDir: string }> {
  const { socketDir } = workDir('wsl-');
  const [httpPort, wsPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${httpPort}`;
  const up = await run(['up', 'examples/shop', '--detach', '--socket-dir', socketDir], {
    cwd: ROOT,
    env: {
      HTTP_PORT: String(httpPort),
      WS_PORT: String(wsPort),
      WS_AUTH_SECRET: 'a-test-secret-of-the-hub-users',
      WS_CHANNEL_SECRET: 'a-test-secret-of-the-channels!',
      WS_ALLOWED_ORIGINS: base,
    },
  });
  expect(up.code, up.stdout + up.stderr).toBe(0);
  expect(up.stdout).toContain('7 of 7 instances online (users 1/1, products 2/2, orders 1/1, web 1/1, hub 1/1, gateway 1/1)');
  await until(async () => (await fetch(`${base}/`).catch(() => undefined))?.status === 200, { ...WAIT, message: 'the page' });
  return { base, socketDir };
}

async function post(base: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A Node client of the page's kind: a session token, the gateway's /ws, presence-shop joined with a channel token. */
async function watcher(base: string, userId: string) {
  const session = await post(base, '/session', { userId });
  expect(session.status).toBe(200);
  const token = session.body.token as string;
  const client = connect(`${base.replace('http', 'ws')}/ws`, { token, WebSocket, reconnect: false });
  clients.push(client);
  const shop = client.subscribe('presence-shop', {
    token: async ({ connectionId, channel }) =>
      (await post(base, '/session/channel-token', { userToken: token, connectionId, channel })).body.token as string,
  });
  const own: unknown[] = [];
  const shopOrders: unknown[] = [];
  client.on('order', (order, message) => {
    if (message.channel === `user.${userId}`) own.push(order);
  });
  shop.on('order', (order) => shopOrders.push(order));
  await shop.ready;
  return { client, shop, token, own, shopOrders };
}

describe('the shop, live', () => {
  it(
    'the gateway serves the page and the client bundle; Node clients through its /ws see each other and an order arrive live',
    async () => {
      const { base } = await startShop();
      const page = await fetch(`${base}/`);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await page.text()).toContain('<script type="module" src="/shop.js"></script>');
      const bundle = await fetch(`${base}/warren-client.browser.js`);
      expect(bundle.status).toBe(200);
      expect(bundle.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(await bundle.text()).toContain('warren.msgpack');

      const ada = await watcher(base, '1');
      const grace = await watcher(base, '2');
      await until(() => ada.shop.members().length === 2, { ...WAIT, message: 'ada to see grace join' });
      expect(
        ada.shop
          .members()
          .map((m) => m.userId)
          .sort(),
      ).toEqual(['1', '2']);

      const order = await post(base, '/orders', { userId: '2', items: [{ productId: 'p2', quantity: 2 }] });
      expect(order.status).toBe(201);
      await until(() => grace.own.length === 1 && ada.shopOrders.length === 1 && grace.shopOrders.length === 1, {
        ...WAIT,
        message: 'the order on user.2 and on presence-shop',
      });
      expect(grace.own[0]).toEqual(order.body);
      expect(ada.shopOrders[0]).toEqual({ id: order.body.id, userId: '2', totalCents: 2 * 899, items: [{ name: 'Mug', quantity: 2 }] });
      // user.2 is grace's own: ada's connection never gets it.
      expect(ada.own).toEqual([]);

      // What the hub decides, it decides through the gateway too.
      expect((await refusedHandshake(`${base.replace('http', 'ws')}/ws`, { headers: { Origin: 'http://evil.example' } })).status).toBe(403);
      const other = await post(base, '/session/channel-token', { userToken: ada.token, connectionId: 'x', channel: 'presence-admin' });
      expect(other).toMatchObject({ status: 403, body: { error: { code: 'CHANNEL_NOT_ALLOWED' } } });
      grace.client.close();
      await until(() => ada.shop.members().length === 1, { ...WAIT, message: 'ada to see grace leave' });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'in Chromium: two pages as two users see each other watch, and an order placed from one arrives live on both',
    async () => {
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
      const { base } = await startShop();
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      const context = await browser.newContext();
      const [ada, alan] = [await context.newPage(), await context.newPage()];
      const errors: string[] = [];
      for (const page of [ada, alan]) page.on('pageerror', (error) => errors.push(error.message));
      await ada.goto(`${base}/?user=1`);
      await alan.goto(`${base}/?user=3`);
      const watchers = (page: typeof ada) => page.$$eval('#watchers li', (items) => items.map((li) => li.getAttribute('data-user')).sort());
      await until(async () => (await watchers(ada)).join() === '1,3' && (await watchers(alan)).join() === '1,3', {
        ...WAIT,
        message: () => `both pages to list users 1 and 3 as watchers (errors: ${errors.join('; ')})`,
      });
      expect(await ada.textContent('#watchers')).toContain('Alan Turing');
      expect(await ada.textContent('#state')).toBe('open');

      // Ada orders two tea towels from the page's form: the request goes through the gateway.
      await ada.selectOption('#product', 'p3');
      await ada.fill('#quantity', '2');
      await ada.click('#order-form button');
      const line = '#shop-orders li';
      await until(async () => (await alan.$(line)) !== null && (await ada.$('#my-orders li')) !== null, {
        ...WAIT,
        message: () => `the order on alan's shop list and on ada's own (errors: ${errors.join('; ')})`,
      });
      expect(await alan.textContent(line)).toBe('Ada Lovelace ordered 2 × Tea towel (13.00)');
      expect(await ada.textContent('#my-orders li')).toMatch(/^order \d+: 13\.00$/);
      expect(await alan.$('#my-orders li')).toBeNull();
      expect(errors).toEqual([]);
      await context.close();
    },
    TEST_TIMEOUT_MS,
  );
});
