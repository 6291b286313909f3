// One WebSocket server for the benchmarks, as a child process with an IPC channel:
//   node --expose-gc server-proc.mjs <warren|warren-users|ws>
// Says { port } once listening; answers 'gc' with { rss } after a full GC.
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';
import { startHub } from '../../dist/realtime/index.js';

const system = process.argv[2];
let port;
if (system === 'ws') {
  // A bare ws server as its README shows it, with a heartbeat as any real one needs.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) => {
    ws.isAlive = true;
    ws.on('pong', () => {
      ws.isAlive = true;
    });
    ws.on('message', () => {});
  });
  setInterval(() => {
    for (const ws of wss.clients) {
      if (!ws.isAlive) ws.terminate();
      else {
        ws.isAlive = false;
        ws.ping();
      }
    }
  }, 60_000).unref();
  await new Promise((resolve) => wss.on('listening', resolve));
  port = wss.address().port;
} else {
  let n = 0;
  const hub = await startHub({
    port: 0,
    connectionRate: { perSecond: 0 },
    // warren-users: every connection is a user, so a member of its own user.<id> channel.
    ...(system === 'warren-users' ? { authenticate: () => ({ userId: String(++n) }) } : {}),
  });
  port = hub.port;
}

function rss() {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
}

process.on('message', (message) => {
  if (message === 'gc') {
    global.gc?.();
    global.gc?.();
    setTimeout(() => process.send({ rss: rss() }), 200);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ port });
