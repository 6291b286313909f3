// The background worker: a 'job.start' notification starts the job; progress and the result
// go back to the parent as notifications.
import { createHash, randomFillSync } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { stdioPeer } from 'warren/peer';

const parent = stdioPeer({ name: 'parent' });
let state = 'idle';

parent.onRequest('status', () => ({ state }));

parent.onNotify('job.start', ({ job, chunks, bytesPerChunk }) => {
  // Set before the handler returns so a request that follows the notification sees it.
  state = 'running';
  // Not awaited: a notification handler returns at once and the job runs on in the background.
  void runJob(job, chunks, bytesPerChunk);
});

async function runJob(job, chunks, bytesPerChunk) {
  const started = performance.now();
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(bytesPerChunk);
  for (let i = 1; i <= chunks; i++) {
    randomFillSync(chunk);
    hash.update(chunk);
    parent.notify('job.progress', { job, chunk: i, chunks });
    // Let the event loop run between chunks: this is what keeps 'status' answerable.
    await nextTurn();
  }
  state = 'idle';
  parent.notify('job.done', {
    job,
    bytes: chunks * bytesPerChunk,
    ms: Math.round(performance.now() - started),
    digest: hash.digest('hex'),
  });
}
