// The worker behind demo.mjs: one process of the pool, talking to the demo over stdin/stdout.
import { setTimeout as sleep } from 'node:timers/promises';
import { stdioPeer } from 'warren/peer';

const parent = stdioPeer({ name: 'demo' });
let greeting = '?';

parent.onRequest('hello', () => ({ pid: process.pid, uptimeMs: Math.round(process.uptime() * 1000) }));
parent.onRequest('greet', (name) => `${greeting} ${name}, from pid ${process.pid}`);

parent.onNotify('config', (config) => {
  greeting = config.greeting;
  parent.notify('config.applied', { pid: process.pid, greeting });
});

parent.onRequest('crunch', async ({ steps }, ctx) => {
  let total = 0;
  for (let step = 1; step <= steps; step++) {
    await sleep(60); // stands in for real work
    total += step * step;
    ctx.progress({ step, steps });
  }
  return { pid: process.pid, total };
});

// A stream: every yielded value reaches the caller's for-await loop as it is produced.
parent.onRequest('count', async function* ({ to }) {
  for (let n = 1; n <= to; n++) {
    await sleep(20);
    yield n;
  }
});

parent.onRequest('sleep', (ms, ctx) => {
  // Tells the caller the job has really begun (the demo kills one worker at that moment).
  ctx.progress('started');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(`slept ${ms} ms`), ms);
    ctx.signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        parent.notify('sleep.stopped', { pid: process.pid, reason: ctx.signal.reason?.code });
        reject(ctx.signal.reason);
      },
      { once: true },
    );
  });
});
