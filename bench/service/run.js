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
// After the throughput table it measures idle RSS (bench/service/idle-rss.js; --no-rss skips it).
//
// The orchestration is bench/lib/runner.js, shared with bench/ipc. Target: the service layer
// costs at most 15% of throughput.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBench } from '../lib/runner.js';
import { idleRss } from './idle-rss.js';
import { SYSTEMS } from './systems.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASELINE = 'peer';

/** The target: the service layer costs at most 15% of throughput (paired ops ratio >= 0.85). */
function report(cases, median) {
  for (const c of cases) {
    const base = cases.find((b) => b.system === BASELINE && b.mode === c.mode && b.payload === c.payload);
    if (c === base || !base || c.samples.length === 0 || c.samples.length !== base.samples.length) continue;
    const cost = 1 - median(c.samples.map((x, i) => x.ops_per_s / base.samples[i].ops_per_s));
    const text = cost >= 0 ? `${(cost * 100).toFixed(0)}% below` : `${(-cost * 100).toFixed(0)}% above`;
    console.log(
      `${c.system} ${c.mode} ${c.payload}: throughput ${text} the bare peer (target: at most 15% below)${cost > 0.15 ? '  MISSED' : ''}`,
    );
  }
}

runBench({
  title: 'Service bench',
  systems: SYSTEMS,
  baseline: BASELINE,
  serverProc: path.join(here, 'server-proc.js'),
  clientProc: path.join(here, 'client-proc.js'),
  socketIn: 'dir',
  defaultOut: path.join(here, '..', 'results', 'service-latest.json'),
  report,
})
  // Then the memory of an idle instance beside a bare Node process (bench/service/idle-rss.js).
  .then(() => (process.argv.includes('--no-rss') ? undefined : idleRss()))
  .catch((err) => {
    console.error(err?.stack ? err.stack : err);
    process.exitCode = 1;
  });
