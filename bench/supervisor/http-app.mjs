// The tiny HTTP app of bench/supervisor/http-reload.js, run unchanged under Warren (`port`) and
// PM2 (cluster mode): listens on process.env.PORT and handles no signal, as most apps do.
import { createServer } from 'node:http';

createServer((_req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`${process.pid}\n`);
}).listen(process.env.PORT);
