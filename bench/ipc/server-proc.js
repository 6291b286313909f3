// Child entry: starts one system's server on a Unix socket path.
//   node bench/ipc/server-proc.js --system raw-node --path /tmp/warren-bench-XXXX/bench.sock --payload 64B
// stdout protocol (one line): "ready" | "skip <reason>"; errors go to stderr with exit code 1.
// Exits on SIGTERM, SIGINT or when stdin ends (so it dies with the orchestrator).

import { parseArgs } from './args.js';
import { PAYLOAD_SIZES } from './payloads.js';
import { loadSystem } from './systems/index.js';

const args = parseArgs(process.argv.slice(2));
let close = null;
let closing = false;

async function shutdown(code) {
  if (closing) return;
  closing = true;
  const hard = setTimeout(() => process.exit(code), 2000);
  hard.unref();
  try {
    if (close) await close();
  } catch {
    // exiting anyway
  }
  process.exit(code);
}

process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();

try {
  if (!args.system || !args.path) throw new Error('usage: server-proc.js --system NAME --path SOCKET [--payload 64B]');
  const sys = await loadSystem(args.system);
  close = await sys.server(args.path, { name: args.payload, size: PAYLOAD_SIZES[args.payload] });
  process.stdout.write('ready\n');
} catch (err) {
  if (err?.skip) {
    process.stdout.write(`skip ${String(err.message).replace(/\n/g, ' ')}\n`);
    shutdown(0);
  } else {
    process.stderr.write(`server-proc ${args.system}: ${err?.stack ? err.stack : err}\n`);
    shutdown(1);
  }
}
