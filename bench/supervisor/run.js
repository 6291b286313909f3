// `npm run bench:supervisor`: what the supervisor costs and keeps.
//
// 1. Crash to ready: an instance is killed with SIGKILL; time until its successor says it is
//    ready (restart delay 0), beside the floor, a bare `spawn` of the same service file until
//    its ready message. Repeated BENCH_RESTARTS times (10); median and worst.
// 2. Rolling reload under load: a 2-instance service, 64 concurrent callers through one
//    ServiceClient calling POST /echo, while the supervisor reloads it BENCH_RELOADS times (3)
//    one after the other. Counts calls served and failed (the goal is zero failed) and the
//    throughput during reloads against the same load without them.
//
// Writes bench/results/supervisor-latest.json. Everything runs on loopback Unix sockets in a
// fresh temporary directory, and every process started is stopped at the end.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const { ServiceClient } = await import('warren/service');
const { Supervisor, parseConfig } = await import('warren/supervisor');

const entry = fileURLToPath(new URL('./echo-service.mjs', import.meta.url));
const restarts = Number(process.env.BENCH_RESTARTS ?? 10);
const reloads = Number(process.env.BENCH_RELOADS ?? 3);
const loadSeconds = Number(process.env.BENCH_SECONDS ?? 5);
const outFile = fileURLToPath(new URL('../results/supervisor-latest.json', import.meta.url));

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-bench-sup-'));
const socketDir = path.join(base, 'run');

// A watchdog: never outlive a stuck run.
const watchdog = setTimeout(
  () => {
    console.error('bench supervisor: watchdog fired');
    process.exit(3);
  },
  (restarts * 10 + reloads * 30 + loadSeconds * 4 + 60) * 1000,
);
watchdog.unref();

const median = (xs) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[Math.floor(xs.length / 2)];
const ms = (ns) => Math.round(Number(ns) / 1e4) / 100;

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
    bare_ms: { median: ms(median(bare)), max: ms(Math.max(...bare)) },
    supervisor_ms: { median: ms(median(times)), max: ms(Math.max(...times)) },
    restarts,
  };
}

/** 64 callers for `seconds`, while `during()` runs; counts served and failed calls. */
async function load(seconds, during) {
  const client = new ServiceClient({ socketDir, timeout: 10_000 });
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
  return { served, failed, failures: Object.fromEntries(failures), ops_per_s: Math.round(served / elapsed) };
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

try {
  const crash = await crashToReady();
  console.log(
    `crash to ready: median ${crash.supervisor_ms.median} ms (worst ${crash.supervisor_ms.max} ms) over ${restarts} SIGKILLs; ` +
      `a bare spawn to ready: median ${crash.bare_ms.median} ms -> ${(crash.supervisor_ms.median / crash.bare_ms.median).toFixed(2)}x`,
  );
  const reload = await reloadUnderLoad();
  console.log(
    `rolling reload of 2 instances under 64 callers: ${reload.reloading.reloads} reloads, ${reload.reloading.served} calls served, ` +
      `${reload.reloading.failed} failed${reload.reloading.failed ? ` ${JSON.stringify(reload.reloading.failures)}` : ''}; ` +
      `${reload.reloading.ops_per_s} calls/s during reloads against ${reload.steady.ops_per_s} without ` +
      `(${(reload.reloading.ops_per_s / reload.steady.ops_per_s).toFixed(2)}x)`,
  );
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(
    outFile,
    `${JSON.stringify({ date: new Date().toISOString().slice(0, 10), node: process.version, crash, reload }, null, 2)}\n`,
  );
  console.log(`wrote ${path.relative(process.cwd(), outFile)}`);
  process.exitCode = reload.reloading.failed === 0 ? 0 : 1;
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
