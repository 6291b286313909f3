// `npm start`: the shop. Starts users, products (two instances) and orders, each as its own
// process, in a private socket directory; calls them with `warren call` as you would from a
// shell; then stops them all and removes the directory.
// `npm start -- --keep` leaves the shop running until Ctrl-C, to call it by hand.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HERE = fileURLToPath(new URL('./', import.meta.url));
// Started group by group, each once the one before is ready: orders calls users and
// products, and finds them at once if they listen before it starts.
const SERVICES = [
  [
    ['users', 0],
    ['products', 0],
    ['products', 1],
  ],
  [['orders', 0]],
];
const READY_TIMEOUT_MS = 15_000;
const CALL_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

const say = (text = '') => console.log(text);
const keep = process.argv.includes('--keep');
const unknown = process.argv.slice(2).filter((arg) => arg !== '--keep');
if (unknown.length > 0) {
  console.error(`usage: node examples/shop/start.mjs [--keep]   (unknown: ${unknown.join(' ')})`);
  process.exit(2);
}

// mkdtemp makes the directory 0700: only this user may connect to the services or read their token.
const dir = mkdtempSync(join(tmpdir(), 'warren-shop-'));
/** Every process this script started; none may outlive it. */
const children = new Set();
const services = [];
let stopping = false;
let failed = false;

// Whatever happens (an exception included), nothing is left behind. Exit handlers must be synchronous.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
for (const [signal, exitCode] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(signal, () => {
    // With --keep, Ctrl-C is the normal way out.
    if (!keep) say(`\n${signal}: stopping the shop`);
    void stopAll().then((ok) => process.exit(keep && ok ? 0 : exitCode));
  });
}

const how = ({ code, signal }) => (signal ? `killed by ${signal}` : `exited with code ${code}`);

/** Copies a child's output to ours, each line tagged with the child's name. */
function forward(stream, to, name) {
  createInterface({ input: stream }).on('line', (line) => to.write(`[${name}] ${line}\n`));
}

function startService(service, instance) {
  const name = `${service}.${instance}`;
  const child = fork(join(HERE, `${service}.mjs`), [], {
    env: { ...process.env, WARREN_SOCKET_DIR: dir, WARREN_INSTANCE: String(instance) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // Its own process group, so that Ctrl-C reaches only this script, which stops each service once.
    detached: true,
  });
  children.add(child);
  forward(child.stdout, process.stdout, name);
  forward(child.stderr, process.stderr, name);
  const entry = { name, child };
  entry.exited = new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  entry.ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    child.on('message', (message) => {
      if (message?.warren !== 'ready') return;
      clearTimeout(timer);
      resolve(message);
    });
    void entry.exited.then((exit) => {
      clearTimeout(timer);
      reject(
        new Error(`${name} ${exit.error ? `could not start: ${exit.error.message}` : how(exit)} before it was ready (its stderr is above)`),
      );
    });
  });
  // Later, an exit nobody asked for is reported, and fails the demo.
  void entry.ready.then(
    () =>
      entry.exited.then((exit) => {
        if (stopping) return;
        if (!keep) failed = true;
        console.error(`${name} (pid ${child.pid}) ${how(exit)}${keep ? '' : ' unexpectedly'}`);
      }),
    () => {},
  );
  say(`started ${name} (pid ${child.pid})`);
  return entry;
}

/**
 * SIGTERM to every service still running (orders first, users last), then waits for each to exit,
 * with SIGKILL past STOP_TIMEOUT_MS. Resolves false if one did not exit with code 0.
 */
async function stopAll() {
  if (stopping) return new Promise(() => {}); // the first caller ends the process
  stopping = true;
  const running = services.filter(({ child }) => child.exitCode === null && child.signalCode === null).reverse();
  for (const { child } of running) child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const { child } of running) child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  let ok = true;
  for (const { name, child, exited } of running) {
    const exit = await exited;
    ok &&= exit.code === 0;
    say(`stopped ${name} (pid ${child.pid}): ${how(exit)}`);
  }
  clearTimeout(timer);
  rmSync(dir, { recursive: true, force: true });
  say(`removed ${dir}`);
  return ok;
}

/** An argument as a POSIX shell reads it back. */
const shellQuote = (arg) => (/^[\w./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);

/** Runs `warren call <args> --socket-dir <dir>` from the built CLI and prints the command, its output and its exit code. */
async function warrenCall(title, args, expectedCode) {
  const argv = ['dist/cli/main.js', 'call', ...args, '--socket-dir', dir];
  say(`\n# ${title}`);
  say(`$ node ${argv.map(shellQuote).join(' ')}`);
  const cli = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(cli);
  let output = '';
  cli.stdout.setEncoding('utf8').on('data', (text) => {
    output += text;
  });
  cli.stderr.setEncoding('utf8').on('data', (text) => {
    output += text;
  });
  const timer = setTimeout(() => cli.kill('SIGKILL'), CALL_TIMEOUT_MS);
  const code = await new Promise((resolve) => {
    cli.once('error', () => resolve(null));
    cli.once('close', (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  children.delete(cli);
  process.stdout.write(output);
  say(`(exit code ${code ?? `none: no answer within ${CALL_TIMEOUT_MS} ms`})`);
  if (code !== expectedCode) {
    failed = true;
    console.error(`expected exit code ${expectedCode} from: warren call ${args.join(' ')}`);
  }
}

say(`socket directory ${dir} (mode 0700)`);
try {
  const started = performance.now();
  for (const group of SERVICES) {
    const entries = group.map(([service, instance]) => startService(service, instance));
    services.push(...entries);
    await Promise.all(entries.map((entry) => entry.ready));
  }
  say(`all ${services.length} ready in ${Math.round(performance.now() - started)} ms`);
} catch (error) {
  console.error(`the shop did not start: ${error.message}`);
  await stopAll();
  process.exit(1);
}

const order = (body) => ['--data', JSON.stringify(body)];
await warrenCall(
  'The catalogue under 10.00 (a public route; ?maxPrice= is checked by a zod query schema)',
  ['products', 'GET', '/products?maxPrice=1000'],
  0,
);
await warrenCall('One user', ['users', 'GET', '/users/1'], 0);
await warrenCall(
  'An order: orders asks users and products, then computes the total',
  [
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
await warrenCall(
  'An order for a user who does not exist: 404, exit code 1',
  ['orders', 'POST', '/orders', ...order({ userId: '42', items: [{ productId: 'p2', quantity: 1 }] })],
  1,
);
await warrenCall(
  'More kettles than in stock: 409',
  ['orders', 'POST', '/orders', ...order({ userId: '2', items: [{ productId: 'p4', quantity: 10 }] })],
  1,
);
await warrenCall(
  'A body that fails the schema: 400 with every failing field',
  ['orders', 'POST', '/orders', ...order({ items: [{ productId: 'p2', quantity: 0 }] })],
  1,
);
await warrenCall('Responses of /orders by status, counted by an onResponse hook', ['orders', 'GET', '/stats'], 0);

if (keep && !failed) {
  const products0 = services.find((entry) => entry.name === 'products.0');
  say('\nThe shop is running; Ctrl-C stops it. From another terminal, in this repository:');
  say(`  WARREN_SOCKET_DIR=${dir} npx warren call products GET /products`);
  say(`  WARREN_SOCKET_DIR=${dir} npx warren call users POST /users --data '{"name":"Edsger Dijkstra","email":"ewd@example.org"}'`);
  say(`Then kill -9 ${products0.child.pid} (products.0): GET /products still answers, from products.1.`);
} else {
  say();
  const ok = await stopAll();
  // Nothing is left to keep the process alive: it ends once its output is written.
  process.exitCode = ok && !failed ? 0 : 1;
}
