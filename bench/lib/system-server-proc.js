// The body of a benchmark's server child (bench/service, bench/nats): starts one system's server
// in a socket directory and prints one line, "ready" or "skip <reason>"; errors go to stderr with
// exit code 1. Exits on SIGTERM, SIGINT or when stdin ends (so it dies with the orchestrator).

import { parseArgs } from '../ipc/args.js';

/** `getSystem(name)` → { server(dir) → close }; `systems` names them for the usage line. */
export async function runServerProc(getSystem, systems) {
  const args = parseArgs(process.argv.slice(2));
  let close = null;
  let closing = false;

  async function shutdown(code) {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(code), 2000).unref();
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
    if (!args.system || !args.dir) throw new Error(`usage: server-proc.js --system ${systems.join('|')} --dir SOCKET_DIR`);
    close = await getSystem(args.system).server(args.dir);
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
}
