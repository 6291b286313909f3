// The body of a benchmark's client child (bench/service, bench/nats): connects to a running
// server, runs one mode and prints one JSON line,
// {"system","mode","payload","p50_us","p99_us","ops_per_s","ops","seconds"} or {"system","skip":"reason"};
// errors go to stderr with exit code 1. Options: --seconds (5, or BENCH_SECONDS), --warmup 0.5.

import { parseArgs } from '../ipc/args.js';
import { measure } from '../ipc/measure.js';
import { makePayload } from '../ipc/payloads.js';

/** `getSystem(name)` → { client(dir) → { call, close } }; `systems` names them for the usage line. */
export async function runClientProc(getSystem, systems) {
  const args = parseArgs(process.argv.slice(2));
  const seconds = Number(args.seconds ?? process.env.BENCH_SECONDS ?? 5);
  const warmupSeconds = Number(args.warmup ?? 0.5);

  // Watchdog: never outlive the run by much, whatever the system under test does.
  setTimeout(
    () => {
      process.stderr.write(`client-proc ${args.system}: watchdog fired, exiting\n`);
      process.exit(3);
    },
    (seconds + warmupSeconds + 30) * 1000,
  ).unref();

  // Die with the orchestrator: it holds our stdin open.
  process.stdin.on('end', () => process.exit(4));
  process.stdin.on('error', () => process.exit(4));
  process.stdin.resume();

  try {
    if (!args.system || !args.dir || !args.mode || !args.payload) {
      throw new Error(`usage: client-proc.js --system ${systems.join('|')} --dir SOCKET_DIR --mode seq|pipe64 --payload 64B|4KiB`);
    }
    if (!(seconds > 0) || !(warmupSeconds >= 0)) throw new Error(`bad duration: seconds=${seconds} warmup=${warmupSeconds}`);
    const payload = makePayload(args.payload);
    const conn = await getSystem(args.system).client(args.dir);
    const r = await measure(conn.call.bind(conn), payload, args.mode, { seconds, warmupSeconds });
    process.stdout.write(`${JSON.stringify({ system: args.system, mode: args.mode, payload: args.payload, ...r })}\n`);
    await Promise.race([conn.close(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    process.exit(0);
  } catch (err) {
    if (err?.skip) {
      process.stdout.write(`${JSON.stringify({ system: args.system, skip: String(err.message) })}\n`);
      process.exit(0);
    }
    process.stderr.write(`client-proc ${args.system}: ${err?.stack ? err.stack : err}\n`);
    process.exit(1);
  }
}
