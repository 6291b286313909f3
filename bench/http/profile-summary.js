// Where a process's time went, from a .cpuprofile written by `node --cpu-prof`: the samples (after
// --from seconds, to leave the warm-up out) grouped into kernel writes, node's HTTP server, the
// Warren client, msgpackr, GC, idle, … Used on the gateway of `npm run bench:http`:
//   BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/http/run.js --systems warren-gateway
//   node bench/http/profile-summary.js /tmp/prof/*.cpuprofile --from 10
// (one summary per file; the first line says whether the process ran the gateway's code).
import fs from 'node:fs';
import { parseArgs } from '../ipc/args.js';

const argv = process.argv.slice(2);
const files = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1] === '--from'));
if (files.length === 0) {
  console.error('usage: node bench/http/profile-summary.js <file.cpuprofile>… [--from seconds]');
  process.exit(2);
}
const from = Number(parseArgs(argv.filter((a) => !files.includes(a))).from ?? 0);
for (const file of files) summarize(file);

function summarize(file) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isGateway = profile.nodes.some((n) => n.callFrame.url.includes('/dist/gateway/'));

  /** The group of one sample, from its own frame and, for kernel writes, who made them. */
  function group(id) {
    const { functionName: fn, url } = byId.get(id).callFrame;
    if (fn === '(idle)') return 'idle';
    if (fn === '(garbage collector)') return 'GC';
    if (fn === 'writev' || fn === 'writeBuffer' || fn === 'writeUtf8String' || fn === 'writeLatin1String') {
      for (let cur = parent.get(id); cur !== undefined; cur = parent.get(cur)) {
        if (/_http_(outgoing|server)/.test(byId.get(cur).callFrame.url)) return 'kernel: HTTP answer writes (TCP)';
      }
      return 'kernel: other writes (in the gateway: to the service, Unix socket)';
    }
    if (url.includes('msgpackr')) return 'msgpackr';
    if (url.includes('/dist/gateway/')) return 'gateway pipeline (dist/gateway)';
    if (url.includes('/dist/')) return 'Warren client, peer, wire (dist/chunks)';
    if (/_http|internal\/http/.test(url)) return "node's HTTP server";
    if (/node:net|streams|stream_base/.test(url)) return "node's net and streams";
    if (url.includes('crypto')) return 'crypto (request ids)';
    if (url === '') return `native: ${fn}`;
    return 'other JS';
  }

  const counts = new Map();
  let t = profile.startTime;
  const start = profile.startTime + from * 1e6;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    if (t < start) continue;
    total++;
    const g = group(profile.samples[i]);
    counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  const busy = total - (counts.get('idle') ?? 0);
  console.log(`\n${file}: ${isGateway ? 'the gateway' : 'not the gateway (no dist/gateway code)'}`);
  console.log(`${total} samples after ${from} s, ${busy} busy (${((100 * busy) / total).toFixed(1)}%)`);
  for (const [g, c] of [...counts].sort((a, b) => b[1] - a[1])) {
    if (g === 'idle' || (100 * c) / busy < 0.5) continue;
    console.log(`${((100 * c) / busy).toFixed(1).padStart(5)}% of busy  ${g}`);
  }
}
