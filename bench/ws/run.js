// `npm run bench:ws`: the realtime hub beside raw `ws` and Socket.IO, servers and clients in separate
// processes (the server's RSS is its own).
//   - idle: server RSS per idle connection with BENCH_WS_IDLE (5,000) clients joined to one channel,
//     (RSS with the clients - RSS before) / clients, both after a full GC;
//   - fan-out: BENCH_WS_FANOUT (1,000) clients x 200 messages of 64 B, msgs/s delivered, measured at the
//     clients from the first message received to the last;
//   - the same fan-out across two servers through Redis (127.0.0.1:6379): two Warren hubs with
//     warren/realtime/redis, two Socket.IO servers with @socket.io/redis-adapter;
//   - the same across two Warren hubs through NATS (NATS_URL, else 127.0.0.1:4222) with warren/realtime/nats.
// Writes bench/results/ws-latest.json: rows {system, kb_per_conn} and {system, msgs_per_s}.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const IDLE = Number(process.env.BENCH_WS_IDLE ?? 5000);
const FANOUT = Number(process.env.BENCH_WS_FANOUT ?? 1000);
const MESSAGES = 200;
const SIZE = 64;
const STEP_TIMEOUT_MS = 120_000;
const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const children = new Set();

/** A child speaking JSON lines; `next(key)` waits for the next line holding `key`. */
function child(script, args, nodeArgs = []) {
  const proc = spawn(process.execPath, [...nodeArgs, here(script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  const lines = [];
  const waiters = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    let value;
    try {
      value = JSON.parse(line);
    } catch {
      return;
    }
    lines.push(value);
    for (const w of [...waiters]) w();
  });
  const next = (key) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} ${args[0]}: no '${key}' within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
      const check = () => {
        const i = lines.findIndex((l) => key in l);
        if (i < 0) return;
        const [value] = lines.splice(i, 1);
        waiters.splice(waiters.indexOf(check), 1);
        clearTimeout(timer);
        resolve(value);
      };
      waiters.push(check);
      proc.once('exit', (code) => reject(new Error(`${script} ${args[0]} exited (${code}) before '${key}'`)));
      check();
    });
  const send = (line) => proc.stdin.write(`${line}\n`);
  const stop = () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', resolve);
      proc.stdin.end();
      setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
    });
  return { next, send, stop };
}

const clientSystem = (system) => system.replace(/-(redis|nats)$/, '');
const urlOf = (system, port) =>
  system.startsWith('socket.io') ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/${system.startsWith('warren') ? 'ws' : ''}`;

async function server(system) {
  const s = child('server.js', [system], ['--expose-gc']);
  const { port } = await s.next('ready');
  return { ...s, port };
}

async function idle(system) {
  const s = await server(system);
  try {
    s.send('rss');
    const before = (await s.next('rss')).rss;
    const c = child('clients.js', [clientSystem(system), String(IDLE), '0', urlOf(system, s.port)]);
    try {
      await c.next('connected');
      s.send('rss');
      const after = (await s.next('rss')).rss;
      return { system, kb_per_conn: Math.round(((after - before) / IDLE / 1024) * 10) / 10 };
    } finally {
      await c.stop();
    }
  } finally {
    await s.stop();
  }
}

/** Fan-out from the first server to clients spread over every server given. */
async function fanout(name, system, serverCount) {
  const servers = [];
  try {
    for (let i = 0; i < serverCount; i++) servers.push(await server(system));
    const c = child('clients.js', [clientSystem(system), String(FANOUT), String(MESSAGES), ...servers.map((s) => urlOf(system, s.port))]);
    try {
      await c.next('connected');
      servers[0].send(`broadcast ${MESSAGES} ${SIZE}`);
      const { msgs, ms } = await c.next('msgs');
      return { system: name, msgs_per_s: Math.round(msgs / (ms / 1000)) };
    } finally {
      await c.stop();
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

process.on('exit', () => {
  for (const proc of children) proc.kill('SIGKILL');
});

const rows = [];
for (const system of ['warren', 'ws', 'socket.io']) rows.push(await idle(system));
for (const system of ['warren', 'ws', 'socket.io']) rows.push(await fanout(system, system, 1));
rows.push(await fanout('socket.io-redis', 'socket.io-redis', 2));
rows.push(await fanout('warren-redis', 'warren-redis', 2));
rows.push(await fanout('warren-nats', 'warren-nats', 2));

const by = (system, key) => rows.find((r) => r.system === system && key in r)?.[key];
console.log(`| system | server RSS per idle connection (${IDLE}) | fan-out msgs/s (${FANOUT} clients x ${MESSAGES} x ${SIZE} B) |`);
console.log('| --- | --- | --- |');
for (const system of ['warren', 'ws', 'socket.io', 'warren-redis', 'socket.io-redis', 'warren-nats']) {
  const kb = by(system, 'kb_per_conn');
  const rate = by(system, 'msgs_per_s');
  console.log(`| ${system} | ${kb === undefined ? '–' : `${kb} KB`} | ${rate === undefined ? '–' : rate.toLocaleString('en-US')} |`);
}
console.log(
  `ratios: warren/ws per connection ${(by('warren', 'kb_per_conn') / by('ws', 'kb_per_conn')).toFixed(2)}x (target <= 1.2x); ` +
    `warren/socket.io fan-out ${(by('warren', 'msgs_per_s') / by('socket.io', 'msgs_per_s')).toFixed(2)}x (target >= 1.2x); ` +
    `through Redis ${(by('warren-redis', 'msgs_per_s') / by('socket.io-redis', 'msgs_per_s')).toFixed(2)}x; ` +
    `warren through NATS/through Redis ${(by('warren-nats', 'msgs_per_s') / by('warren-redis', 'msgs_per_s')).toFixed(2)}x`,
);
writeFileSync(here('../results/ws-latest.json'), `${JSON.stringify(rows, null, 2)}\n`);
process.exit(0);
