// IPC benchmark orchestrator. For each payload × mode × system: spawn the server process,
// wait for "ready", spawn the client process, collect its JSON line, stop the server and
// remove the socket directory. Then print a markdown table with ratios against raw-node and
// write bench/results/ipc-latest.json (a JSON array of results).
//
//   node bench/ipc/run.js [--systems raw-node,warren-msgpack] [--modes seq,pipe64]
//                         [--payloads 64B,4KiB] [--seconds 5] [--warmup 0.5] [--out FILE]
//   BENCH_SECONDS=1 node bench/ipc/run.js        (duration of each measurement, default 5)

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTable } from '../lib/table.js';
import { parseArgs } from './args.js';
import { MODES } from './measure.js';
import { PAYLOAD_SIZES } from './payloads.js';
import { SYSTEMS } from './systems/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER_PROC = path.join(here, 'server-proc.js');
const CLIENT_PROC = path.join(here, 'client-proc.js');
const DEFAULT_OUT = path.join(here, '..', 'results', 'ipc-latest.json');
const READY_TIMEOUT_MS = 15_000;

function list(value, known, what) {
  if (value === undefined) return [...known];
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const it of items) {
    if (!known.includes(it)) throw new Error(`unknown ${what} "${it}" (known: ${known.join(', ')})`);
  }
  // keep the canonical order so tables always read the same way
  return known.filter((k) => items.includes(k));
}

// ---- child bookkeeping: every child is killed whatever happens -------------------------

const children = new Set();
const tempDirs = new Set();

function track(child) {
  children.add(child);
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
  for (const d of tempDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
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
function runClient(args, ms) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [CLIENT_PROC, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }));
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
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (code !== 0 || !line) return reject(new Error(`client exited with code ${code}, signal ${sig}`));
      try {
        resolve(JSON.parse(line));
      } catch (err) {
        reject(new Error(`client printed bad JSON: ${line} (${err.message})`));
      }
    });
  });
}

async function runCase({ system, mode, payload, seconds, warmup }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-bench-'));
  tempDirs.add(dir);
  const sock = path.join(dir, 'bench.sock');
  let server = null;
  try {
    server = track(spawn(process.execPath, [SERVER_PROC, '--system', system, '--path', sock, '--payload', payload], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }));
    const line = await firstLine(server, READY_TIMEOUT_MS);
    if (line.startsWith('skip')) return { skip: line.slice(4).trim() || 'skipped by server' };
    if (line !== 'ready') throw new Error(`server printed "${line}" instead of "ready"`);
    const clientArgs = ['--system', system, '--path', sock, '--mode', mode, '--payload', payload, '--seconds', String(seconds), '--warmup', String(warmup)];
    const res = await runClient(clientArgs, (seconds + warmup + 45) * 1000);
    if (res.skip) return { skip: res.skip };
    return { result: res };
  } finally {
    if (server) await stopChild(server);
    fs.rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

const round1 = (v) => Math.round(v * 10) / 10;

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const systems = list(args.systems, SYSTEMS, 'system');
  const modes = list(args.modes, Object.keys(MODES), 'mode');
  const payloads = list(args.payloads, Object.keys(PAYLOAD_SIZES), 'payload');
  const seconds = Number(args.seconds ?? process.env.BENCH_SECONDS ?? 5);
  const warmup = Number(args.warmup ?? 0.5);
  const out = path.resolve(args.out ?? DEFAULT_OUT);
  if (!(seconds > 0) || !(warmup >= 0)) throw new Error(`bad duration: seconds=${seconds} warmup=${warmup}`);

  console.log(`IPC bench: node ${process.version}, ${os.cpus().length} CPUs, ${seconds} s per case (+${warmup} s warm-up)`);
  console.log(`systems: ${systems.join(', ')}; modes: ${modes.join(', ')}; payloads: ${payloads.join(', ')}\n`);

  const results = [];
  const skipped = new Map(); // system -> reason
  const failures = [];
  for (const payload of payloads) {
    for (const mode of modes) {
      for (const system of systems) {
        if (skipped.has(system)) continue;
        const label = `${system.padEnd(15)} ${mode.padEnd(7)} ${payload.padEnd(5)}`;
        try {
          const r = await runCase({ system, mode, payload, seconds, warmup });
          if (r.skip) {
            skipped.set(system, r.skip);
            console.log(`${label} SKIPPED: ${r.skip}`);
            continue;
          }
          const row = {
            system,
            mode,
            payload,
            p50_us: round1(r.result.p50_us),
            p99_us: round1(r.result.p99_us),
            ops_per_s: Math.round(r.result.ops_per_s),
          };
          results.push(row);
          console.log(`${label} p50 ${row.p50_us} µs  p99 ${row.p99_us} µs  ${row.ops_per_s.toLocaleString('en-US')} ops/s  (${r.result.ops} ops)`);
        } catch (err) {
          failures.push({ system, mode, payload, error: err.message });
          console.log(`${label} FAILED: ${err.message}`);
        }
      }
    }
  }

  console.log(`\n${formatTable(results)}\n`);
  for (const [system, reason] of skipped) console.log(`note: ${system} skipped: ${reason}`);
  for (const f of failures) console.log(`note: ${f.system} ${f.mode} ${f.payload} failed: ${f.error}`);

  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), out) || out}`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exitCode = 1;
});
