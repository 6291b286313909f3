// `npm run demo:ipc`: a tour of warren/peer with three worker processes. Every step prints
// what happens; the whole run takes a few seconds and ends with every process gone.
import { fileURLToPath } from 'node:url';
import { isWarrenError, spawnPool } from 'warren/peer';

const WORKER = fileURLToPath(new URL('./demo-worker.mjs', import.meta.url));
const say = (text = '') => console.log(text);
const step = (n, title) => say(`\n${n}. ${title}`);

let config = { greeting: 'hello' };
let acks = [];
let onAck = () => {};
let shuttingDown = false;

say('Warren demo: one parent, three worker processes, one framed channel to each.');

step(1, 'Starting a pool of 3 workers');
const launched = performance.now();
const pool = await spawnPool(3, process.execPath, [WORKER], {
  // Runs for every worker, the first three and any replacement, so a new worker is set up
  // exactly like the ones it replaces.
  onWorker: (worker) => {
    worker.onNotify('config.applied', (ack) => {
      acks.push(ack);
      onAck();
    });
    worker.notify('config', config);
  },
});
pool.on('exit', (worker, exit) => {
  const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
  say(`   pool: worker pid ${worker.pid} ${how}${shuttingDown ? '' : ', the pool will replace it'}`);
});
say(`   workers: ${pool.peers.map((w) => `pid ${w.pid}`).join(', ')}`);
// The pool resolves once the processes exist; the first answer also waits for Node to load the
// worker script, so it is timed apart from the round trips below.
await Promise.all(pool.peers.map((worker) => worker.request('hello')));
say(`   all 3 answering ${Math.round(performance.now() - launched)} ms after launch`);

step(2, 'Requests: each worker says hello');
for (const worker of pool.peers) {
  const started = performance.now();
  const hello = await worker.request('hello');
  say(`   pid ${hello.pid} answered in ${(performance.now() - started).toFixed(1)} ms (up for ${hello.uptimeMs} ms)`);
}

step(3, 'Progress: a worker crunches in 5 steps and reports each one');
const crunched = await pool.request(
  'crunch',
  { steps: 5 },
  { onProgress: ({ step: done, steps }) => say(`   [${'#'.repeat(done)}${'.'.repeat(steps - done)}] step ${done}/${steps}`) },
);
say(`   result from pid ${crunched.pid}: ${crunched.total}`);

step(4, 'Stream: a worker counts to 5, one item at a time');
const counted = [];
for await (const n of await pool.request('count', { to: 5 })) {
  counted.push(n);
  say(`   received ${n}`);
}
say(`   stream ended after ${counted.length} items`);

step(5, 'Broadcast: a notification to every worker changes its greeting');
config = { greeting: 'hola' };
acks = [];
const allApplied = new Promise((resolve) => {
  onAck = () => acks.length === pool.peers.length && resolve();
});
pool.broadcast('config', config);
await allApplied;
for (const ack of acks) say(`   pid ${ack.pid} now greets with '${ack.greeting}'`);
say(`   ${await pool.request('greet', 'Ada')}`);

step(6, 'Timeout: a 3 s job asked to finish within 300 ms');
const stopped = new Promise((resolve) => {
  for (const worker of pool.peers) worker.onNotify('sleep.stopped', resolve);
});
try {
  await pool.request('sleep', 3000, { timeout: 300 });
} catch (err) {
  if (!isWarrenError(err)) throw err;
  say(`   the request failed with ${err.code}: ${err.message}`);
}
const stop = await stopped;
say(`   pid ${stop.pid} was told to stop and did (${stop.reason})`);

step(7, 'Crash: a worker is killed with SIGKILL in the middle of a request');
const victim = pool.peers[1];
const replaced = new Promise((resolve) => pool.on('spawn', resolve));
try {
  // Killed the moment its handler reports it has started, so the request is truly in flight.
  await victim.request('sleep', 10_000, { timeout: 0, onProgress: () => victim.kill('SIGKILL') });
} catch (err) {
  if (!isWarrenError(err)) throw err;
  say(`   the request to pid ${victim.pid} failed with ${err.code}`);
}
const newcomer = await replaced;
say(`   replacement worker pid ${newcomer.pid} started`);
say(`   workers: ${pool.peers.map((w) => `pid ${w.pid}`).join(', ')}`);
say(`   ${await newcomer.request('greet', 'Grace')}`);

step(8, 'Shutting down: each worker finishes, sees its stdin close and exits');
shuttingDown = true;
await pool.close();
say('\nDone: every worker has exited.');
