// An arbitrary HTTP app reloaded under load, for bench:supervisor: the same tiny app
// (http-app.mjs: listen(process.env.PORT), no signal handler) with 2 instances on one port,
// under Warren (`port`: the supervisor holds the port, `ready: "listen"` by default) and under
// PM2 in cluster mode (`exec_mode: 'cluster'`, `pm2.reload`). A Node load generator in the bench
// process (http.Agent with keepAlive, `concurrency` callers, 32) asks for `seconds` while one
// reload runs (started after a fifth of the time; the load goes on at least 1 s after it ended).
// Reported per system: requests served and failed (with the errors), and latency p50/p99/max.
//
// The load generator runs in the same process as Warren's Supervisor (as the rest of
// bench:supervisor does); PM2's daemon is a process of its own. Both apps run on loopback TCP.

import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const { Supervisor, parseConfig } = await import('warren/supervisor');

export const httpApp = fileURLToPath(new URL('./http-app.mjs', import.meta.url));

/** A TCP port free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const quantile = (sorted, q) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
const round2 = (x) => Math.round(x * 100) / 100;

function get(port, agent) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * `concurrency` callers on `port` for at least `seconds`, and until `reload()` (started after a
 * fifth of the time) has resolved plus one second; latency per request in ms.
 */
async function loadDuringReload(port, seconds, concurrency, reload) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  const failures = new Map();
  let failed = 0;
  let running = true;
  const caller = async () => {
    while (running) {
      const started = process.hrtime.bigint();
      try {
        await get(port, agent);
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      } catch (error) {
        failed++;
        const key = error?.code ?? error?.message ?? String(error);
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
    }
  };
  const began = process.hrtime.bigint();
  const callers = Array.from({ length: concurrency }, caller);
  const minimum = new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const reloading = new Promise((resolve) => setTimeout(resolve, (seconds * 1000) / 5)).then(async () => {
    const t = process.hrtime.bigint();
    await reload();
    const reloadMs = Number(process.hrtime.bigint() - t) / 1e6;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return reloadMs;
  });
  const [, reloadMs] = await Promise.all([minimum, reloading]);
  running = false;
  await Promise.all(callers);
  agent.destroy();
  const elapsed = Number(process.hrtime.bigint() - began) / 1e9;
  latencies.sort((a, b) => a - b);
  return {
    served: latencies.length,
    failed,
    failures: Object.fromEntries(failures),
    requests_per_s: Math.round(latencies.length / elapsed),
    latency_ms: { p50: round2(quantile(latencies, 0.5)), p99: round2(quantile(latencies, 0.99)), max: round2(latencies.at(-1) ?? 0) },
    reload_ms: Math.round(reloadMs),
    seconds: round2(elapsed),
    concurrency,
  };
}

/** Warren: 2 instances sharing one port, `supervisor.reload()` (what `warren reload` asks) under load. */
export async function warrenHttpReload({ base, seconds, concurrency }) {
  const port = await freePort();
  const config = parseConfig(
    { socketDir: path.join(base, 'http-run'), services: [{ name: 'web', entry: httpApp, instances: 2, port }] },
    { baseDir: base, env: {} },
  );
  const supervisor = new Supervisor(config, { output: { event: () => {}, line: () => {} } });
  await supervisor.start();
  try {
    const before = supervisor.status().services[0].instances.map((i) => i.pid);
    const result = await loadDuringReload(port, seconds, concurrency, () => supervisor.reload('web'));
    const after = supervisor.status().services[0].instances.map((i) => i.pid);
    if (after.some((pid) => before.includes(pid))) throw new Error(`Warren's reload left pids ${after}, before ${before}`);
    return result;
  } finally {
    await supervisor.stop();
  }
}

/** PM2: the same app in cluster mode, 2 instances, `pm2.reload` under load. `pm2Call` calls PM2's API as a promise. */
export async function pm2HttpReload({ pm2Call, seconds, concurrency, onPid }) {
  const port = await freePort();
  const name = 'http-app';
  await pm2Call('start', {
    name,
    script: httpApp,
    exec_mode: 'cluster',
    instances: 2,
    autorestart: true,
    env: { PORT: String(port) },
  });
  try {
    const listening = async () => {
      for (let i = 0; i < 200; i++) {
        try {
          await get(port, false);
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      throw new Error(`PM2's cluster app does not answer on port ${port}`);
    };
    await listening();
    const before = (await pm2Call('describe', name)).map((proc) => proc.pid);
    for (const pid of before) onPid?.(pid);
    const result = await loadDuringReload(port, seconds, concurrency, () => pm2Call('reload', name));
    const procs = await pm2Call('describe', name);
    for (const proc of procs) onPid?.(proc.pid);
    if (procs.some((proc) => before.includes(proc.pid) || proc.pm2_env.status !== 'online')) {
      throw new Error(`PM2 reload left ${JSON.stringify(procs.map((proc) => [proc.pid, proc.pm2_env.status]))}, before ${before}`);
    }
    return result;
  } finally {
    await pm2Call('delete', name);
  }
}
