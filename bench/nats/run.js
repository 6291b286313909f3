// NATS benchmark orchestrator: one echo call (64 B by default) through Warren over a Unix socket,
// through Warren over NATS request/reply, and through Moleculer 0.14's NATS transporter on the
// same NATS server, one call at a time (seq) and 64 in flight (pipe64); server and caller are
// separate processes. Prints a table with ratios and writes bench/results/nats-latest.json as
// a list of {system, mode, payload, p50_us, p99_us, ops_per_s}.
//
//   node bench/nats/run.js [--systems warren-unix,warren-nats,moleculer-nats] [--modes seq,pipe64]
//                          [--payloads 64B] [--seconds 5] [--runs 1] [--no-pin] [--out FILE]
//   BENCH_NATS_URL=nats://127.0.0.1:4222 (else NATS_URL, else that)
//   BENCH_MOLECULER_DIR=/tmp/molec  (moleculer@0.14 and nats@2 installed there; see systems.js)
//
// Target (issue 13): warren-nats at least 1.5x moleculer-nats's calls/s with 64 in flight.
// The orchestration is bench/lib/runner.js, shared with bench/ipc and bench/service.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBench } from '../lib/runner.js';
import { SYSTEMS } from './systems.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function report(cases, median) {
  for (const c of cases) {
    if (c.system !== 'warren-nats' || c.samples.length === 0) continue;
    const moleculer = cases.find((b) => b.system === 'moleculer-nats' && b.mode === c.mode && b.payload === c.payload);
    if (!moleculer || moleculer.samples.length !== c.samples.length) continue;
    const ratio = median(c.samples.map((x, i) => x.ops_per_s / moleculer.samples[i].ops_per_s));
    const target = c.mode === 'pipe64' ? ` (target: at least 1.5x)${ratio < 1.5 ? '  MISSED' : ''}` : '';
    console.log(`warren-nats ${c.mode} ${c.payload}: ${ratio.toFixed(2)}x moleculer-nats calls/s${target}`);
  }
}

// 64 B unless told otherwise: the comparison the issue asks for.
if (!process.argv.includes('--payloads')) process.argv.push('--payloads', '64B');

runBench({
  title: 'NATS bench',
  systems: SYSTEMS,
  baseline: 'warren-unix',
  serverProc: path.join(here, 'server-proc.js'),
  clientProc: path.join(here, 'client-proc.js'),
  socketIn: 'dir',
  defaultOut: path.join(here, '..', 'results', 'nats-latest.json'),
  report,
}).catch((err) => {
  console.error(err?.stack ? err.stack : err);
  process.exitCode = 1;
});
