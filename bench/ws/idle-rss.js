// Server RSS per idle WebSocket connection: Warren's hub (anonymous connections, and connections
// that are users, each in its user.<id> channel) beside a bare ws server, N connections
// (5,000) opened by another process. RSS is read after a full GC before and after the
// connections; the difference divided by N is the cost of one connection.
//
//   node bench/ws/idle-rss.js [--connections 5000] [--runs 3]   (npm run bench:ws)
// Writes bench/results/ws-latest.json: [{ system, kb_per_conn }].
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const TARGET = 1.2;

function once(child, predicate) {
  return new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message.error) reject(new Error(message.error));
      else if (predicate(message)) {
        child.off('message', onMessage);
        resolve(message);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`process exited with ${code}`)));
  });
}

async function measure(system, connections) {
  const server = fork(here('./server-proc.mjs'), [system], { execArgv: ['--expose-gc'] });
  try {
    const { port } = await once(server, (m) => m.port !== undefined);
    // Warm up: a few connections first, so that code compiled on the first ones is not counted.
    const warm = fork(here('./clients-proc.mjs'), [String(port), '50']);
    await once(warm, (m) => m.open !== undefined);
    warm.kill();
    await new Promise((resolve) => setTimeout(resolve, 500));
    server.send('gc');
    const before = (await once(server, (m) => m.rss !== undefined)).rss;
    const clients = fork(here('./clients-proc.mjs'), [String(port), String(connections)]);
    await once(clients, (m) => m.open !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    server.send('gc');
    const after = (await once(server, (m) => m.rss !== undefined)).rss;
    clients.kill();
    return (after - before) / connections / 1000;
  } finally {
    server.kill();
  }
}

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const connections = option('connections', 5000);
const runs = option('runs', 3);
const systems = ['ws', 'warren', 'warren-users'];
const samples = Object.fromEntries(systems.map((s) => [s, []]));
// Interleaved, so that the machine's moods fall on every system alike.
for (let run = 0; run < runs; run++) for (const system of systems) samples[system].push(await measure(system, connections));
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const rows = systems.map((system) => ({
  system,
  kb_per_conn: Number(median(samples[system]).toFixed(2)),
  samples: samples[system].map((v) => Number(v.toFixed(2))),
}));
const ws = rows[0].kb_per_conn;
console.log(`\nServer RSS per idle connection, ${connections} connections (KB = 1000 bytes, median of ${runs})\n`);
console.log('| system | KB per connection | x ws |');
console.log('| --- | ---: | ---: |');
for (const row of rows) console.log(`| ${row.system} | ${row.kb_per_conn} | ${(row.kb_per_conn / ws).toFixed(2)} |`);
console.log(`\ntarget: warren at most ${TARGET}x ws`);
const out = fileURLToPath(new URL('../results/ws-latest.json', import.meta.url));
mkdirSync(fileURLToPath(new URL('../results/', import.meta.url)), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify(
    rows.map(({ system, kb_per_conn }) => ({ system, kb_per_conn })),
    null,
    2,
  )}\n`,
);
console.log(`written to ${out}`);

export { rows };
