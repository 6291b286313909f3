// IPC benchmark: Warren beside raw Node, vscode-jsonrpc and node-ipc over one Unix socket,
// ratios against raw-node, results in bench/results/ipc-latest.json. The orchestration is
// bench/lib/runner.js.
//
//   node bench/ipc/run.js [--systems raw-node,warren-msgpack] [--modes seq,pipe64]
//                         [--payloads 64B,4KiB] [--seconds 5] [--warmup 0.5] [--runs 1]
//                         [--no-pin] [--out FILE]
//   BENCH_SECONDS=1 node bench/ipc/run.js        (duration of each measurement, default 5)
//
// --runs N  repeats every case N times (rounds interleaved) and reports medians.
// Pinning: by default (when taskset works and there are >= 2 CPUs) the server runs on CPU 0
// and the client on CPU 1. Unpinned (--no-pin), the scheduler puts both on one CPU in some
// cases and not in others, which moves a figure more than the systems differ: on one CPU a
// sequential round trip is often 1.5-2.5x faster and 64 B pipelining up to ~1.8x faster,
// while 4 KiB pipelining gets slower. Pinned, every system is measured in the same (cross-CPU)
// situation, the one ANCHORS.md describes.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBench } from '../lib/runner.js';
import { SYSTEMS } from './systems/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

runBench({
  title: 'IPC bench',
  systems: SYSTEMS,
  baseline: 'raw-node',
  serverProc: path.join(here, 'server-proc.js'),
  clientProc: path.join(here, 'client-proc.js'),
  socketIn: 'path',
  defaultOut: path.join(here, '..', 'results', 'ipc-latest.json'),
}).catch((err) => {
  console.error(err?.stack ? err.stack : err);
  process.exitCode = 1;
});
