// One pool worker: counts primes in a range by trial division (deliberately CPU-bound).
import { stdioPeer } from 'warren/peer';

const parent = stdioPeer({ name: 'parent' });

function isPrime(n) {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

parent.onRequest('ping', () => 'pong');

// Synchronous on purpose: while it runs this worker answers nothing else, which is why the
// parent spreads the work over several processes instead of one.
parent.onRequest('primes.count', ({ from, to }) => {
  const started = performance.now();
  let count = 0;
  for (let n = from; n < to; n++) if (isPrime(n)) count++;
  return { pid: process.pid, count, ms: performance.now() - started };
});
