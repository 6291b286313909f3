// One WebSocket server for the benchmarks, as a child process with an IPC channel:
//   node --expose-gc server-proc.mjs <warren|warren-users|ws>
// Says { port } once listening; answers 'gc' with { rss } after a full GC.
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';
import { startHub } from '../../dist/realtime/index.js';

const system = process.argv[2];
let port;
let fanout;
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
  // A ws broadcast as its README shows it: the message made once, sent to each client.
  fanout = (count, size) => {
    for (let i = 0; i < count; i++) {
      const message = JSON.stringify({ event: 'm', channel: 'bench', data: 'x'.repeat(size), offset: i + 1 });
      for (const ws of wss.clients) ws.send(message);
    }
  };
} else {
  let n = 0;
  const hub = await startHub({
    port: 0,
    connectionRate: { perSecond: 0 },
    // warren-users: every connection is a user, so a member of its own user.<id> channel.
    ...(system === 'warren-users' ? { authenticate: () => ({ userId: String(++n) }) } : {}),
  });
  port = hub.port;
  fanout = (count, size) => {
    for (let i = 0; i < count; i++) hub.to('bench').emit('m', 'x'.repeat(size));
  };
}

function rss() {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
}

process.on('message', (message) => {
  if (message?.fanout) {
    // The server's own time to hand every message to every socket (synchronous: encode, frame, write).
    const start = performance.now();
    fanout(message.fanout.count, message.fanout.size);
    process.send({ serverMs: performance.now() - start });
  }
  if (message === 'gc') {
    global.gc?.();
    global.gc?.();
    setTimeout(() => process.send({ rss: rss() }), 200);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ port });
