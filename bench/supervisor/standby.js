// Crash to serving again, for bench:supervisor: an instance is SIGKILLed and the time until a
// call through a ServiceClient is answered by another process is measured, from the kill. With
// `standby: 1` a warmed-up standby takes the slot over at once; with `standby: 0` (the same
// measurement, for comparison) the supervisor starts a new process (restart delay 0).
//
// The caller sends one call at a time, again as soon as one fails (a client with work to do), in
// the same process as the supervisor, as the rest of bench:supervisor does. Before each kill the
// bench waits for a warmed-up standby and for a call answered by the current process, so each
// round starts from the same state: one instance serving through an open connection, one standby.
// Also recorded: until the supervisor logs the new process ready (its side of the takeover).

import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const { ServiceClient } = await import('warren/service');
const { Supervisor, parseConfig } = await import('warren/supervisor');

const entry = fileURLToPath(new URL('./pid-service.mjs', import.meta.url));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round2 = (x) => Math.round(x * 100) / 100;
const summary = (xs) => ({ median: round2(median(xs)), max: round2(Math.max(...xs)) });

/** Resolves once `check()` is truthy, polling every 5 ms; rejects after `ms`. */
async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`bench standby: no ${what} within ${ms} ms`);
    await sleep(5);
  }
}

/** The pid that answered GET /pid, or null when the call failed. */
async function answeringPid(handle) {
  try {
    const res = await handle.get('/pid');
    return res.status === 200 ? res.body.pid : null;
  } catch {
    return null;
  }
}

/**
 * `restarts` SIGKILLs of a 1-instance service with `standby` standbys; per kill, ms until a call
 * is answered by the new process (`serving_ms`) and until the supervisor said it is ready
 * (`ready_ms`). `base` is a directory for the socket directory (removed by the caller).
 */
export async function crashToServing({ base, restarts, standby }) {
  const socketDir = path.join(base, `standby-${standby}`);
  const config = parseConfig(
    {
      socketDir,
      services: [
        {
          name: 'echo',
          entry,
          standby,
          restart: { minDelayMs: 0, maxDelayMs: 0, maxUnstableRestarts: 1000, stableAfterMs: 0 },
        },
      ],
    },
    { baseDir: base, env: {} },
  );
  let readyAt = null;
  const supervisor = new Supervisor(config, {
    output: {
      event: (_level, _service, _instance, msg) => {
        if (msg.startsWith('ready (pid')) readyAt ??= process.hrtime.bigint();
      },
      line: () => {},
    },
  });
  await supervisor.start();
  const client = new ServiceClient({ socketDir, timeout: 10_000 });
  const echo = client.service('echo');
  const serving = [];
  const ready = [];
  let takenOver = 0;
  try {
    for (let i = 0; i < restarts; i++) {
      const status = () => supervisor.status().services[0];
      if (standby > 0) {
        await waitFor(() => status().standby.processes.some((p) => p.state === 'standby'), 30_000, 'ready standby');
      }
      const pid = await waitFor(
        async () => {
          const current = status().instances[0];
          return current.state === 'online' && (await answeringPid(echo)) === current.pid ? current.pid : null;
        },
        30_000,
        'call answered by the current process',
      );
      const standbyPids = standby > 0 ? status().standby.processes.map((p) => p.pid) : [];
      readyAt = null;
      const killed = process.hrtime.bigint();
      process.kill(pid, 'SIGKILL');
      let answeredBy = null;
      while (answeredBy === null || answeredBy === pid) answeredBy = await answeringPid(echo);
      serving.push(Number(process.hrtime.bigint() - killed) / 1e6);
      await waitFor(() => readyAt !== null, 30_000, 'ready event');
      ready.push(Number(readyAt - killed) / 1e6);
      if (standbyPids.includes(answeredBy)) takenOver++;
    }
  } finally {
    client.close();
    await supervisor.stop();
    fs.rmSync(socketDir, { recursive: true, force: true });
  }
  return { standby, serving_ms: summary(serving), ready_ms: summary(ready), taken_over_by_standby: takenOver, restarts };
}
