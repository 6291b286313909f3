// The clients of bench:ws, in a process of their own: N connections to one or more servers, joined to
// room:lobby, each counting the messages it receives.
//   node clients.js <warren|ws|socket.io> <count> <expectedPerClient> <url> [<url> ...]
// Prints {"connected":N} once every client has joined; then {"msgs":total,"ms":first→last} once every
// client has received expectedPerClient messages (0: never, for the idle test); exits on stdin end.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const [system, countArg, expectedArg, ...urls] = process.argv.slice(2);
const count = Number(countArg);
const expected = Number(expectedArg);
const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const CHANNEL = 'room:lobby';
const kept = [];
let received = 0;
let done = 0;
let first = 0;

function onMessage(_, n) {
  if (received++ === 0) first = performance.now();
  if (expected > 0 && n === expected && ++done === count) {
    say({ msgs: received, ms: performance.now() - first });
  }
}

async function open(i) {
  const url = urls[i % urls.length];
  let n = 0;
  const tick = () => onMessage(undefined, ++n);
  if (system === 'warren') {
    const { connect } = await import('../../dist/client/index.js');
    const client = connect(url, { WebSocket, reconnect: false });
    const channel = client.subscribe(CHANNEL);
    channel.on('m', tick);
    await channel.ready;
    kept.push(client);
  } else if (system === 'ws') {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', (data) => {
      JSON.parse(data.toString());
      tick();
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    kept.push(ws);
  } else {
    const { io } = await import('socket.io-client');
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    socket.on('m', tick);
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    kept.push(socket);
  }
}

// In batches, so the server's accept queue is not flooded.
for (let i = 0; i < count; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => open(i + j)));
}
// socket.io joins the room on the server's 'connection': a round trip later than 'connect' may see it.
say({ connected: count });
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
