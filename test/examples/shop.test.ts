/**
 * The shop example (examples/shop): `node examples/shop/start.mjs` run as a user would, with and
 * without --keep; then the three services started by the test and called with ServiceClient.
 * The services import the built `warren/service`: run `npm run build` first (npm test does).
 */
import { type ChildProcess, execFile, fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServiceClient } from '../../src/service/index.js';
import { freePort } from '../support/ports.js';
import { isGone } from '../support/processes.js';
import { until } from '../support/until.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOP = join(ROOT, 'examples/shop');
const CLI = join(ROOT, 'dist/cli/main.js');
const TEST_TIMEOUT_MS = 60_000;
// Below the test timeout, so that a hang fails with the output so far.
const WAIT_TIMEOUT_MS = 45_000;

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/service/index.js'))) {
    throw new Error("the shop imports 'warren/service' from dist/: run `npm run build` first (npm test does)");
  }
});

/** SIGKILLs a pid (a process group when negative) if it is still there. */
function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** What every process started by a test is killed with afterwards, whatever happened. */
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// ---------------------------------------------------------------------------------------------
// start.mjs

interface Launched {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first match of `pattern` in stdout (or stderr); rejects if the script exits first. */
  waitFor: (pattern: RegExp, stream?: 'stdout' | 'stderr') => Promise<RegExpExecArray>;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Instance pids in the `warren status` table that start.mjs prints ("products   1  123  online ..."). */
function servicePids(stdout: string): Map<string, number> {
  return new Map(
    [...stdout.matchAll(/^(users|products|orders|web|hub|gateway) +(\d+) +(\d+) +online /gm)].map((m) => [`${m[1]}.${m[2]}`, Number(m[3])]),
  );
}

/** The background supervisor's pid, as `warren up --detach` printed it. */
function supervisorPid(stdout: string): number | undefined {
  const pid = /^supervisor pid (\d+) in the background/m.exec(stdout)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

function launchStart(args: string[] = [], port = 0, wsPort = 0): Launched {
  // Detached: start.mjs leads its own process group, so that a hang can be killed whole.
  const child = spawn(process.execPath, [join(SHOP, 'start.mjs'), ...args], {
    cwd: ROOT,
    // The hub on a port of its own too (6001 may be taken by another test's).
    env: { ...process.env, HTTP_PORT: String(port), WS_PORT: String(wsPort) },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const collect = (stream: 'stdout' | 'stderr') => (text: string) => {
    out[stream] += text;
    for (const listener of listeners) listener();
  };
  child.stdout?.setEncoding('utf8').on('data', collect('stdout'));
  child.stderr?.setEncoding('utf8').on('data', collect('stderr'));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': by then both streams have been read to the end.
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  cleanups.push(() => {
    // The supervisor and its instances run in process groups of their own: kill them by pid.
    const pid = supervisorPid(out.stdout);
    if (pid !== undefined) killQuietly(pid);
    for (const instance of servicePids(out.stdout).values()) killQuietly(instance);
    if (child.pid !== undefined) killQuietly(-child.pid);
  });
  const context = () => `--- stdout\n${out.stdout}\n--- stderr\n${out.stderr}`;
  const waitFor = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout') =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no ${pattern} within ${WAIT_TIMEOUT_MS} ms\n${context()}`)), WAIT_TIMEOUT_MS);
      const check = () => {
        const match = pattern.exec(out[stream]);
        if (match) done(undefined, match);
      };
      const done = (error?: Error, match?: RegExpExecArray) => {
        clearTimeout(timer);
        listeners.delete(check);
        if (match) resolve(match);
        else reject(error);
      };
      listeners.add(check);
      void closed.then(() => done(new Error(`start.mjs exited before printing ${pattern}\n${context()}`)));
      check();
    });
  return { child, stdout: () => out.stdout, stderr: () => out.stderr, waitFor, closed };
}

/** Waits for start.mjs to exit by itself, failing with its output if it takes too long. */
async function finished(run: Launched): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`start.mjs did not exit within ${WAIT_TIMEOUT_MS} ms\n--- stdout\n${run.stdout()}\n--- stderr\n${run.stderr()}`)),
      WAIT_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([run.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface PrintedCall {
  title: string;
  command: string;
  status: string;
  headers: Record<string, string>;
  body: unknown;
  exitCode: number;
}

/** The `warren call`s in start.mjs's output: "# title", "$ command", the response, "(exit code N)". */
function parseCalls(stdout: string): PrintedCall[] {
  const calls: PrintedCall[] = [];
  for (const block of stdout.split('\n# ').slice(1)) {
    const lines = block.split('\n');
    if (!/^\$ node \S+ call /.test(lines[1] ?? '')) continue;
    const end = lines.findIndex((line) => /^\(exit code \d+\)$/.test(line));
    expect(end, `no exit code line in\n${block}`).toBeGreaterThan(2);
    const [title = '', command = '', status = ''] = lines;
    const blank = lines.indexOf('', 3);
    const headerLines = lines.slice(3, blank === -1 || blank > end ? end : blank);
    const bodyText = blank === -1 || blank > end ? '' : lines.slice(blank + 1, end).join('\n');
    calls.push({
      title,
      command,
      status,
      headers: Object.fromEntries(headerLines.map((line) => line.split(': ', 2) as [string, string])),
      body: bodyText === '' ? undefined : JSON.parse(bodyText),
      exitCode: Number(/\d+/.exec(lines[end] as string)?.[0]),
    });
  }
  return calls;
}

describe('examples/shop/start.mjs', () => {
  it(
    'starts the services, the hub and the gateway, makes seven real `warren call`s, four HTTP calls and a live WebSocket order through the gateway, stops everything and exits 0',
    async () => {
      const port = await freePort();
      const run = launchStart([], port, await freePort());
      const { code, signal } = await finished(run);
      const stdout = run.stdout();
      const context = `--- stdout\n${stdout}\n--- stderr\n${run.stderr()}`;
      expect(signal, context).toBeNull();
      expect(code, context).toBe(0);
      expect(run.stderr(), 'nothing on stderr: no service wrote anything, no call failed').toBe('');

      const dir = /^socket directory (\S+) \(mode 0700\)$/m.exec(stdout)?.[1] as string;
      expect(dir, context).toMatch(/warren-shop-/);
      expect(existsSync(dir), 'the socket directory is removed').toBe(false);
      expect(stdout).toContain(`removed ${dir}`);

      // Started through `warren up --detach`, shown by `warren status`, stopped by `warren stop`.
      expect(stdout).toContain(`$ node dist/cli/main.js up examples/shop --detach --socket-dir ${dir}`);
      expect(stdout).toContain(
        `7 of 7 instances online (users 1/1, products 2/2, orders 1/1, web 1/1, hub 1/1, gateway 1/1); socket directory ${dir}`,
      );
      const supervisor = supervisorPid(stdout);
      expect(supervisor, context).toBeGreaterThan(0);
      expect(stdout).toMatch(new RegExp(`^supervisor ${supervisor} running on ${dir}, up \\d+s`, 'm'));
      const pids = servicePids(stdout);
      expect([...pids.keys()].sort()).toEqual(['gateway.0', 'hub.0', 'orders.0', 'products.0', 'products.1', 'users.0', 'web.0']);
      expect(new Set(pids.values()).size).toBe(7);

      // The same services over HTTP through the gateway: a listing, an order, a 404, a 400.
      const curls = [...stdout.matchAll(/^\$ curl .*(http:\/\/127\.0\.0\.1:(\d+)\S*)\nHTTP (\d+) \(x-request-id: [0-9a-f-]{36}\)$/gm)];
      expect(curls.map((m) => [m[2], m[3]])).toEqual([
        [String(port), '200'],
        [String(port), '201'],
        [String(port), '404'],
        [String(port), '400'],
      ]);
      // An order seen arriving over a WebSocket through the gateway's /ws, on both channels.
      expect(stdout).toContain(`connected through ws://127.0.0.1:${port}/ws as user 2; joined presence-shop, watching: 2`);
      expect(stdout).toMatch(/^live, on user\.2: order 3, 650 cents$/m);
      expect(stdout).toMatch(/^live, on presence-shop: order 3, 650 cents$/m);
      expect(stdout).toContain(`The live page: http://127.0.0.1:${port}/ `);
      expect(stdout).toContain(`$ node dist/cli/main.js stop --socket-dir ${dir}`);
      expect(stdout).toMatch(/^stopped after \d+(\.\d+)?s$/m);
      expect(isGone(supervisor as number), 'the supervisor outlived start.mjs').toBe(true);
      for (const [name, pid] of pids) expect(isGone(pid), `${name} (pid ${pid}) outlived start.mjs`).toBe(true);

      const calls = parseCalls(stdout);
      expect(calls.map((call) => [call.status, call.exitCode])).toEqual([
        ['200 OK', 0],
        ['200 OK', 0],
        ['201 Created', 0],
        ['404 Not Found', 1],
        ['409 Conflict', 1],
        ['400 Bad Request', 1],
        ['200 OK', 0],
      ]);
      for (const call of calls) {
        expect(call.command).toMatch(/^\$ node dist\/cli\/main\.js call (users|products|orders) (GET|POST) \S+ /);
        expect(call.command.endsWith(` --socket-dir ${dir}`)).toBe(true);
      }
      const [products, user, order, unknownUser, tooMany, invalid, stats] = calls;

      expect(products?.command).toContain("products GET '/products?maxPrice=1000'");
      expect(products?.headers['x-served-by']).toMatch(/^products\.[01]$/);
      expect(products?.body).toEqual([
        { id: 'p2', name: 'Mug', priceCents: 899, stock: 40 },
        { id: 'p3', name: 'Tea towel', priceCents: 650, stock: 12 },
      ]);
      expect(user?.body).toEqual({ id: '1', name: 'Ada Lovelace', email: 'ada@example.org' });

      // The total comes from the prices that products gave orders: 2 × 2499 + 3 × 899.
      expect(order?.headers).toEqual({ location: '/orders/1' });
      expect(order?.body).toEqual({
        id: '1',
        userId: '1',
        items: [
          { productId: 'p1', name: 'Teapot', quantity: 2, priceCents: 2499, subtotalCents: 4998 },
          { productId: 'p2', name: 'Mug', quantity: 3, priceCents: 899, subtotalCents: 2697 },
        ],
        totalCents: 7695,
      });

      expect(unknownUser?.body).toEqual({ error: { code: 'USER_NOT_FOUND', message: 'no user with id 42' } });
      expect(tooMany?.body).toEqual({ error: { code: 'OUT_OF_STOCK', message: '10 × Kettle (p4) asked, 3 in stock' } });
      expect(invalid?.body).toMatchObject({
        error: {
          code: 'WARREN_VALIDATION',
          data: {
            fields: [
              { in: 'body', path: 'userId', message: expect.any(String) },
              { in: 'body', path: 'items.0.quantity', message: expect.any(String) },
            ],
          },
        },
      });
      // Counted by the onResponse hook of the /orders scope; GET /stats is outside it.
      expect(stats?.body).toEqual({ '201': 1, '400': 1, '404': 1, '409': 1 });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '--keep: stays up to be called by hand; a SIGKILLed products instance is restarted by the supervisor; stops on SIGINT',
    async () => {
      const run = launchStart(['--keep'], await freePort(), await freePort());
      const dir = (await run.waitFor(/^ {2}export WARREN_SOCKET_DIR=(\S+)$/m))[1] as string;
      expect(run.stdout()).toContain('The shop is running; Ctrl-C stops it.');
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const pids = servicePids(run.stdout());
      const supervisor = supervisorPid(run.stdout()) as number;

      // What the printed lines do, with the built CLI instead of npx.
      const cli = (...args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            [CLI, ...args],
            { env: { ...process.env, WARREN_SOCKET_DIR: dir }, timeout: 20_000 },
            (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
          );
        });
      const before = await cli('call', 'products', 'GET', '/products', '--json');
      expect(before, before.stderr).toMatchObject({ code: 0 });
      expect(JSON.parse(before.stdout)).toMatchObject({ status: 200 });

      // kill -9 products.0: the supervisor starts another process in its place.
      const victim = pids.get('products.0') as number;
      process.kill(victim, 'SIGKILL');
      type Status = { services: { name: string; instances: { slot: number; pid: number; state: string; restarts: number }[] }[] };
      const replaced = await until(
        async () => {
          const status = await cli('status', '--json');
          if (status.code !== 0) return undefined;
          const products = (JSON.parse(status.stdout) as Status).services.find((service) => service.name === 'products');
          const fresh = products?.instances.find((i) => i.state === 'online' && i.restarts === 1 && !pids.has(`products.${i.slot}`));
          return fresh ?? products?.instances.find((i) => i.state === 'online' && i.restarts === 1 && i.pid !== victim);
        },
        'a new products instance online after the SIGKILL',
        WAIT_TIMEOUT_MS,
      );
      expect(replaced.pid).not.toBe(victim);
      const after = await cli('call', 'products', 'GET', '/products', '--json');
      expect(after, after.stderr).toMatchObject({ code: 0 });
      const parsed = JSON.parse(after.stdout) as { status: number; body: unknown[] };
      expect(parsed.status).toBe(200);
      expect(parsed.body).toHaveLength(4);

      run.child.kill('SIGINT');
      const { code, signal } = await finished(run);
      const context = `--- stdout\n${run.stdout()}\n--- stderr\n${run.stderr()}`;
      expect(signal, context).toBeNull();
      expect(code, context).toBe(0);
      expect(run.stdout()).toMatch(/^stopped after \d+(\.\d+)?s$/m);
      expect(isGone(supervisor), 'the supervisor outlived start.mjs').toBe(true);
      for (const pid of [...pids.values(), replaced.pid]) expect(isGone(pid), `pid ${pid} outlived start.mjs`).toBe(true);
      expect(existsSync(dir)).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );
});

// ---------------------------------------------------------------------------------------------
// The services, started by the test

/** Forks one service like start.mjs does and resolves once it says it is ready. */
function startService(dir: string, service: string, instance: number): Promise<ChildProcess> {
  const name = `${service}.${instance}`;
  const child = fork(join(SHOP, `${service}.mjs`), [], {
    env: { ...process.env, WARREN_SOCKET_DIR: dir, WARREN_INSTANCE: String(instance) },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    expect(isGone(child.pid as number), `${name} is still running`).toBe(true);
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${WAIT_TIMEOUT_MS} ms: ${stderr}`)), WAIT_TIMEOUT_MS);
    child.on('message', (message: { warren?: string; service?: string; instance?: number; pid?: number }) => {
      if (message?.warren !== 'ready') return;
      clearTimeout(timer);
      if (message.service === service && message.instance === instance && message.pid === child.pid) resolve(child);
      else reject(new Error(`${name} said it was ready as ${JSON.stringify(message)}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${signal ?? code}) before it was ready: ${stderr}`));
    });
  });
}

/** The shop's four processes in a fresh private socket directory, and a client of it. */
async function startShop() {
  const dir = mkdtempSync(join(tmpdir(), 'warren-shop-test-'));
  // Runs after the processes' cleanups (they are pushed later, cleanups run in reverse).
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const [users, products0, products1] = await Promise.all([
    startService(dir, 'users', 0),
    startService(dir, 'products', 0),
    startService(dir, 'products', 1),
  ]);
  // Like start.mjs: orders starts once the services it calls listen, so its first look finds them.
  const orders = await startService(dir, 'orders', 0);
  const client = new ServiceClient({ socketDir: dir, name: 'shop-test' });
  cleanups.push(() => client.close());
  return { client, processes: { users, products0, products1, orders } };
}

describe('the shop services, called with ServiceClient', () => {
  it(
    'an order goes through users and products, and its total comes from their answers',
    async () => {
      const { client } = await startShop();
      const users = client.service('users');
      const orders = client.service('orders');

      const created = await users.post('/users', { name: 'Barbara Liskov', email: 'barbara@example.org' });
      expect(created).toEqual({
        status: 201,
        headers: { location: '/users/4' },
        body: { id: '4', name: 'Barbara Liskov', email: 'barbara@example.org' },
      });
      const badEmail = await users.post('/users', { name: 'Nobody', email: 'not an email' });
      expect(badEmail.status).toBe(400);
      expect(badEmail.body).toMatchObject({ error: { code: 'WARREN_VALIDATION', data: { fields: [{ in: 'body', path: 'email' }] } } });

      const order = await orders.post('/orders', {
        userId: '4',
        items: [
          { productId: 'p1', quantity: 1 },
          { productId: 'p3', quantity: 2 },
        ],
      });
      expect(order.status, JSON.stringify(order.body)).toBe(201);
      expect(order.headers).toEqual({ location: '/orders/1' });
      expect(order.body).toMatchObject({ id: '1', userId: '4', totalCents: 2499 + 2 * 650 });
      expect(await orders.get('/orders/1')).toMatchObject({ status: 200, body: order.body });
      expect((await orders.get('/orders/2')).status).toBe(404);

      const unknownProduct = await orders.post('/orders', { userId: '4', items: [{ productId: 'p99', quantity: 1 }] });
      expect(unknownProduct).toMatchObject({
        status: 404,
        body: { error: { code: 'PRODUCT_NOT_FOUND', message: 'no product with id p99' } },
      });
      const unknownUser = await orders.post('/orders', { userId: '99', items: [{ productId: 'p1', quantity: 1 }] });
      expect(unknownUser).toMatchObject({ status: 404, body: { error: { code: 'USER_NOT_FOUND' } } });

      // The products list's query schema: coerced numbers, booleans, and no unknown filter.
      const products = client.service('products');
      const cheap = await products.get('/products?maxPrice=899&inStock=true');
      expect(cheap.status).toBe(200);
      expect((cheap.body as { id: string }[]).map((product) => product.id)).toEqual(['p2', 'p3']);
      const badQuery = await products.get('/products?maxPrice=cheap&colour=red');
      expect(badQuery.status).toBe(400);
      expect((badQuery.body as { error: { data: { fields: { in: string }[] } } }).error.data.fields.map((field) => field.in)).toEqual([
        'query',
        'query',
      ]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'an order for more than the stock is refused with 409, and exactly the stock is accepted',
    async () => {
      const { client } = await startShop();
      const orders = client.service('orders');
      const tooMany = await orders.post('/orders', { userId: '2', items: [{ productId: 'p4', quantity: 4 }] });
      expect(tooMany).toMatchObject({
        status: 409,
        body: { error: { code: 'OUT_OF_STOCK', message: '4 × Kettle (p4) asked, 3 in stock' } },
      });
      const all = await orders.post('/orders', { userId: '2', items: [{ productId: 'p4', quantity: 3 }] });
      expect(all).toMatchObject({ status: 201, body: { totalCents: 3 * 4999 } });
      expect((await orders.get('/stats')).body).toEqual({ '201': 1, '409': 1 });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'with one products instance killed by SIGKILL, GET /products and new orders are served by the other',
    async () => {
      const { client, processes } = await startShop();
      const products = client.service('products');
      const first = await products.get('/products');
      expect(first.status).toBe(200);
      // Kill the instance that answered: from now on the other one must.
      const used = first.headers['x-served-by'];
      expect(used).toMatch(/^products\.[01]$/);
      const [victim, survivor] = used === 'products.0' ? [processes.products0, 'products.1'] : [processes.products1, 'products.0'];
      // The orders service has its own connections to products.
      expect((await client.service('orders').post('/orders', { userId: '1', items: [{ productId: 'p2', quantity: 1 }] })).status).toBe(201);

      const killed = new Promise((resolve) => victim.once('exit', (_code, signal) => resolve(signal)));
      victim.kill('SIGKILL');
      expect(await killed).toBe('SIGKILL');

      for (let i = 0; i < 3; i++) {
        const response = await products.get('/products');
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        expect(response.headers['x-served-by']).toBe(survivor);
        expect(response.body).toHaveLength(4);
      }
      const order = await client.service('orders').post('/orders', { userId: '1', items: [{ productId: 'p2', quantity: 2 }] });
      expect(order.status, JSON.stringify(order.body)).toBe(201);
      expect(order.body).toMatchObject({ id: '2', totalCents: 2 * 899 });
    },
    TEST_TIMEOUT_MS,
  );
});
