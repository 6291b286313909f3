// Broadcast fan-out: C clients (1,000) in another process, M broadcasts (200) of S bytes (64)
// sent by the server at once; msgs/s = C x M / the time from the first message received to the
// last, measured at the clients. Warren's hub (each broadcast encoded and framed once, the same
// bytes written to every member) beside a bare ws server (the message made once, ws.send per client).
//
//   node bench/ws/fanout.js [--clients 1000] [--messages 200] [--size 64] [--runs 3]
// Adds { system, msgs_per_s } rows to bench/results/ws-latest.json (idle-rss.js writes it first).
import { fork } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const clients = option('clients', 1000);
const messages = option('messages', 200);
const size = option('size', 64);
const runs = option('runs', 3);

function once(child, predicate) {
  return new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (predicate(message)) {
        child.off('message', onMessage);
        resolve(message);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`process exited with ${code}`)));
  });
}

async function measure(system) {
  const server = fork(here('./server-proc.mjs'), [system]);
  try {
    const { port } = await once(server, (m) => m.port !== undefined);
    const crowd = fork(here('./fanout-clients.mjs'), [String(port), String(clients), String(messages), system === 'ws' ? 'bare' : 'hub']);
    try {
      await once(crowd, (m) => m.ready !== undefined);
      const serverDone = once(server, (m) => m.serverMs !== undefined);
      server.send({ fanout: { count: messages, size } });
      const { ms } = await once(crowd, (m) => m.done !== undefined);
      const { serverMs } = await serverDone;
      return { rate: (clients * messages) / (ms / 1000), serverMs };
    } finally {
      crowd.kill();
    }
  } finally {
    server.kill();
  }
}

const systems = ['ws', 'warren'];
const samples = Object.fromEntries(systems.map((s) => [s, []]));
for (let run = 0; run < runs; run++) for (const system of systems) samples[system].push(await measure(system));
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
console.log(`\nBroadcast fan-out: ${clients} clients x ${messages} messages of ${size} B (median of ${runs})\n`);
console.log('| system | msgs/s delivered (at the clients) | x ws | server ms to write them all | x ws |');
console.log('| --- | ---: | ---: | ---: | ---: |');
const rate = (system) => median(samples[system].map((s) => s.rate));
const serverMs = (system) => median(samples[system].map((s) => s.serverMs));
for (const system of systems) {
  console.log(
    `| ${system} | ${Math.round(rate(system))} | ${(rate(system) / rate('ws')).toFixed(2)} | ${serverMs(system).toFixed(1)} | ${(serverMs(system) / serverMs('ws')).toFixed(2)} |`,
  );
}
const out = fileURLToPath(new URL('../results/ws-latest.json', import.meta.url));
const previous = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')).filter((row) => row.msgs_per_s === undefined) : [];
writeFileSync(
  out,
  `${JSON.stringify([...previous, ...systems.map((system) => ({ system, msgs_per_s: Math.round(rate(system)) }))], null, 2)}\n`,
);
console.log(`written to ${out}`);
