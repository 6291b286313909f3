// One server of bench:ws, in its own process so that its RSS is its own.
//   node --expose-gc server.js <warren|warren-redis|warren-nats|ws|socket.io|socket.io-redis> [port]
// Prints {"ready":true,"port":N}; then reads commands on stdin, one per line:
//   rss                  -> {"rss":bytes} after a full GC
//   broadcast <n> <size> -> sends n messages of size bytes to every client of room:lobby, then {"sent":n}
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { setImmediate as nextTurn } from 'node:timers/promises';

const [system, portArg] = process.argv.slice(2);
const port = Number(portArg ?? 0);
const CHANNEL = 'room:lobby';
const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

/** Each system's broadcast of one message to the channel, and its listening port. */
async function start() {
  if (system === 'warren' || system === 'warren-redis' || system === 'warren-nats') {
    const { startHub } = await import('../../dist/realtime/index.js');
    const seams = {};
    if (system === 'warren-redis') {
      // Both hubs of the pair on one Redis, under a prefix of this run's own.
      const { RedisBroadcaster, RedisRegistry } = await import('../../dist/realtime/redis/index.js');
      const url = 'redis://127.0.0.1:6379';
      const prefix = `bench:ws:${process.env.BENCH_WS_RUN ?? process.ppid}:`;
      seams.broadcaster = new RedisBroadcaster({ url, prefix });
      await seams.broadcaster.ready();
      seams.registry = new RedisRegistry({ url, prefix });
    }
    if (system === 'warren-nats') {
      // Both hubs of the pair on one NATS (NATS_URL, else 127.0.0.1:4222), under a prefix of this run's own.
      const { NatsBroadcaster } = await import('../../dist/realtime/nats/index.js');
      seams.broadcaster = new NatsBroadcaster({ prefix: `bench.ws.${process.env.BENCH_WS_RUN ?? process.ppid}` });
      await seams.broadcaster.ready();
    }
    // The per-IP handshake rate is off: every bench client comes from 127.0.0.1.
    const hub = await startHub({ port, connectionRate: { perSecond: 0 }, ...seams });
    return { port: hub.port, emit: (data) => hub.to(CHANNEL).emit('m', data) };
  }
  if (system === 'ws') {
    const { WebSocketServer } = await import('ws');
    const server = createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
    // Encoded once, the same string written to every client: the plain ws way.
    return {
      port: server.address().port,
      emit: (data) => {
        const text = JSON.stringify({ event: 'm', channel: CHANNEL, data });
        for (const client of wss.clients) client.send(text);
      },
    };
  }
  const { Server } = await import('socket.io');
  const server = createServer();
  const io = new Server(server, { transports: ['websocket'], serveClient: false, perMessageDeflate: false });
  if (system === 'socket.io-redis') {
    const { createAdapter } = await import('@socket.io/redis-adapter');
    const { Redis } = await import('ioredis');
    const pub = new Redis('redis://127.0.0.1:6379');
    io.adapter(createAdapter(pub, pub.duplicate()));
  } else if (system !== 'socket.io') throw new Error(`unknown system ${system}`);
  io.on('connection', (socket) => socket.join(CHANNEL));
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port: server.address().port, emit: (data) => io.to(CHANNEL).emit('m', data) };
}

const { port: listening, emit } = await start();
say({ ready: true, port: listening });
for await (const line of createInterface({ input: process.stdin })) {
  const [command, ...args] = line.trim().split(' ');
  if (command === 'rss') {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    await nextTurn();
    say({ rss: process.memoryUsage().rss });
  } else if (command === 'broadcast') {
    const [count, size] = args.map(Number);
    const text = 'x'.repeat(size);
    // A turn of the event loop every 10 messages, for every system alike, so sockets get written.
    for (let i = 1; i <= count; i++) {
      emit({ i, text });
      if (i % 10 === 0) await nextTurn();
    }
    say({ sent: count });
  }
}
process.exit(0);
