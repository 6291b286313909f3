// `npm run bench:http`: a hello world through the Warren gateway → a service (1 instance), beside
// one node:http process, a naive node:http proxy to a worker on a Unix socket, and nginx proxying
// to that same worker over its Unix socket with upstream keepalive (bench/http/systems.js). Each
// system is started fresh, checked (GET / must answer 200 "hello world"), loaded by wrk with the
// same connections for a warm-up and then for the measured seconds, and stopped.
//
// Flags:
//   --seconds N      measured seconds per system (BENCH_SECONDS, else 10)
//   --warmup N       warm-up seconds per system before that, not counted (2); repeated until
//                    --warmup-requests have been answered, for at most --warmup-max seconds
//   --warmup-requests N  requests a system answers before it is measured (30000): a node process
//                    runs its code slowly until V8 has compiled it, and on a busy machine that
//                    takes many seconds (the gateway: some 30,000 requests)
//   --warmup-max N   longest warm-up in seconds (60)
//   --connections N  keep-alive connections (50)
//   --threads N      wrk threads (1: the machine has 2 cores, the systems need them)
//   --runs N         rounds, systems interleaved; figures are medians, non-2xx the sum (1)
//   --systems a,b    a subset of node-http, naive-proxy, nginx, warren-gateway
//   --access-log     nginx and the gateway both write an access log (default: both off)
//   --loader NAME    wrk (the default) or autocannon (used anyway when there is no wrk)
//   --out FILE       where the results go (bench/results/http-latest.json)
// nginx: BENCH_NGINX, else /usr/sbin/nginx, else PATH (skipped with a note when missing);
// wrk: BENCH_WRK, else /usr/bin/wrk, else PATH; autocannon (if installed) only when there is no wrk.
// Writes a JSON list of { system, req_per_s, p50_ms, p99_ms, non_2xx } and prints a table.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from '../ipc/args.js';
import { cpuSeconds, withDescendants } from './cpu.js';
import { findLoader, load } from './load.js';
import { findNginx } from './nginx.js';
import { SYSTEMS, start } from './systems.js';
import { formatTable, targetLines } from './table.js';

const args = parseArgs(process.argv.slice(2));
const num = (name, fallback, env) => {
  const raw = args[name] ?? (env ? process.env[env] : undefined) ?? String(fallback);
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`bench http: --${name} must be a number ≥ 0, got ${raw}`);
  return value;
};
const seconds = num('seconds', 10, 'BENCH_SECONDS');
const warmup = num('warmup', 2);
const warmupRequests = num('warmup-requests', 30_000);
const warmupMax = num('warmup-max', 60);
const connections = num('connections', 50);
const threads = num('threads', 1);
const runs = num('runs', 1);
if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`bench http: --seconds must be a whole number ≥ 1, got ${seconds}`);
if (!Number.isInteger(warmup)) throw new Error(`bench http: --warmup must be a whole number of seconds, got ${warmup}`);
if (!Number.isInteger(warmupMax)) throw new Error(`bench http: --warmup-max must be a whole number of seconds, got ${warmupMax}`);
if (!Number.isInteger(connections) || connections < 1) throw new Error(`bench http: --connections must be a whole number ≥ 1`);
if (!Number.isInteger(threads) || threads < 1 || threads > connections) throw new Error('bench http: --threads must be 1 … connections');
if (!Number.isInteger(runs) || runs < 1 || runs > 99) throw new Error('bench http: --runs must be 1 … 99');
const accessLog = args['access-log'] === 'true';
const out = path.resolve(args.out ?? fileURLToPath(new URL('../results/http-latest.json', import.meta.url)));
let systems = SYSTEMS;
if (args.systems !== undefined) {
  const wanted = args.systems.split(',').map((s) => s.trim());
  for (const s of wanted) if (!SYSTEMS.includes(s)) throw new Error(`bench http: unknown system "${s}" (known: ${SYSTEMS.join(', ')})`);
  systems = SYSTEMS.filter((s) => wanted.includes(s));
}

if (args.loader !== undefined && !['wrk', 'autocannon'].includes(args.loader)) {
  throw new Error(`bench http: --loader must be wrk or autocannon, got ${args.loader}`);
}
const loader = await findLoader(args.loader);
const nginx = findNginx();
if (!nginx && systems.includes('nginx')) {
  console.log('note: nginx not found (BENCH_NGINX, /usr/sbin/nginx, PATH): skipped; Debian: apt-get install nginx\n');
  systems = systems.filter((s) => s !== 'nginx');
}
const timeoutS = 10;
const load1 = () => os.loadavg()[0].toFixed(2);

console.log(
  `bench http: node ${process.version}, ${os.cpus().length} CPUs, ${loader.kind} ${loader.version}` +
    `${loader.kind === 'wrk' ? ` (${threads} thread${threads > 1 ? 's' : ''})` : ''}, ${connections} connections, ` +
    `${seconds} s per system after a warm-up of ${warmup} s steps until ${warmupRequests.toLocaleString('en-US')} requests ` +
    `(at most ${warmupMax} s)${runs > 1 ? `, median of ${runs} runs` : ''}, unpinned`,
);
console.log(
  `systems: ${systems.join(', ')}${nginx ? `; nginx ${nginx.version}, worker_processes 1, upstream keepalive 64` : ''}; ` +
    `access logs ${accessLog ? 'on (nginx and gateway)' : 'off'}`,
);
const startLoad = os.loadavg()[0];
console.log(
  `1-min load average at start: ${startLoad.toFixed(2)}${startLoad > 0.7 ? ' (the machine is busy: other work skews these figures)' : ''}\n`,
);

/** GET url must answer 200 "hello world\n": a system that answers anything else is not measured. */
async function check(system, url) {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200 || text !== 'hello world\n') {
    throw new Error(`${system}: GET / answered ${res.status} ${JSON.stringify(text.slice(0, 80))}, expected 200 "hello world\\n"`);
  }
}

const samples = new Map(systems.map((s) => [s, []]));
const failures = [];
for (let round = 1; round <= runs; round++) {
  if (runs > 1) console.log(`-- run ${round} of ${runs}`);
  for (const system of systems) {
    if (failures.some((f) => f.system === system)) continue;
    let running;
    try {
      running = await start(system, { nginx, accessLog });
      await check(system, running.url);
      const options = { connections, threads, timeoutS };
      // Warm-up: rounds of `warmup` seconds until enough requests were answered (or warmupMax).
      let warmed = 0;
      let warmSeconds = 0;
      while (warmup > 0 && warmSeconds < warmupMax && (warmSeconds === 0 || warmed < warmupRequests)) {
        const step = Math.min(warmup, warmupMax - warmSeconds);
        warmed += (await load(loader, running.url, { ...options, seconds: step })).requests;
        warmSeconds += step;
      }
      const before = load1();
      // Each process with its children (nginx's master with its worker), measured apart and added up.
      const groups = running.pids.map((pid) => withDescendants([pid]));
      const cpuBefore = groups.map((pids) => cpuSeconds(pids));
      const r = await load(loader, running.url, { ...options, seconds });
      const perReq = (before, pids) =>
        before === null || r.requests === 0 ? null : Math.round(((cpuSeconds(pids) - before) / r.requests) * 1e7) / 10;
      const split = groups.map((pids, i) => perReq(cpuBefore[i], pids));
      r.cpu_us_per_req = split.includes(null) ? null : Math.round(split.reduce((a, b) => a + b, 0) * 10) / 10;
      const splitText =
        split.length > 1 && r.cpu_us_per_req !== null ? ` (${split.map((v, i) => `${running.labels[i]} ${v}`).join(' + ')})` : '';
      const errors = Object.entries(r.errors)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`);
      console.log(
        `${system.padEnd(15)} ${r.req_per_s.toLocaleString('en-US').padStart(8)} req/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms  ` +
          `non-2xx ${r.non_2xx}  warm-up ${warmSeconds} s  CPU ${r.cpu_us_per_req ?? '–'} µs/req${splitText}${errors.length ? `  socket errors: ${errors.join(', ')}` : ''}  (load ${before} → ${load1()})`,
      );
      samples.get(system).push({ ...r, round });
    } catch (error) {
      failures.push({ system, error: error.message });
      console.log(`${system.padEnd(15)} FAILED: ${error.message}`);
    } finally {
      if (running) await running.stop();
    }
  }
}

const median = (values) => {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};
const rows = systems
  .filter((s) => samples.get(s).length > 0)
  .map((system) => {
    const list = samples.get(system);
    return {
      system,
      req_per_s: Math.round(median(list.map((r) => r.req_per_s))),
      p50_ms: median(list.map((r) => r.p50_ms)),
      p99_ms: median(list.map((r) => r.p99_ms)),
      non_2xx: list.reduce((sum, r) => sum + r.non_2xx, 0),
      cpu_us_per_req: list.some((r) => r.cpu_us_per_req === null) ? null : median(list.map((r) => r.cpu_us_per_req)),
    };
  });

// Ratios paired per round (the two systems ran a few seconds apart), then the median over rounds.
const paired = (a, b) => {
  const ratios = [];
  for (const x of samples.get(a) ?? []) {
    const y = (samples.get(b) ?? []).find((s) => s.round === x.round);
    if (y) ratios.push(x.req_per_s / y.req_per_s);
  }
  return ratios.length > 0 ? median(ratios) : Number.NaN;
};
const pairedRatios = { nginx: paired('warren-gateway', 'nginx'), naive: paired('warren-gateway', 'naive-proxy') };

console.log(`\n${formatTable(rows)}\n`);
for (const line of targetLines(rows, runs > 1 ? pairedRatios : undefined)) console.log(line);
const endLoad = os.loadavg()[0];
console.log(`\n1-min load average at the end: ${endLoad.toFixed(2)}${endLoad > 0.7 ? ' (busy machine)' : ''}`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `${JSON.stringify(rows, null, 2)}\n`);
console.log(`results: ${path.relative(process.cwd(), out)}`);
if (failures.length > 0) {
  console.error(`\n${failures.length} system(s) failed: ${failures.map((f) => f.system).join(', ')}`);
  process.exitCode = 1;
}
