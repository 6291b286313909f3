// The measuring loops, run in the client process. Every loop stops on a deadline AND on
// an operation count, whichever comes first.

const hr = process.hrtime.bigint;

/** A growable Float64Array of latencies in nanoseconds. */
class Samples {
  constructor() {
    this.buf = new Float64Array(1 << 16);
    this.n = 0;
  }
  push(ns) {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = ns;
  }
  sorted() {
    return this.buf.subarray(0, this.n).sort();
  }
}

/** Nearest-rank percentile of a sorted array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[idx];
}

/**
 * Runs `concurrency` request loops against `call(payload)` for `seconds` (or `maxOps`
 * operations), checking every answer. Returns { ops, elapsedNs, samples }.
 */
async function runLoops(call, payload, concurrency, seconds, maxOps, samples) {
  const start = hr();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let started = 0;
  let completed = 0;
  let bad = 0;
  async function worker() {
    let now = hr();
    while (now < deadline && started < maxOps) {
      started++;
      const t0 = now;
      const res = await call(payload);
      now = hr();
      completed++;
      if (res !== payload) bad++;
      if (samples !== null) samples.push(Number(now - t0));
    }
  }
  const workers = [];
  for (let i = 0; i < concurrency; i++) workers.push(worker());
  await Promise.all(workers);
  const elapsedNs = Number(hr() - start);
  if (bad > 0) throw new Error(`${bad} of ${completed} answers differed from the payload`);
  return { ops: completed, elapsedNs };
}

export const MODES = { seq: 1, pipe64: 64 };

/**
 * Warm up, then measure. Returns { p50_us, p99_us, ops_per_s, ops, seconds }.
 */
export async function measure(call, payload, mode, { seconds = 5, warmupSeconds = 0.5, maxOpsPerSecond = 5e6 } = {}) {
  const concurrency = MODES[mode];
  if (concurrency === undefined) throw new Error(`unknown mode ${mode} (known: ${Object.keys(MODES).join(', ')})`);
  // Sanity check before anything else: one round trip must echo the payload.
  const first = await call(payload);
  if (first !== payload) throw new Error(`echo mismatch: sent ${payload.length} chars, got ${String(first).slice(0, 40)}…`);
  await runLoops(call, payload, concurrency, warmupSeconds, Math.ceil(warmupSeconds * maxOpsPerSecond), null);
  const samples = new Samples();
  const { ops, elapsedNs } = await runLoops(call, payload, concurrency, seconds, Math.ceil(seconds * maxOpsPerSecond), samples);
  const sorted = samples.sorted();
  return {
    p50_us: percentile(sorted, 0.5) / 1e3,
    p99_us: percentile(sorted, 0.99) / 1e3,
    ops_per_s: ops / (elapsedNs / 1e9),
    ops,
    seconds: elapsedNs / 1e9,
  };
}
