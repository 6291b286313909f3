// The plain node:http hello world: system `node-http` (on a TCP port) and the worker behind the
// naive proxy and nginx (on a Unix socket). Prints one JSON line {"ready":true,...} once listening.
//   node hello-node.mjs --port 0          (any free port; the line tells which)
//   node hello-node.mjs --socket <path>
import { createServer } from 'node:http';

const BODY = Buffer.from('hello world\n');
const args = process.argv.slice(2);
const value = (name) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 60_000;

const socket = value('--socket');
const listening = () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ ready: true, port: typeof address === 'string' ? undefined : address.port })}\n`);
};
if (socket !== undefined) server.listen(socket, listening);
else server.listen(Number(value('--port') ?? 0), '127.0.0.1', listening);

for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => process.exit(0));
