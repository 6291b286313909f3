// A worker process that runs a long job in the background: the parent starts it with a
// notification (fire and forget), hears progress as notifications, and is told when it is done.
// Run: npm run build && node examples/ipc/background-worker/parent.mjs
import { fileURLToPath } from 'node:url';
import { spawnPeer } from 'warren/peer';

const worker = await spawnPeer(process.execPath, [fileURLToPath(new URL('./worker.mjs', import.meta.url))]);
console.log(`parent: started worker pid ${worker.pid}`);

worker.onNotify('job.progress', ({ job, chunk, chunks }) => {
  console.log(`parent: job ${job} progress ${chunk}/${chunks}`);
});
// The job's end is a notification too, so turn it into a promise the parent can await.
const done = new Promise((resolve) => worker.onNotify('job.done', resolve));

// A notification has no response: the parent goes on at once while the worker works.
worker.notify('job.start', { job: 'checksum', chunks: 8, bytesPerChunk: 4 * 1024 * 1024 });
console.log('parent: asked the worker to start the job, not waiting for it');

// The worker yields between chunks, so it still answers requests while the job runs.
const status = await worker.request('status');
console.log(`parent: asked mid-job, the worker says it is ${status.state}`);

const result = await done;
console.log(`parent: job ${result.job} done: ${result.bytes} bytes hashed in ${result.ms} ms, sha256 ${result.digest.slice(0, 16)}…`);

const after = await worker.request('status');
console.log(`parent: the worker is now ${after.state}`);

await worker.close();
const exit = await worker.exited;
console.log(`parent: worker exited with code ${exit.code}`);
