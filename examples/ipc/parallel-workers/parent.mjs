// CPU-bound work spread over a pool of 4 child processes, then the same work on one child
// to compare. Run: npm run build && node examples/ipc/parallel-workers/parent.mjs
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { spawnPool } from 'warren/peer';

const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));
const LIMIT = 5_000_000;
// More slices than workers: a worker that finishes early picks up the next slice, so the
// pool stays busy even though slices near LIMIT cost more than those near 0.
const SLICES = 24;

const ranges = Array.from({ length: SLICES }, (_, i) => ({
  from: Math.floor((LIMIT * i) / SLICES),
  to: Math.floor((LIMIT * (i + 1)) / SLICES),
}));

async function countPrimes(workers) {
  const pool = await spawnPool(workers, process.execPath, [WORKER]);
  // spawnPool resolves once the processes exist; a ping per child waits until each has loaded
  // its script, so Node's start-up time stays out of the measurement.
  await Promise.all(pool.peers.map((worker) => worker.request('ping')));
  const started = performance.now();
  // All slices are requested at once; the pool hands each to its least busy child.
  const answers = await Promise.all(ranges.map((range) => pool.request('primes.count', range)));
  const ms = performance.now() - started;
  await pool.close();

  const perWorker = new Map();
  for (const { pid, count, ms: busy } of answers) {
    const w = perWorker.get(pid) ?? { slices: 0, primes: 0, busy: 0 };
    w.slices++;
    w.primes += count;
    w.busy += busy;
    perWorker.set(pid, w);
  }
  const total = answers.reduce((sum, a) => sum + a.count, 0);
  return { ms, total, perWorker };
}

console.log(`counting primes below ${LIMIT.toLocaleString('en-US')} in ${SLICES} slices (${availableParallelism()} CPUs here)`);

const four = await countPrimes(4);
for (const [pid, w] of four.perWorker) {
  console.log(`  worker pid ${pid}: ${w.slices} slices, ${w.primes} primes, busy ${Math.round(w.busy)} ms`);
}
console.log(`4 workers: ${four.total} primes in ${Math.round(four.ms)} ms`);

const one = await countPrimes(1);
console.log(`1 worker: ${one.total} primes in ${Math.round(one.ms)} ms`);

if (one.total !== four.total) throw new Error('the two runs disagree');
// Speed-up tops out at the number of CPUs: four workers on two CPUs take turns.
console.log(`speed-up with 4 workers: ${(one.ms / four.ms).toFixed(2)}x`);
