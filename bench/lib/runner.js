// The benchmark orchestrator shared by bench/ipc and bench/service. For each payload x mode x
// system: make a fresh directory, spawn the server process in it, wait for "ready", spawn the
// client process, collect its JSON line, stop the server and remove the directory. Then print
// a markdown table with ratios against the baseline and write the results (a JSON array).
//
// --runs N repeats every case N times, rounds interleaved, and reports medians; ratios are
// paired per run. Pinning: by default (when taskset works and there are >= 2 CPUs) the server
// runs on CPU 0 and the client on CPU 1. Unpinned (--no-pin), the scheduler puts both on one
// CPU in some cases and not in others, which moves a figure more than the systems differ.
// BENCH_SECONDS sets the seconds per case, BENCH_NODE_FLAGS extra node flags for both children.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from '../ipc/args.js';
import { MODES } from '../ipc/measure.js';
import { PAYLOAD_SIZES } from '../ipc/payloads.js';
import { formatTable } from './table.js';

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
  // keep the canonical order so tables always read the same way
  return known.filter((k) => items.includes(k));
}

// ---- child bookkeeping: every child is killed whatever happens -------------------------

const children = new Set();
const tempDirs = new Set();

function track(child) {
  children.add(child);
  child.on('error', () => {}); // reported through exit codes / firstLine / runClient
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
      child.off('error', onError);
      fn(v);
    };
    const onData = (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl !== -1) done(resolve, buf.slice(0, nl).trim());
    };
    const onExit = (code, sig) => done(reject, new Error(`server exited before ready (code ${code}, signal ${sig})`));
    const onError = (err) => done(reject, new Error(`server could not start: ${err.message}`));
    const timer = setTimeout(() => done(reject, new Error(`server not ready after ${ms} ms`)), ms);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
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

// Extra node flags for the server and client processes, e.g. BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);

/** node argv, prefixed with taskset when pinning to one CPU. */
function nodeCommand(script, args, cpu) {
  if (cpu === null) return [process.execPath, [...nodeFlags, script, ...args]];
  return ['taskset', ['-c', String(cpu), process.execPath, ...nodeFlags, script, ...args]];
}

async function runCase(bench, { system, mode, payload, seconds, warmup, pin }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-bench-'));
  tempDirs.add(dir);
  // Where both processes meet: a socket path inside the directory, or the directory itself.
  const where = bench.socketIn === 'dir' ? ['--dir', dir] : ['--path', path.join(dir, 'bench.sock')];
  let server = null;
  try {
    const [cmd, argv] = nodeCommand(bench.serverProc, ['--system', system, ...where, '--payload', payload], pin ? 0 : null);
    server = track(spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] }));
    const line = await firstLine(server, READY_TIMEOUT_MS);
    if (line.startsWith('skip')) return { skip: line.slice(4).trim() || 'skipped by server' };
    if (line !== 'ready') throw new Error(`server printed "${line}" instead of "ready"`);
    const clientArgs = [
      '--system',
      system,
      ...where,
      '--mode',
      mode,
      '--payload',
      payload,
      '--seconds',
      String(seconds),
      '--warmup',
      String(warmup),
    ];
    const res = await runClient(nodeCommand(bench.clientProc, clientArgs, pin ? 1 : null), (seconds + warmup + 45) * 1000);
    if (res.skip) return { skip: res.skip };
    return { result: res };
  } finally {
    if (server) await stopChild(server);
    fs.rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

const round1 = (v) => Math.round(v * 10) / 10;

/** Pinning is on by default when taskset works and there are 2 CPUs or more. */
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

/**
 * Runs a benchmark described by `bench`: { title, systems (canonical order), baseline,
 * serverProc, clientProc, socketIn: 'path' | 'dir', defaultOut, report?(cases, median) }.
 */
export async function runBench(bench) {
  const args = parseArgs(process.argv.slice(2));
  const systems = list(args.systems, bench.systems, 'system');
  const modes = list(args.modes, Object.keys(MODES), 'mode');
  const payloads = list(args.payloads, Object.keys(PAYLOAD_SIZES), 'payload');
  const seconds = Number(args.seconds ?? process.env.BENCH_SECONDS ?? 5);
  const warmup = Number(args.warmup ?? 0.5);
  const out = path.resolve(args.out ?? bench.defaultOut);
  if (!(seconds > 0) || !(warmup >= 0)) throw new Error(`bad duration: seconds=${seconds} warmup=${warmup}`);
  const pin = choosePin(args);
  const runs = Number(args.runs ?? 1);
  if (!Number.isInteger(runs) || runs < 1 || runs > 99) throw new Error(`bad --runs ${args.runs} (1..99)`);

  console.log(
    `${bench.title}: node ${process.version}, ${os.cpus().length} CPUs, ${seconds} s per case (+${warmup} s warm-up)` +
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
  const skipped = new Map(); // system -> reason
  const failures = [];
  // With --runs N every case runs N times, the rounds interleaved so that a slow spell of
  // the machine hits all systems alike; each figure reported is the median over the runs.
  for (let round = 1; round <= runs; round++) {
    if (runs > 1) console.log(`-- run ${round} of ${runs}`);
    for (const c of cases) {
      const { system, mode, payload } = c;
      if (skipped.has(system) || c.failed) continue;
      const width = Math.max(...systems.map((s) => s.length)) + 1;
      const label = `${system.padEnd(width)} ${mode.padEnd(7)} ${payload.padEnd(5)}`;
      try {
        const r = await runCase(bench, { system, mode, payload, seconds, warmup, pin });
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

  // Ratios are paired: each run's figure against the baseline's in the same run, then the median,
  // so that a slow spell of the machine does not land on one side of a ratio only.
  const ratios = new Map();
  for (const c of cases) {
    const base = cases.find((b) => b.system === bench.baseline && b.mode === c.mode && b.payload === c.payload);
    if (!base || c.failed || base.failed || c.samples.length === 0 || c.samples.length !== base.samples.length) continue;
    const perRun = c.samples.map((x, i) =>
      c.mode === 'seq' ? x.p50_us / base.samples[i].p50_us : x.ops_per_s / base.samples[i].ops_per_s,
    );
    ratios.set(`${c.system}/${c.mode}/${c.payload}`, median(perRun));
  }

  console.log(`\n${formatTable(results, { baseline: bench.baseline, ratios })}\n`);
  bench.report?.(cases, median);
  for (const [system, reason] of skipped) console.log(`note: ${system} skipped: ${reason}`);
  for (const f of failures) console.log(`note: ${f.system} ${f.mode} ${f.payload} failed: ${f.error}`);

  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), out) || out}`);
  if (failures.length > 0) process.exitCode = 1;
}
