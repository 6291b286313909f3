// System `naive-proxy`: what a hand-written node:http proxy to a Unix-socket worker looks like —
// one http.request per incoming request through node's global agent (keep-alive since Node 19),
// headers copied, the answer piped back. Prints {"ready":true,"port":N} once listening.
//   node naive-proxy.mjs --upstream <socket path>
import { createServer, request } from 'node:http';

const args = process.argv.slice(2);
const upstream = args[args.indexOf('--upstream') + 1];
if (!upstream || args.indexOf('--upstream') === -1) {
  process.stderr.write('naive-proxy: --upstream <socket path> is required\n');
  process.exit(2);
}

const server = createServer((req, res) => {
  const forward = request({ socketPath: upstream, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  forward.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`bad gateway: ${error.message}\n`);
  });
  req.pipe(forward);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: server.address().port })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => process.exit(0));
