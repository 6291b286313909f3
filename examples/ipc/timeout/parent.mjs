// Giving up on a request: a timeout (WARREN_TIMEOUT) and a cancellation through an AbortSignal
// (WARREN_CANCELLED). In both cases the handler in the child is told, through ctx.signal, so it
// stops working on an answer nobody will read.
// Run: npm run build && node examples/ipc/timeout/parent.mjs
import { fileURLToPath } from 'node:url';
import { isWarrenError, spawnPeer } from 'warren/peer';

const child = await spawnPeer(process.execPath, [fileURLToPath(new URL('./child.mjs', import.meta.url))]);

// The child reports each handler that saw its signal abort, so we can show it here.
const abortedInChild = [];
let onAborted = () => {};
child.onNotify('slow.aborted', (info) => {
  abortedInChild.push(info);
  console.log(`child:  handler for request ${info.id} saw ctx.signal abort (${info.reason}) after ${info.ms} ms`);
  onAborted();
});
const nextAbort = () => new Promise((resolve) => (onAborted = resolve));

async function attempt(label, promise) {
  try {
    console.log(`parent: ${label} -> ${await promise}`);
  } catch (err) {
    if (!isWarrenError(err)) throw err;
    console.log(`parent: ${label} -> rejected with ${err.code}: ${err.message}`);
  }
}

// 1. Fast enough: answered within its timeout.
await attempt('slow(50 ms) with a 2000 ms timeout', child.request('slow', 50, { timeout: 2000 }));

// 2. Too slow: rejected when the timeout fires. The child is sent the same cancel frame as in 3,
// so its handler sees WARREN_CANCELLED: only the caller knows why it gave up.
let aborted = nextAbort();
await attempt('slow(5000 ms) with a 200 ms timeout', child.request('slow', 5000, { timeout: 200 }));
await aborted;

// 3. Cancelled by the caller: aborting the signal rejects at once and cancels the handler. The
// child's 'slow.started' notification tells us it is really working before we pull the plug.
const controller = new AbortController();
let stopListening = () => {};
const started = new Promise((resolve) => (stopListening = child.onNotify('slow.started', resolve)));
aborted = nextAbort();
const cancelled = attempt('slow(5000 ms), then controller.abort()', child.request('slow', 5000, { signal: controller.signal }));
await started;
stopListening();
controller.abort();
await cancelled;
await aborted;

// 4. AbortSignal.timeout() works too; the caller sees WARREN_CANCELLED (the signal's own timeout).
aborted = nextAbort();
await attempt('slow(5000 ms) with AbortSignal.timeout(150)', child.request('slow', 5000, { signal: AbortSignal.timeout(150) }));
await aborted;

console.log(`parent: ${abortedInChild.length} handlers were stopped in the child`);
await child.close();
await child.exited;
