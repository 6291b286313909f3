// An echo server on a Unix domain socket, in its own process, serving 20 clients at once.
// Run: npm run build && node examples/ipc/unix-echo-server/main.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectUnix, spawnPeer } from 'warren/peer';

const CLIENTS = 20;
const ECHOES_PER_CLIENT = 50;

// mkdtemp makes the directory 0700, so no other user can reach the socket inside it.
const dir = mkdtempSync(join(tmpdir(), 'warren-echo-'));
const socketPath = join(dir, 'echo.sock');

// The server process is itself a spawned peer: its stdin/stdout are a control channel to this
// process, separate from the socket its clients use.
const server = await spawnPeer(process.execPath, [fileURLToPath(new URL('./server.mjs', import.meta.url))]);
await server.request('listen', { path: socketPath });
console.log(`server pid ${server.pid} listening on ${socketPath}`);

const started = performance.now();
const results = await Promise.all(
  Array.from({ length: CLIENTS }, async (_, client) => {
    const peer = await connectUnix(socketPath);
    // All 50 echoes go out at once on one connection; ids match each answer to its question.
    const answers = await Promise.all(
      Array.from({ length: ECHOES_PER_CLIENT }, (_, seq) => {
        const message = { client, seq, text: `client ${client} says ${seq}` };
        return peer.request('echo', message).then((echo) => echo.client === client && echo.seq === seq && echo.text === message.text);
      }),
    );
    await peer.close();
    return { echoed: answers.length, wrong: answers.filter((ok) => !ok).length };
  }),
);
const ms = performance.now() - started;

const echoed = results.reduce((sum, r) => sum + r.echoed, 0);
const wrong = results.reduce((sum, r) => sum + r.wrong, 0);
console.log(`${CLIENTS} clients sent ${echoed} echoes in ${Math.round(ms)} ms, ${wrong} came back wrong`);

const stats = await server.request('stats');
console.log(`server saw ${stats.connections} connections (${stats.maxOpen} open at once) and answered ${stats.echoes} echoes`);

// Ending the control channel tells the server to stop listening and exit.
await server.close();
const exit = await server.exited;
rmSync(dir, { recursive: true, force: true });
console.log(`server exited with code ${exit.code}; socket directory removed`);
if (wrong > 0 || echoed !== CLIENTS * ECHOES_PER_CLIENT) process.exitCode = 1;
