// Request/response both ways between a parent and a child process.
// Run: npm run build && node examples/ipc/request-response/parent.mjs
import { fileURLToPath } from 'node:url';
import { spawnPeer } from 'warren/peer';

const child = await spawnPeer(process.execPath, [fileURLToPath(new URL('./child.mjs', import.meta.url))]);
console.log(`parent: spawned child pid ${child.pid}`);

// Registered right after the spawn, before any event-loop turn, so no request from the child
// can arrive before its handler exists.
child.onRequest('whoami', () => {
  console.log('parent: the child asked who I am');
  return `parent pid ${process.pid}`;
});

const sum = await child.request('add', { a: 2, b: 3 });
console.log(`parent: add(2, 3) = ${sum}`);

const shout = await child.request('upper', 'hello warren');
console.log(`parent: upper('hello warren') = '${shout}'`);

// The child's 'greet' handler calls back into the parent before it answers: requests nest freely.
const greeting = await child.request('greet');
console.log(`parent: greet() = '${greeting}'`);

// A handler that throws rejects the caller's promise; the error's code crosses the wire.
try {
  await child.request('divide', { a: 1, b: 0 });
} catch (err) {
  console.log(`parent: divide(1, 0) failed with ${err.code}: ${err.message}`);
}

// Several requests can be in flight at once; responses are matched to requests by id.
const squares = await Promise.all([1, 2, 3, 4, 5].map((n) => child.request('multiply', { a: n, b: n })));
console.log(`parent: squares in parallel = ${squares.join(', ')}`);

// close() waits for pending requests, then ends the child's stdin: the child exits by itself.
await child.close();
const exit = await child.exited;
console.log(`parent: child exited with code ${exit.code}`);
