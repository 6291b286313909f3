// N WebSocket clients that subscribe to 'bench' and count the broadcasts they receive:
//   node fanout-clients.mjs <port> <n> <expected per client>
// Says { ready } once all are subscribed, { done, ms } once every client got every message.
import WebSocket from 'ws';

const [port, n, expected] = process.argv.slice(2).map(Number);
let ready = 0;
let received = 0;
let first = 0;
const total = n * expected;
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['warren.json'], { perMessageDeflate: false });
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.includes('"event":"connected"')) {
      ws.send(JSON.stringify({ event: 'subscribe', channel: 'bench', id: 1 }));
      return;
    }
    if (text.includes('"event":"ack"')) {
      if (++ready === n) process.send({ ready });
      return;
    }
    if (received === 0) first = performance.now();
    if (++received === total) process.send({ done: true, ms: performance.now() - first });
  });
  ws.on('open', () => {
    // A bare ws server says nothing first: the client counts itself ready.
    if (process.argv[5] === 'bare' && ++ready === n) process.send({ ready });
  });
}
process.on('disconnect', () => process.exit(0));
