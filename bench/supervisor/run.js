// `npm run bench:supervisor`: what the supervisor costs and keeps.
//
// 1. Crash to ready: an instance is killed with SIGKILL; time until its successor says it is
//    ready (restart delay 0), beside the floor, a bare `spawn` of the same service file until
//    its ready message. Repeated BENCH_RESTARTS times (10); median and worst.
// 2. Rolling reload under load: a 2-instance service, 64 concurrent callers through one
//    ServiceClient calling POST /echo, while the supervisor reloads it BENCH_RELOADS times (3)
//    one after the other. Counts calls served and failed (the goal is zero failed) and the
//    throughput during reloads against the same load without them.
// 1b. Crash to serving again: from the SIGKILL until a call is answered by the new process, with
//    `standby: 1` (a warmed-up standby takes over) and `standby: 0` (bench/supervisor/standby.js).
// 4. An arbitrary HTTP app reloaded under load (bench/supervisor/http-reload.js): the same tiny
//    app with 2 instances on one port, Warren's `port` against PM2's cluster mode, 32 keep-alive
//    callers for BENCH_HTTP_SECONDS (5) while one reload runs; failed requests and p99 latency.
// 3. CLI start-up: `warren --version` and `warren status` beside `pm2 --version` and `pm2 ls`
//    (bench/supervisor/cli-startup.js), median of BENCH_CLI_RUNS (10), and `node -e 0`.
//
// Both are measured for Warren's Supervisor and, in the same run, for PM2 (the devDependency,
// through its programmatic API) running the same echo-service.mjs in fork mode through the thin
// wrapper pm2-echo.mjs (instance number, and the 'ready' message PM2's wait_ready expects):
// 1. PM2 with wait_ready, restart_delay 0, autorestart; the PM2-managed pid is killed with
//    SIGKILL; time until PM2 reports the successor online on its bus (see pm2CrashToReady).
// 2. 2 PM2 instances, the same 64 callers through the same ServiceClient, `pm2.reload` called
//    BENCH_RELOADS times. PM2's zero-downtime reload exists only in cluster mode (a port shared
//    through the master); a Unix-socket service runs in fork mode, where reload restarts each
//    instance in turn (stop, then start and wait for ready): this is what is measured.
//
// Writes bench/results/supervisor-latest.json (Warren under the original keys, PM2 under `pm2`).
// Everything runs on loopback Unix sockets in a fresh temporary directory; PM2_HOME is a folder
// inside it (never ~/.pm2), and every process started, the PM2 daemon included, is stopped at
// the end, on failure and when the watchdog fires too.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { pm2CliStartup, warrenCliStartup } from './cli-startup.js';
import { pm2HttpReload, warrenHttpReload } from './http-reload.js';
import { crashToServing } from './standby.js';

const { ServiceClient } = await import('warren/service');
const { Supervisor, parseConfig } = await import('warren/supervisor');

const entry = fileURLToPath(new URL('./echo-service.mjs', import.meta.url));
const pm2Entry = fileURLToPath(new URL('./pm2-echo.mjs', import.meta.url));
const restarts = Number(process.env.BENCH_RESTARTS ?? 10);
const reloads = Number(process.env.BENCH_RELOADS ?? 3);
const cliRuns = Number(process.env.BENCH_CLI_RUNS ?? 10);
const loadSeconds = Number(process.env.BENCH_SECONDS ?? 5);
const httpSeconds = Number(process.env.BENCH_HTTP_SECONDS ?? 5);
const httpConcurrency = Number(process.env.BENCH_HTTP_CONCURRENCY ?? 32);
const outFile = fileURLToPath(new URL('../results/supervisor-latest.json', import.meta.url));

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-bench-sup-'));
const socketDir = path.join(base, 'run');
const pm2SocketDir = path.join(base, 'pm2-run');
const pm2Home = path.join(base, 'pm2-home');
const pm2App = 'echo';

// PM2 reads PM2_HOME when it is first loaded: set it (and keep PM2 quiet and off the network:
// no banner, no version check) before the import. The daemon and its apps inherit this env.
process.env.PM2_HOME = pm2Home;
process.env.PM2_DISABLE_VERSION_CHECK = 'true';
process.env.PM2_PROGRAMMATIC = 'true';
const pm2 = (await import('pm2')).default;
const pm2Version = JSON.parse(fs.readFileSync(fileURLToPath(import.meta.resolve('pm2/package.json')), 'utf8')).version;

/** Calls a callback-style PM2 API method as a promise. */
const pm2Call = (method, ...args) =>
  new Promise((resolve, reject) => pm2[method](...args, (error, value) => (error ? reject(error) : resolve(value))));

/** Rejects after `ms` unless `promise` settled first. */
const within = (promise, ms, what) => {
  let timer;
  return Promise.race([
    promise,
    new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

let pm2Started = false;
let pm2Stopped = false;
/** Pids of the service processes PM2 started (from their ready messages): killed if still there. */
const pm2Pids = new Set();

/** SIGKILLs a pid if it is still one of ours (its command line names one of `marks`): never a stranger. */
function killIfOurs(pid, marks) {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (marks.some((mark) => cmdline.includes(mark))) process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** Last resort, synchronous: the daemon (from its pid file) and the services it started. */
function pm2HardKill() {
  if (!pm2Started) return;
  try {
    killIfOurs(Number(fs.readFileSync(path.join(pm2Home, 'pm2.pid'), 'utf8')), ['PM2', 'pm2/lib/Daemon']);
  } catch {
    // No pid file: no daemon.
  }
  // PM2 renames its children `node <script>`; before that they are node ProcessContainerFork.js.
  // Cluster mode (the HTTP app): node ProcessContainer.js, then `node <script>`.
  for (const pid of pm2Pids) killIfOurs(pid, ['pm2-echo', 'ProcessContainer', 'http-app']);
}

/** Stops the PM2 daemon and everything it runs; idempotent, never throws, bounded in time. */
async function stopPm2() {
  if (!pm2Started || pm2Stopped) return;
  pm2Stopped = true;
  // The bus first: once the daemon is gone, its socket would keep trying to reconnect and keep
  // this process alive.
  try {
    await within(new Promise((resolve) => pm2.Client.disconnectBus(() => resolve())), 2_000, 'pm2 bus disconnect');
  } catch {
    // Closed or closing already.
  }
  // The daemon closes its RPC server before it tells this process (SIGQUIT) that it is going:
  // PM2's client socket (axon) sees the close first and schedules a reconnect, which then kept
  // this process alive for seconds after the end. A retry timeout of 0 means: no reconnect.
  const rpc = pm2.Client?.client_sock;
  if (rpc?.set) {
    rpc.set('retry timeout', 0);
    rpc.retry = 0;
  }
  try {
    await within(pm2Call('killDaemon'), 20_000, 'pm2.killDaemon');
  } catch (error) {
    console.error(`bench supervisor: ${error.message}; killing the PM2 daemon by pid`);
    try {
      pm2.disconnect();
    } catch {
      // Already closed.
    }
  }
  pm2HardKill();
}

process.once('exit', pm2HardKill);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`bench supervisor: ${signal}, stopping`);
    void stopPm2().finally(() => {
      fs.rmSync(base, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

// A watchdog: never outlive a stuck run, and never leave the PM2 daemon behind.
const watchdog = setTimeout(
  () => {
    console.error('bench supervisor: watchdog fired');
    void stopPm2().finally(() => {
      fs.rmSync(base, { recursive: true, force: true });
      process.exit(3);
    });
  },
  (restarts * 20 + reloads * 60 + loadSeconds * 8 + cliRuns * 12 + httpSeconds * 4 + 180) * 1000,
);
watchdog.unref();

const median = (xs) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[Math.floor(xs.length / 2)];
const ms = (ns) => Math.round(Number(ns) / 1e4) / 100;
// Math.max throws on BigInt (hrtime.bigint() durations).
const max = (xs) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).at(-1);

/** The floor: a bare spawn of the service until its ready message. */
async function bareStart() {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, WARREN_SOCKET_DIR: socketDir, WARREN_INSTANCE: '90' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`bare service exited with ${code}`)));
  });
  const elapsed = process.hrtime.bigint() - started;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return elapsed;
}

function supervisorWith(instances, onEvent) {
  const config = parseConfig(
    {
      socketDir,
      services: [
        { name: 'echo', entry, instances, restart: { minDelayMs: 0, maxDelayMs: 0, maxUnstableRestarts: 1000, stableAfterMs: 0 } },
      ],
    },
    { baseDir: base, env: {} },
  );
  return new Supervisor(config, {
    output: { event: (level, service, instance, msg) => onEvent?.(level, service, instance, msg), line: () => {} },
  });
}

async function crashToReady() {
  const bare = [];
  for (let i = 0; i < restarts; i++) bare.push(await bareStart());
  let wake = null;
  const supervisor = supervisorWith(1, (_level, _service, _instance, msg) => {
    if (msg.startsWith('ready')) wake?.();
  });
  await supervisor.start();
  const times = [];
  try {
    for (let i = 0; i < restarts; i++) {
      const pid = supervisor.status().services[0].instances[0].pid;
      const ready = new Promise((resolve) => {
        wake = resolve;
      });
      const killed = process.hrtime.bigint();
      process.kill(pid, 'SIGKILL');
      await ready;
      times.push(process.hrtime.bigint() - killed);
    }
  } finally {
    await supervisor.stop();
  }
  return {
    bare_ms: { median: ms(median(bare)), max: ms(max(bare)) },
    supervisor_ms: { median: ms(median(times)), max: ms(max(times)) },
    restarts,
  };
}

/** Warren's CLI start-up (`--version`, and `status` against a running supervisor). */
async function warrenCli() {
  const supervisor = supervisorWith(1);
  await supervisor.start();
  try {
    return await warrenCliStartup(socketDir, cliRuns);
  } finally {
    await supervisor.stop();
  }
}

/** 64 callers for `seconds`, while `during()` runs; counts served and failed calls. */
async function load(seconds, during, dir = socketDir) {
  const client = new ServiceClient({ socketDir: dir, timeout: 10_000 });
  const echo = client.service('echo');
  const payload = { n: 1, text: 'x'.repeat(48) };
  let served = 0;
  let failed = 0;
  const failures = new Map();
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const res = await echo.post('/echo', payload);
        if (res.status === 200) served++;
        else {
          failed++;
          failures.set(`status ${res.status}`, (failures.get(`status ${res.status}`) ?? 0) + 1);
        }
      } catch (error) {
        failed++;
        const key = error?.code ?? String(error);
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
    }
  };
  const started = process.hrtime.bigint();
  const workers = Array.from({ length: 64 }, worker);
  const deadline = new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await Promise.all([deadline, during?.()]);
  running = false;
  await Promise.all(workers);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  client.close();
  return {
    served,
    failed,
    failures: Object.fromEntries(failures),
    ops_per_s: Math.round(served / elapsed),
    seconds: Math.round(elapsed * 100) / 100,
  };
}

async function reloadUnderLoad() {
  const supervisor = supervisorWith(2);
  await supervisor.start();
  try {
    const steady = await load(loadSeconds);
    let done = 0;
    const reloading = await load(loadSeconds, async () => {
      for (let i = 0; i < reloads; i++) {
        await supervisor.reload('echo');
        done++;
      }
    });
    return { steady, reloading: { ...reloading, reloads: done } };
  } finally {
    await supervisor.stop();
  }
}

/** The PM2 app: the same service file (through pm2-echo.mjs) in fork mode, settings as Warren's. */
function pm2AppOptions(instances) {
  return {
    name: pm2App,
    script: pm2Entry,
    exec_mode: 'fork',
    instances,
    wait_ready: true,
    listen_timeout: 10_000,
    autorestart: true,
    restart_delay: 0,
    // Warren's run allows 1000 unstable restarts and calls no uptime unstable; so does this one
    // (PM2's defaults, 16 restarts under 1 s of uptime, would stop the app mid-run).
    max_restarts: 1000,
    min_uptime: 0,
    env: { WARREN_SOCKET_DIR: pm2SocketDir },
  };
}

/** Connects to a fresh PM2 daemon in PM2_HOME, with its bus. */
async function startPm2() {
  fs.mkdirSync(pm2Home, { recursive: true });
  pm2Started = true;
  await within(pm2Call('connect'), 30_000, 'pm2.connect');
  const bus = await within(pm2Call('launchBus'), 10_000, 'pm2.launchBus');
  return bus;
}

/**
 * Crash to ready under PM2.
 *
 * What is timed, from the SIGKILL: until PM2's bus delivers the `process:event` 'online' of the
 * app, which PM2 (with wait_ready) emits only once the new process has sent 'ready', i.e. PM2
 * itself saying "the successor is online and ready". That is what Warren's number is: until
 * its supervisor reports the successor ready, which it does on the instance's ready message.
 * Also recorded: until the successor's own {warren:'ready'} message (the one Warren counts on)
 * reached this process through the bus; 'online' comes after it, the difference being PM2's
 * handling of the 'ready' that follows. Both pass through PM2's daemon and its bus (a Unix
 * socket), a hop Warren's in-process supervisor does not have: that is how PM2 is used (the
 * CLI and the API both talk to the daemon), so it is part of PM2's number. Polling
 * pm2.describe for a pid change, the other way, would add its own polling interval and RPC
 * round trips; it is only used, untimed, to check each iteration (new pid, status online).
 */
async function pm2CrashToReady(bus) {
  let waiter = null;
  bus.on('process:msg', (packet) => {
    const raw = packet?.raw;
    if (packet?.process?.name !== pm2App || raw?.warren !== 'ready') return;
    pm2Pids.add(raw.pid);
    waiter?.saidReady(raw.pid);
  });
  bus.on('process:event', (packet) => {
    if (packet?.process?.name === pm2App && packet.event === 'online') waiter?.online();
  });

  // The floor again, next to PM2's run: on a busy machine it drifts between the two systems' runs.
  const bare = [];
  for (let i = 0; i < restarts; i++) bare.push(await bareStart());
  await within(pm2Call('start', pm2AppOptions(1)), 30_000, 'pm2.start');
  const times = [];
  const saidReady = [];
  try {
    for (let i = 0; i < restarts; i++) {
      const [before] = await pm2Call('describe', pm2App);
      const oldPid = before.pid;
      if (!oldPid || before.pm2_env.status !== 'online') throw new Error(`PM2 app not online: ${before.pm2_env.status}`);
      let killed = 0n;
      let newPid = 0;
      let said = 0n;
      const done = new Promise((resolve) => {
        waiter = {
          saidReady: (pid) => {
            if (pid !== oldPid && !said) {
              said = process.hrtime.bigint();
              newPid = pid;
            }
          },
          online: () => {
            if (said) resolve(process.hrtime.bigint());
          },
        };
      });
      killed = process.hrtime.bigint();
      process.kill(oldPid, 'SIGKILL');
      const online = await within(done, 15_000, 'PM2 restart after SIGKILL');
      waiter = null;
      times.push(online - killed);
      saidReady.push(said - killed);
      const [after] = await pm2Call('describe', pm2App);
      if (after.pid !== newPid || after.pm2_env.status !== 'online') {
        throw new Error(`PM2 reported pid ${after.pid} (${after.pm2_env.status}), the successor said ready as ${newPid}`);
      }
    }
  } finally {
    waiter = null;
    await within(pm2Call('delete', pm2App), 20_000, 'pm2.delete');
  }
  return {
    supervisor_ms: { median: ms(median(times)), max: ms(max(times)) },
    said_ready_ms: { median: ms(median(saidReady)), max: ms(max(saidReady)) },
    bare_ms_alongside: { median: ms(median(bare)), max: ms(max(bare)) },
    restarts,
  };
}

/** The rolling reload under load for PM2: `pm2.reload` (fork mode: a restart of each in turn). */
async function pm2ReloadUnderLoad() {
  await within(pm2Call('start', pm2AppOptions(2)), 30_000, 'pm2.start');
  try {
    // Each instance on its own socket (NODE_APP_INSTANCE mapped to WARREN_INSTANCE by pm2-echo.mjs).
    const sockets = fs.readdirSync(pm2SocketDir).filter((name) => name.endsWith('.sock'));
    if (!sockets.includes('echo.0.sock') || !sockets.includes('echo.1.sock')) {
      throw new Error(`PM2 instances: expected echo.0.sock and echo.1.sock, found ${sockets.join(', ')}`);
    }
    const pidsBefore = (await pm2Call('describe', pm2App)).map((proc) => proc.pid);
    const steady = await load(loadSeconds, undefined, pm2SocketDir);
    let done = 0;
    const reloading = await load(
      loadSeconds,
      async () => {
        for (let i = 0; i < reloads; i++) {
          await within(pm2Call('reload', pm2App), 60_000, 'pm2.reload');
          done++;
        }
      },
      pm2SocketDir,
    );
    // Check that each reload did replace both processes (untimed).
    const procs = await pm2Call('describe', pm2App);
    if (procs.some((proc) => pidsBefore.includes(proc.pid) || proc.pm2_env.status !== 'online')) {
      throw new Error(`PM2 reload left ${JSON.stringify(procs.map((proc) => [proc.pid, proc.pm2_env.status]))}, before ${pidsBefore}`);
    }
    return { steady, reloading: { ...reloading, reloads: done, restart_time: procs.map((proc) => proc.pm2_env.restart_time) } };
  } finally {
    await within(pm2Call('delete', pm2App), 20_000, 'pm2.delete');
  }
}

/** One line for an HTTP reload run. */
function describeHttp(r) {
  const failures = r.failed ? ` ${JSON.stringify(r.failures)}` : '';
  return (
    `${r.served} served, ${r.failed} failed${failures}; p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, ` +
    `max ${r.latency_ms.max} ms; ${r.requests_per_s} req/s; the reload took ${r.reload_ms} ms`
  );
}

/** The table: one row per system, ratios against the bare spawn and against the other system. */
function printTable(crash, reload, pm2Result, standby) {
  const ratio = (a, b) => (b ? `${(a / b).toFixed(2)}x` : '-');
  const rows = [
    ['system', 'crash->ready median', 'worst', 'vs bare', 'reload: reloads', 'seconds', 'served', 'failed', 'calls/s', 'steady calls/s'],
    ['bare spawn', `${crash.bare_ms.median} ms`, `${crash.bare_ms.max} ms`, '1.00x', '', '', '', '', '', ''],
  ];
  const row = (name, c, r) => [
    name,
    `${c.supervisor_ms.median} ms`,
    `${c.supervisor_ms.max} ms`,
    ratio(c.supervisor_ms.median, crash.bare_ms.median),
    String(r.reloading.reloads),
    String(r.reloading.seconds),
    String(r.reloading.served),
    String(r.reloading.failed),
    String(r.reloading.ops_per_s),
    String(r.steady.ops_per_s),
  ];
  rows.push(row('Warren', crash, reload));
  // Another measure: crash -> a call answered by the new process (bench/supervisor/standby.js).
  for (const s of [standby.without, standby.with]) {
    const name = `Warren standby: ${s.standby}, crash->serving`;
    rows.push([
      name,
      `${s.serving_ms.median} ms`,
      `${s.serving_ms.max} ms`,
      ratio(s.serving_ms.median, crash.bare_ms.median),
      '',
      '',
      '',
      '',
      '',
      '',
    ]);
  }
  if (pm2Result) rows.push(row(`PM2 ${pm2Version}`, pm2Result.crash, pm2Result.reload));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '));
  if (pm2Result) {
    console.log(
      `Warren/PM2: crash->ready median ${ratio(crash.supervisor_ms.median, pm2Result.crash.supervisor_ms.median)} ` +
        `(lower is faster); calls/s during reloads ${ratio(reload.reloading.ops_per_s, pm2Result.reload.reloading.ops_per_s)} (higher is better); ` +
        `failed: Warren ${reload.reloading.failed}, PM2 ${pm2Result.reload.reloading.failed}` +
        `${pm2Result.reload.reloading.failed ? ` ${JSON.stringify(pm2Result.reload.reloading.failures)}` : ''}`,
    );
    console.log(
      `PM2: the successor's own ready message reached the bench after ${pm2Result.crash.said_ready_ms.median} ms (median), ` +
        `PM2's 'online' after ${pm2Result.crash.supervisor_ms.median} ms`,
    );
  }
}

try {
  const crash = await crashToReady();
  console.log(
    `crash to ready: median ${crash.supervisor_ms.median} ms (worst ${crash.supervisor_ms.max} ms) over ${restarts} SIGKILLs; ` +
      `a bare spawn to ready: median ${crash.bare_ms.median} ms -> ${(crash.supervisor_ms.median / crash.bare_ms.median).toFixed(2)}x`,
  );
  const standby = {
    with: await crashToServing({ base, restarts, standby: 1 }),
    without: await crashToServing({ base, restarts, standby: 0 }),
  };
  console.log(
    `crash to serving again (a call answered by the new process): standby: 1 median ${standby.with.serving_ms.median} ms ` +
      `(worst ${standby.with.serving_ms.max} ms; supervisor said ready after ${standby.with.ready_ms.median} ms; ` +
      `${standby.with.taken_over_by_standby}/${restarts} taken over by the standby), standby: 0 median ${standby.without.serving_ms.median} ms`,
  );
  const cli = await warrenCli();
  console.log(
    `CLI start-up (median of ${cliRuns}): warren --version ${cli.version_ms} ms, warren status ${cli.status_ms} ms; node -e 0 ${cli.node_ms} ms`,
  );
  const reload = await reloadUnderLoad();
  console.log(
    `rolling reload of 2 instances under 64 callers: ${reload.reloading.reloads} reloads, ${reload.reloading.served} calls served, ` +
      `${reload.reloading.failed} failed${reload.reloading.failed ? ` ${JSON.stringify(reload.reloading.failures)}` : ''}; ` +
      `${reload.reloading.ops_per_s} calls/s during reloads against ${reload.steady.ops_per_s} without ` +
      `(${(reload.reloading.ops_per_s / reload.steady.ops_per_s).toFixed(2)}x)`,
  );
  const httpWarren = await warrenHttpReload({ base, seconds: httpSeconds, concurrency: httpConcurrency });
  console.log(`HTTP app (port shared by 2 instances) reloaded under ${httpConcurrency} keep-alive callers: ${describeHttp(httpWarren)}`);

  // PM2, after Warren has stopped everything it ran: a daemon of its own in PM2_HOME.
  let pm2Result = null;
  let pm2Error = null;
  try {
    const bus = await startPm2();
    const pm2Crash = await pm2CrashToReady(bus);
    console.log(
      `PM2 ${pm2Version} crash to ready: median ${pm2Crash.supervisor_ms.median} ms (worst ${pm2Crash.supervisor_ms.max} ms) ` +
        `over ${restarts} SIGKILLs -> ${(pm2Crash.supervisor_ms.median / crash.bare_ms.median).toFixed(2)}x a bare spawn ` +
        `(a bare spawn measured again just before PM2's run: median ${pm2Crash.bare_ms_alongside.median} ms -> ` +
        `${(pm2Crash.supervisor_ms.median / pm2Crash.bare_ms_alongside.median).toFixed(2)}x)`,
    );
    const pm2Cli = await pm2CliStartup(pm2Home, cliRuns);
    console.log(
      `PM2 CLI start-up (median of ${cliRuns}): pm2 --version ${pm2Cli.version_ms} ms, pm2 ls ${pm2Cli.ls_ms} ms; node -e 0 ${pm2Cli.node_ms} ms`,
    );
    const pm2Reload = await pm2ReloadUnderLoad();
    console.log(
      `PM2 reload (fork mode) of 2 instances under 64 callers: ${pm2Reload.reloading.reloads} reloads, ` +
        `${pm2Reload.reloading.served} calls served, ${pm2Reload.reloading.failed} failed; ` +
        `${pm2Reload.reloading.ops_per_s} calls/s during reloads against ${pm2Reload.steady.ops_per_s} without`,
    );
    const pm2Http = await pm2HttpReload({
      pm2Call,
      seconds: httpSeconds,
      concurrency: httpConcurrency,
      onPid: (pid) => pm2Pids.add(pid),
    });
    console.log(`PM2 ${pm2Version} cluster mode, the same HTTP app reloaded under the same load: ${describeHttp(pm2Http)}`);
    pm2Result = { crash: pm2Crash, reload: pm2Reload, cli: pm2Cli, http: pm2Http };
  } catch (error) {
    pm2Error = error;
    console.error(`bench supervisor: the PM2 part failed: ${error?.stack ?? error}`);
  } finally {
    await stopPm2();
  }

  console.log('');
  printTable(crash, reload, pm2Result, standby);
  console.log('');
  console.log(`HTTP app, 2 instances on one port, one reload under ${httpConcurrency} keep-alive callers:`);
  console.log(`  Warren (port)       ${describeHttp(httpWarren)}`);
  if (pm2Result) {
    console.log(`  PM2 (cluster mode)  ${describeHttp(pm2Result.http)}`);
    console.log(
      `  Warren/PM2: failed ${httpWarren.failed} vs ${pm2Result.http.failed}; p99 ${(httpWarren.latency_ms.p99 / pm2Result.http.latency_ms.p99).toFixed(2)}x (lower is better)`,
    );
  }
  if (pm2Result) {
    console.log(
      `CLI start-up: warren --version ${cli.version_ms} ms vs pm2 --version ${pm2Result.cli.version_ms} ms; ` +
        `warren status ${cli.status_ms} ms vs pm2 ls ${pm2Result.cli.ls_ms} ms (node -e 0: ${cli.node_ms} ms)`,
    );
  }
  const pm2Json = pm2Result
    ? {
        version: pm2Version,
        mode: 'fork, wait_ready, restart_delay 0; reload = pm2.reload (a restart of each instance in turn in fork mode); http: cluster mode, pm2.reload',
        ...pm2Result,
        ratios: {
          crash_median_vs_bare: Number((pm2Result.crash.supervisor_ms.median / crash.bare_ms.median).toFixed(3)),
          crash_median_vs_bare_alongside: Number(
            (pm2Result.crash.supervisor_ms.median / pm2Result.crash.bare_ms_alongside.median).toFixed(3),
          ),
          warren_crash_median_vs_pm2: Number((crash.supervisor_ms.median / pm2Result.crash.supervisor_ms.median).toFixed(3)),
          warren_reload_calls_per_s_vs_pm2: Number((reload.reloading.ops_per_s / pm2Result.reload.reloading.ops_per_s).toFixed(3)),
          warren_version_vs_pm2_version: Number((cli.version_ms / pm2Result.cli.version_ms).toFixed(3)),
          warren_status_vs_pm2_ls: Number((cli.status_ms / pm2Result.cli.ls_ms).toFixed(3)),
          warren_http_reload_p99_vs_pm2: Number((httpWarren.latency_ms.p99 / pm2Result.http.latency_ms.p99).toFixed(3)),
        },
      }
    : { version: pm2Version, error: String(pm2Error?.message ?? pm2Error) };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        date: new Date().toISOString().slice(0, 10),
        node: process.version,
        loadavg_at_end: os.loadavg(),
        crash,
        standby,
        reload,
        cli,
        http_reload: httpWarren,
        pm2: pm2Json,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${path.relative(process.cwd(), outFile)}`);
  process.exitCode = reload.reloading.failed === 0 && httpWarren.failed === 0 && !pm2Error ? 0 : 1;
} finally {
  await stopPm2();
  fs.rmSync(base, { recursive: true, force: true });
  // Whatever handle might still be open (a PM2 socket), the run ends here.
  setTimeout(() => {
    console.error(`bench supervisor: still open after the end (${process.getActiveResourcesInfo().join(', ')}); exiting`);
    process.exit(process.exitCode ?? 0);
  }, 5_000).unref();
}
