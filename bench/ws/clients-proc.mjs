// Opens N idle WebSocket connections to a server and keeps them open:
//   node clients-proc.mjs <port> <n>
// Says { open: n } once all are open.
import WebSocket from 'ws';

const [port, n] = process.argv.slice(2).map(Number);
const sockets = [];
let open = 0;
const CONCURRENCY = 100;
let next = 0;
function connect() {
  if (next >= n) return;
  next++;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on('open', () => {
    open++;
    if (open === n) process.send({ open });
    connect();
  });
  ws.on('error', (error) => {
    process.send({ error: error.message });
    process.exit(1);
  });
}
for (let i = 0; i < CONCURRENCY; i++) connect();
process.on('disconnect', () => process.exit(0));
