// A pretend compiler that reports how far it has got while it works.
import { setTimeout as sleep } from 'node:timers/promises';
import { stdioPeer } from 'warren/peer';

const parent = stdioPeer({ name: 'parent' });

parent.onRequest('build', async ({ files }, ctx) => {
  let lines = 0;
  for (let i = 0; i < files.length; i++) {
    // Stands in for real work on one file.
    await sleep(25);
    lines += 100 + files[i].length * 7;
    // Fire and forget: progress never blocks the handler and is dropped once the request is over.
    ctx.progress({ done: i + 1, total: files.length, file: files[i] });
  }
  return { compiled: files.length, lines };
});
