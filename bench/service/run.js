// Service benchmark orchestrator: a service round trip through the pooled ServiceClient
// (`client.service('echo').post('/echo', payload)`, a route that returns its body) beside the
// bare Warren peer (`peer.request('echo', payload)`, bench/ipc's warren-msgpack). For each
// payload × mode × system: make a fresh socket directory (mkdtemp), spawn the server process
// in it, wait for "ready", spawn the client process with the same directory, collect its JSON
// line, stop the server and remove the directory. Then print a markdown table with ratios
// against the bare peer and write bench/results/service-latest.json.
//
//   node bench/service/run.js [--systems peer,service] [--modes seq,pipe64] [--payloads 64B,4KiB]
//                             [--seconds 5] [--warmup 0.5] [--runs 1] [--no-pin] [--out FILE]
//   BENCH_SECONDS=1 node bench/service/run.js        (duration of each measurement, default 5)
//   BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/service/run.js   (flags for both children)
//
// Measuring, argument parsing, payloads and the table are bench/ipc's; pinning (server on
// CPU 0, client on CPU 1) and --runs (interleaved rounds, medians, ratios paired per run)
// work as in bench/ipc/run.js. Target: the service layer costs at most 15% of throughput.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from '../ipc/args.js';
import { MODES } from '../ipc/measure.js';
import { PAYLOAD_SIZES } from '../ipc/payloads.js';
import { formatTable } from '../lib/table.js';
import { SYSTEMS } from './systems.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER_PROC = path.join(here, 'server-proc.js');
const CLIENT_PROC = path.join(here, 'client-proc.js');
const DEFAULT_OUT = path.join(here, '..', 'results', 'service-latest.json');
const BASELINE = 'peer';
const READY_TIMEOUT_MS = 15_000;

function list(value, known, what) {
  if (value === undefined) return [...known];
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const it of items) {
    if (!known.includes(it)) throw new Error(`unknown ${what} "${it}" (known: ${known.join(', ')})`);
  }
  return known.filter((k) => items.includes(k));
}

// ---- child bookkeeping: every child is killed and every directory removed, whatever happens

const children = new Set();
const tempDirs = new Set();

function track(child) {
  children.add(child);
  child.on('error', () => {});
  child.once('exit', () => children.delete(child));
  return child;
}

function cleanupSync() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
}

process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\n${sig}: stopping children\n`);
    cleanupSync();
    process.exit(130);
  });
}

function waitExit(child, ms) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, 3000))) {
    child.kill('SIGKILL');
    await waitExit(child, 3000);
  }
}

/** Resolves with the first stdout line of `child`, or rejects on exit / timeout. */
function firstLine(child, ms) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (fn, v) => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      fn(v);
    };
    const onData = (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl !== -1) done(resolve, buf.slice(0, nl).trim());
    };
    const onExit = (code, sig) => done(reject, new Error(`server exited before ready (code ${code}, signal ${sig})`));
    const timer = setTimeout(() => done(reject, new Error(`server not ready after ${ms} ms`)), ms);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Runs the client to completion and returns its parsed last JSON line. */
function runClient([cmd, argv], ms) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`client did not finish within ${ms} ms`));
    }, ms);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      const line = out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop();
      if (code !== 0 || !line) return reject(new Error(`client exited with code ${code}, signal ${sig}`));
      try {
        resolve(JSON.parse(line));
      } catch (err) {
        reject(new Error(`client printed bad JSON: ${line} (${err.message})`));
      }
    });
  });
}

const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);

/** node argv, prefixed with taskset when pinning to one CPU. */
function nodeCommand(script, args, cpu) {
  if (cpu === null) return [process.execPath, [...nodeFlags, script, ...args]];
  return ['taskset', ['-c', String(cpu), process.execPath, ...nodeFlags, script, ...args]];
}

async function runCase({ system, mode, payload, seconds, warmup, pin }) {
  // A fresh socket directory per case (mkdtemp makes it 0700, as serveService wants).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-bench-svc-'));
  tempDirs.add(dir);
  let server = null;
  try {
    server = track(
      spawn(...nodeCommand(SERVER_PROC, ['--system', system, '--dir', dir], pin ? 0 : null), { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    const line = await firstLine(server, READY_TIMEOUT_MS);
    if (line.startsWith('skip')) return { skip: line.slice(4).trim() || 'skipped by server' };
    if (line !== 'ready') throw new Error(`server printed "${line}" instead of "ready"`);
    const clientArgs = [
      '--system',
      system,
      '--dir',
      dir,
      '--mode',
      mode,
      '--payload',
      payload,
      '--seconds',
      String(seconds),
      '--warmup',
      String(warmup),
    ];
    const res = await runClient(nodeCommand(CLIENT_PROC, clientArgs, pin ? 1 : null), (seconds + warmup + 45) * 1000);
    if (res.skip) return { skip: res.skip };
    return { result: res };
  } finally {
    if (server) await stopChild(server);
    fs.rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

const round1 = (v) => Math.round(v * 10) / 10;

function choosePin(args) {
  if (args['no-pin'] === 'true') return false;
  const canPin = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' }).status === 0;
  if (args.pin === 'true' && !canPin) throw new Error('--pin needs taskset and at least 2 CPUs');
  if (!canPin) console.log('note: not pinning (taskset missing or fewer than 2 CPUs)');
  return canPin;
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const systems = list(args.systems, SYSTEMS, 'system');
  const modes = list(args.modes, Object.keys(MODES), 'mode');
  const payloads = list(args.payloads, Object.keys(PAYLOAD_SIZES), 'payload');
  const seconds = Number(args.seconds ?? process.env.BENCH_SECONDS ?? 5);
  const warmup = Number(args.warmup ?? 0.5);
  const out = path.resolve(args.out ?? DEFAULT_OUT);
  if (!(seconds > 0) || !(warmup >= 0)) throw new Error(`bad duration: seconds=${seconds} warmup=${warmup}`);
  const pin = choosePin(args);
  const runs = Number(args.runs ?? 1);
  if (!Number.isInteger(runs) || runs < 1 || runs > 99) throw new Error(`bad --runs ${args.runs} (1..99)`);

  console.log(
    `Service bench: node ${process.version}, ${os.cpus().length} CPUs, ${seconds} s per case (+${warmup} s warm-up)` +
      `${runs > 1 ? `, median of ${runs} runs` : ''}${pin ? ', server pinned to CPU 0 and client to CPU 1' : ', unpinned'}`,
  );
  console.log(`systems: ${systems.join(', ')}; modes: ${modes.join(', ')}; payloads: ${payloads.join(', ')}\n`);
  const load = os.loadavg()[0];
  if (load > 0.7) {
    console.log(`warning: the machine is busy (1-min load average ${load.toFixed(2)}); other work skews these figures, ratios included\n`);
  }

  const cases = [];
  for (const payload of payloads) {
    for (const mode of modes) {
      for (const system of systems) cases.push({ system, mode, payload, samples: [] });
    }
  }
  const skipped = new Map();
  const failures = [];
  for (let round = 1; round <= runs; round++) {
    if (runs > 1) console.log(`-- run ${round} of ${runs}`);
    for (const c of cases) {
      const { system, mode, payload } = c;
      if (skipped.has(system) || c.failed) continue;
      const label = `${system.padEnd(8)} ${mode.padEnd(7)} ${payload.padEnd(5)}`;
      try {
        const r = await runCase({ system, mode, payload, seconds, warmup, pin });
        if (r.skip) {
          skipped.set(system, r.skip);
          console.log(`${label} SKIPPED: ${r.skip}`);
          continue;
        }
        c.samples.push(r.result);
        const x = r.result;
        console.log(
          `${label} p50 ${round1(x.p50_us)} µs  p99 ${round1(x.p99_us)} µs  ${Math.round(x.ops_per_s).toLocaleString('en-US')} ops/s  (${x.ops} ops)`,
        );
      } catch (err) {
        c.failed = true;
        failures.push({ system, mode, payload, error: err.message });
        console.log(`${label} FAILED: ${err.message}`);
      }
    }
  }

  const results = [];
  for (const c of cases) {
    if (c.failed || c.samples.length === 0) continue;
    results.push({
      system: c.system,
      mode: c.mode,
      payload: c.payload,
      p50_us: round1(median(c.samples.map((x) => x.p50_us))),
      p99_us: round1(median(c.samples.map((x) => x.p99_us))),
      ops_per_s: Math.round(median(c.samples.map((x) => x.ops_per_s))),
    });
  }

  // Ratios paired per run against the bare peer of the same run, then the median.
  const ratios = new Map();
  for (const c of cases) {
    const base = cases.find((b) => b.system === BASELINE && b.mode === c.mode && b.payload === c.payload);
    if (!base || c.failed || base.failed || c.samples.length === 0 || c.samples.length !== base.samples.length) continue;
    const perRun = c.samples.map((x, i) =>
      c.mode === 'seq' ? x.p50_us / base.samples[i].p50_us : x.ops_per_s / base.samples[i].ops_per_s,
    );
    ratios.set(`${c.system}/${c.mode}/${c.payload}`, median(perRun));
  }

  console.log(`\n${formatTable(results, { baseline: BASELINE, ratios })}\n`);
  // The target: the service layer costs at most 15% of throughput (paired ops ratio >= 0.85).
  for (const c of cases) {
    const base = cases.find((b) => b.system === BASELINE && b.mode === c.mode && b.payload === c.payload);
    if (c === base || !base || c.samples.length === 0 || c.samples.length !== base.samples.length) continue;
    const cost = 1 - median(c.samples.map((x, i) => x.ops_per_s / base.samples[i].ops_per_s));
    const text = cost >= 0 ? `${(cost * 100).toFixed(0)}% below` : `${(-cost * 100).toFixed(0)}% above`;
    console.log(
      `${c.system} ${c.mode} ${c.payload}: throughput ${text} the bare peer (target: at most 15% below)${cost > 0.15 ? '  MISSED' : ''}`,
    );
  }
  for (const [system, reason] of skipped) console.log(`note: ${system} skipped: ${reason}`);
  for (const f of failures) console.log(`note: ${f.system} ${f.mode} ${f.payload} failed: ${f.error}`);

  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), out) || out}`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err?.stack ? err.stack : err);
  process.exitCode = 1;
});
