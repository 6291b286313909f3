// CPU per call on the CLIENT side, for a fixed number of calls: a measure that a busy machine
// disturbs far less than calls per second. Starts the chosen system's server in a child process
// (bench/service/server-proc.js, in a fresh socket directory), then in this process runs
// `--calls` calls with `--inflight` in flight, `--rounds` times after a warm-up round, and prints
// the median of process.cpuUsage() (user + system) per call for each round set, in µs.
//
//   node bench/service/cpu-per-call.js [--systems peer,service] [--payloads 64B,4KiB]
//                                      [--calls 100000] [--inflight 64] [--rounds 7]
//
// Under callgrind (repeatable instruction counts; the server child is not traced), with
// `--callgrind` instructions are counted only during the measured rounds (callgrind_control -i):
//   valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \
//     node bench/service/cpu-per-call.js --systems service --payloads 64B --calls 10000 --rounds 1 --callgrind
// The "Collected" line divided by --calls × --rounds is the instructions per call (user space;
// the kernel's share of a write or read is not in it). Add `node --perf-basic-prof` to map the
// JIT's addresses in `callgrind_annotate` to JavaScript functions (/tmp/perf-PID.map).

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from '../ipc/args.js';
import { makePayload } from '../ipc/payloads.js';
import { getSystem } from './systems.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const systems = (args.systems ?? 'peer,service').split(',');
const payloads = (args.payloads ?? '64B,4KiB').split(',');
const calls = Number(args.calls ?? 100000);
const inflight = Number(args.inflight ?? 64);
const rounds = Number(args.rounds ?? 7);
// --callgrind: run under `valgrind --tool=callgrind --instr-atstart=no`; instructions are only
// collected during the measured rounds (callgrind_control -i on/off), so start-up and warm-up cancel.
const callgrind = args.callgrind === 'true';

/** Turns callgrind's collection on or off for this process (without blocking the loop). */
function collect(on) {
  if (!callgrind) return Promise.resolve();
  return new Promise((resolve, reject) =>
    execFile('callgrind_control', ['-i', on ? 'on' : 'off', String(process.pid)], (err) => (err ? reject(err) : resolve())),
  );
}

/** Starts the server child and resolves once it printed "ready"; returns its stop function. */
function startServer(system, dir) {
  const child = spawn(process.execPath, [path.join(here, 'server-proc.js'), '--system', system, '--dir', dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      if (line === 'ready') {
        resolve(
          () =>
            new Promise((done) => {
              child.once('exit', done);
              child.kill('SIGTERM');
            }),
        );
      } else reject(new Error(`server ${system}: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`server ${system} exited with ${code}`)));
  });
}

/** Runs `count` calls, `inflight` at a time; every answer must echo the payload. */
async function run(call, payload, count) {
  let started = 0;
  async function worker() {
    while (started < count) {
      started++;
      if ((await call(payload)) !== payload) throw new Error('echo mismatch');
    }
  }
  const workers = [];
  for (let i = 0; i < inflight; i++) workers.push(worker());
  await Promise.all(workers);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const payloadName of payloads) {
  const payload = makePayload(payloadName);
  for (const system of systems) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'warren-cpu-'));
    const stop = await startServer(system, dir);
    try {
      const conn = await getSystem(system).client(dir);
      await run(conn.call, payload, calls); // warm-up: JIT, connections, buffers
      const perCall = [];
      for (let r = 0; r < rounds; r++) {
        await collect(true);
        const before = process.cpuUsage();
        await run(conn.call, payload, calls);
        const used = process.cpuUsage(before);
        await collect(false);
        perCall.push((used.user + used.system) / calls);
      }
      await conn.close();
      console.log(
        `${system.padEnd(8)} ${payloadName.padEnd(5)} client CPU/call: median ${median(perCall).toFixed(3)} µs  ` +
          `(rounds: ${perCall.map((x) => x.toFixed(2)).join(' ')})`,
      );
    } finally {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
