// `npm start`: the shop through `warren up`. Starts the supervisor in the background on
// examples/shop/warren.config.json (users, products at two instances, orders, web: each instance
// its own process; the WebSocket hub; the HTTP gateway on 127.0.0.1:8080, or HTTP_PORT, which
// also forwards /ws to the hub) in a private socket directory, shows `warren status`, calls the
// services with `warren call` as you would from a shell, then through the gateway with curl, then
// watches an order arrive live over a WebSocket, then `warren stop` and removes the directory.
// `npm start -- --keep` leaves the shop running until Ctrl-C, to call it by hand and to open the
// live page (http://127.0.0.1:8080/) in a browser.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { liveDemo } from './live-demo.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HERE = fileURLToPath(new URL('./', import.meta.url));
const CLI = 'dist/cli/main.js';
const COMMAND_TIMEOUT_MS = 30_000;

const say = (text = '') => console.log(text);
const keep = process.argv.includes('--keep');
const unknown = process.argv.slice(2).filter((arg) => arg !== '--keep');
if (unknown.length > 0) {
  console.error(`usage: node examples/shop/start.mjs [--keep]   (unknown: ${unknown.join(' ')})`);
  process.exit(2);
}

// The hub checks user and channel tokens with these secrets, and the web service signs them with
// the same (both get this environment from the supervisor). Fresh ones for each run unless set.
const port = process.env.WARREN_HTTP_PORT || process.env.HTTP_PORT || '8080';
const env = {
  ...process.env,
  WS_AUTH_SECRET: process.env.WS_AUTH_SECRET || randomBytes(24).toString('base64url'),
  WS_CHANNEL_SECRET: process.env.WS_CHANNEL_SECRET || randomBytes(24).toString('base64url'),
  // The page's origin is the gateway's: the hub refuses WebSockets from other pages.
  WS_ALLOWED_ORIGINS: process.env.WS_ALLOWED_ORIGINS || `http://127.0.0.1:${port},http://localhost:${port}`,
};

// mkdtemp makes the directory 0700: only this user may connect to the services or read their token.
const dir = mkdtempSync(join(tmpdir(), 'warren-shop-'));
/** The background supervisor, once `warren up --detach` has said its pid. */
let supervisorPid = null;
let stopped = false;
let failed = false;

// Whatever happens (an exception included), nothing is left behind. Exit handlers must be
// synchronous: a SIGTERM makes the supervisor drain and stop every instance by itself.
process.on('exit', () => {
  if (!stopped && supervisorPid !== null) {
    try {
      process.kill(supervisorPid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  if (stopped || supervisorPid === null) rmSync(dir, { recursive: true, force: true });
});

/** An argument as a POSIX shell reads it back. */
const shellQuote = (arg) => (/^[\w./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);

/**
 * Runs `node dist/cli/main.js <args> --socket-dir <dir>` and prints the command, its output and
 * its exit code under a title. Resolves with the exit code and the output.
 */
async function warren(title, args, expectedCode) {
  const argv = [CLI, ...args, '--socket-dir', dir];
  say(`\n# ${title}`);
  say(`$ node ${argv.map(shellQuote).join(' ')}`);
  const cli = spawn(process.execPath, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (text) => {
    output += text;
  };
  cli.stdout.setEncoding('utf8').on('data', collect);
  cli.stderr.setEncoding('utf8').on('data', collect);
  const timer = setTimeout(() => cli.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
  const code = await new Promise((resolve) => {
    cli.once('error', () => resolve(null));
    cli.once('close', (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  process.stdout.write(output);
  say(`(exit code ${code ?? `none: no answer within ${COMMAND_TIMEOUT_MS} ms`})`);
  if (code !== expectedCode) {
    failed = true;
    console.error(`expected exit code ${expectedCode} from: warren ${args.join(' ')}`);
  }
  return { code, output };
}

async function stop() {
  if (stopped) return;
  await warren('Stop: every instance drains, then the supervisor exits', ['stop'], 0);
  stopped = true;
  rmSync(dir, { recursive: true, force: true });
  say(`removed ${dir}`);
}

say(`socket directory ${dir} (mode 0700)`);
const config = relative(ROOT, HERE) || '.';
const up = await warren('Start the shop: one process per instance, in the background', ['up', config, '--detach'], 0);
supervisorPid = Number(/^supervisor pid (\d+) in the background/m.exec(up.output)?.[1] ?? Number.NaN);
if (up.code !== 0 || !Number.isInteger(supervisorPid)) {
  if (!Number.isInteger(supervisorPid)) supervisorPid = null;
  console.error('the shop did not start');
  process.exit(1);
}
await warren('What runs', ['status'], 0);

const order = (body) => ['--data', JSON.stringify(body)];
await warren(
  'The catalogue under 10.00 (a public route; ?maxPrice= is checked by a zod query schema)',
  ['call', 'products', 'GET', '/products?maxPrice=1000'],
  0,
);
await warren('One user', ['call', 'users', 'GET', '/users/1'], 0);
await warren(
  'An order: orders asks users and products, then computes the total',
  [
    'call',
    'orders',
    'POST',
    '/orders',
    ...order({
      userId: '1',
      items: [
        { productId: 'p1', quantity: 2 },
        { productId: 'p2', quantity: 3 },
      ],
    }),
  ],
  0,
);
await warren(
  'An order for a user who does not exist: 404, exit code 1',
  ['call', 'orders', 'POST', '/orders', ...order({ userId: '42', items: [{ productId: 'p2', quantity: 1 }] })],
  1,
);
await warren(
  'More kettles than in stock: 409',
  ['call', 'orders', 'POST', '/orders', ...order({ userId: '2', items: [{ productId: 'p4', quantity: 10 }] })],
  1,
);
await warren(
  'A body that fails the schema: 400 with every failing field',
  ['call', 'orders', 'POST', '/orders', ...order({ items: [{ productId: 'p2', quantity: 0 }] })],
  1,
);
await warren('Responses of /orders by status, counted by an onResponse hook', ['call', 'orders', 'GET', '/stats'], 0);

// The same services over HTTP, through the gateway (`gateway` in warren.config.json).
const base = `http://127.0.0.1:${port}`;

/** Prints a curl command line, runs the same request with fetch, and prints the status and the body. */
async function curl(title, path, { method = 'GET', body } = {}, expectedStatus = 200) {
  say(`\n# ${title}`);
  const data = body === undefined ? [] : ['-H', 'content-type: application/json', '-d', JSON.stringify(body)];
  say(`$ ${['curl', '-s', ...(method === 'GET' ? [] : ['-X', method]), ...data, `${base}${path}`].map(shellQuote).join(' ')}`);
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    });
    say(`HTTP ${res.status} (x-request-id: ${res.headers.get('x-request-id')})`);
    say(await res.text());
    if (res.status !== expectedStatus) {
      failed = true;
      console.error(`expected HTTP ${expectedStatus} from ${method} ${path}`);
    }
  } catch (error) {
    failed = true;
    console.error(`${method} ${path} through the gateway failed: ${error.message}`);
  }
}

await curl('Over HTTP: the catalogue under 10.00, through the gateway', '/products?maxPrice=1000');
await curl(
  'An order over HTTP: the gateway forwards to orders, which calls users and products',
  '/orders',
  { method: 'POST', body: { userId: '1', items: [{ productId: 'p1', quantity: 1 }] } },
  201,
);
await curl('A path no service routes: 404 in the same error shape', '/nothing/here', {}, 404);
await curl('A body that fails the schema: 400 with every failing field', '/orders', { method: 'POST', body: { items: [] } }, 400);

say("\n# The shop, live: a WebSocket through the gateway's /ws to the hub, and an order seen arriving");
if (!(await liveDemo(base, say, COMMAND_TIMEOUT_MS))) {
  failed = true;
  console.error('the live demo did not see both broadcasts of its order');
}
say(
  `\nThe live page: ${base}/  (who watches the shop, and orders as they are placed${keep ? '' : '; `npm start -- --keep` keeps the shop up to open it'})`,
);

if (keep && !failed) {
  say('\nThe shop is running; Ctrl-C stops it. From another terminal, in this repository:');
  say(`  export WARREN_SOCKET_DIR=${dir}`);
  say('  npx warren status --watch');
  say('  npx warren call products GET /products');
  say(`  npx warren call users POST /users --data '{"name":"Edsger Dijkstra","email":"ewd@example.org"}'`);
  say('  npx warren reload products        # one instance at a time, no call fails');
  say('  npx warren logs -f');
  say(`  curl -s ${base}/products          # through the HTTP gateway`);
  say(`Open ${base}/ in two browser windows, as two users (?user=1, ?user=2): each sees the other watch, and orders arrive live.`);
  say('Kill -9 an instance: the supervisor starts another, and `warren status` counts the restart.');
  // The supervisor runs on its own: this timer is what keeps this script waiting for Ctrl-C.
  const waiting = setInterval(() => {}, 60_000);
  await new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(signal, resolve);
  });
  clearInterval(waiting);
  say();
  await stop();
  process.exitCode = failed ? 1 : 0;
} else {
  await stop();
  // Nothing is left to keep the process alive: it ends once its output is written.
  process.exitCode = failed ? 1 : 0;
}
