// The child side: started by parent.mjs, it talks to its parent over stdin/stdout.
import { stdioPeer } from 'warren/peer';

// stdout carries the frames, so anything meant for a human goes to stderr.
const parent = stdioPeer({ name: 'parent' });

parent.onRequest('add', ({ a, b }) => a + b);
parent.onRequest('multiply', ({ a, b }) => a * b);
parent.onRequest('upper', (text) => text.toUpperCase());

parent.onRequest('divide', ({ a, b }) => {
  if (b === 0) throw Object.assign(new Error('cannot divide by zero'), { code: 'DIVIDE_BY_ZERO' });
  return a / b;
});

parent.onRequest('greet', async () => {
  const name = await parent.request('whoami');
  return `hello ${name}, from child pid ${process.pid}`;
});

// When the parent closes our stdin the peer closes; with nothing left to do, the process exits.
parent.on('close', () => console.error(`child ${process.pid}: parent hung up, exiting`));
