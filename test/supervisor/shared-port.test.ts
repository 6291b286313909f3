/**
 * `port`: one TCP port shared by every instance of a service (PM2's cluster mode), with real
 * processes running a plain node:http app that knows nothing of Warren (listen(process.env.PORT),
 * no signal handler). Both instances answer on the port; a SIGKILL of one, and reloads under
 * load with and without keep-alive, fail no request; a port in use stops the start with one
 * clear line; a stop frees the port.
 */
import { Agent, request } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, Supervisor } from '../../src/supervisor/index.js';
import { freePort } from '../support/ports.js';
import { supervisorFixture as fixture, instances, Recorder, rejection, until, useSupervisors } from '../support/supervised.js';

/** Real processes started, killed and reloaded under load on a busy 2-core machine. */
const TEST_MS = 120_000;
const { setup, adopt, tempDir } = useSupervisors();

const app = fixture('shared-http.mjs');
const fast = { minDelayMs: 20, maxDelayMs: 200, maxUnstableRestarts: 3, stableAfterMs: 60_000 };

interface Answer {
  pid: number;
  slot: string;
  listenFd: string;
}

/** GET `path` on 127.0.0.1:`port`; `agent` false: a new connection, closed after. */
function get(port: number, path = '/', agent: Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}: ${text}`));
        else resolve(JSON.parse(text) as Answer);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * `concurrency` callers asking until `done()` is true, or `maxRequests` were sent (a bound, so
 * the loop always ends); every fifth request is a slow one, in flight when a stop comes.
 */
function load(port: number, agent: Agent | false, done: () => boolean, concurrency = 8, maxRequests = 20_000) {
  const stats = { sent: 0, served: 0, failures: [] as string[], pids: new Set<number>() };
  const caller = async () => {
    while (!done() && stats.sent < maxRequests) {
      const path = stats.sent++ % 5 === 0 ? '/slow' : '/';
      try {
        stats.pids.add((await get(port, path, agent)).pid);
        stats.served++;
      } catch (error) {
        stats.failures.push(`${path}: ${(error as Error).message}`);
      }
    }
  };
  return { stats, finished: Promise.all(Array.from({ length: concurrency }, caller)).then(() => stats) };
}

/** Whether a connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

describe('port: shared by every instance', { timeout: TEST_MS }, () => {
  it('two instances of an unmodified http app answer on one port, each told PORT and WARREN_LISTEN_FD', async () => {
    const port = await freePort();
    const { supervisor } = setup([{ name: 'web', entry: app, instances: 2, port, restart: fast }]);
    await supervisor.start();
    const slots = instances(supervisor, 'web');
    expect(slots.map((s) => s.state)).toEqual(['online', 'online']);
    const pids = new Set(slots.map((s) => s.pid));
    const seen = new Map<number, Answer>();
    // The kernel gives each connection to whichever instance accepts first: ask until both did.
    await until(async () => {
      const answer = await get(port);
      seen.set(answer.pid, answer);
      return seen.size === 2;
    }, 'answers from both instances');
    expect(new Set(seen.keys())).toEqual(pids);
    for (const answer of seen.values()) expect(answer.listenFd).toBe('4');
    expect([...seen.values()].map((a) => a.slot).sort()).toEqual(['0', '1']);
  });

  it('a SIGKILL of one instance while the other serves: every request is answered, and the slot comes back on the port', async () => {
    const port = await freePort();
    const { supervisor } = setup([{ name: 'web', entry: app, instances: 2, port, restart: fast }]);
    await supervisor.start();
    const [victim, survivor] = instances(supervisor, 'web');
    process.kill(victim?.pid as number, 'SIGKILL');
    const failures: string[] = [];
    const answeredBy = new Set<number>();
    // One request at a time, from the kill until the slot's new process has answered one.
    await until(async () => {
      try {
        answeredBy.add((await get(port)).pid);
      } catch (error) {
        failures.push((error as Error).message);
      }
      const now = instances(supervisor, 'web')[0];
      return now?.state === 'online' && now.pid !== victim?.pid && answeredBy.has(now.pid as number);
    }, 'an answer from the restarted instance');
    expect(failures).toEqual([]);
    expect(answeredBy.has(survivor?.pid as number) || answeredBy.size > 1).toBe(true);
    expect(answeredBy.has(victim?.pid as number)).toBe(false);
  });

  for (const keepAlive of [false, true]) {
    it(`a reload under load fails no request (keep-alive ${keepAlive ? 'on' : 'off'})`, async () => {
      const port = await freePort();
      const { supervisor, rec } = setup([{ name: 'web', entry: app, instances: 2, port, restart: fast }]);
      await supervisor.start();
      const before = instances(supervisor, 'web').map((s) => s.pid);
      const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: 8 }) : false;
      let reloaded = false;
      const loading = load(port, agent, () => reloaded);
      // Some answers before the reload starts, so that the load is running when it does.
      await until(() => loading.stats.served >= 20, 'answers before the reload');
      const result = await supervisor.reload('web').finally(() => {
        reloaded = true;
      });
      const { served, failures, pids } = await loading.finished;
      if (agent) agent.destroy();
      expect(result.replaced).toHaveLength(2);
      expect(failures).toEqual([]);
      expect(served).toBeGreaterThan(0);
      const after = instances(supervisor, 'web').map((s) => s.pid);
      expect(after.some((pid) => before.includes(pid))).toBe(false);
      // The old processes stopped by themselves once drained (the preload's graceful stop), not killed.
      expect(rec.matching(/did not stop within drainTimeoutMs/)).toEqual([]);
      expect(rec.matching(/^exited \(code 0\)$/)).toHaveLength(2);
      // Answers came from old and new processes alike.
      expect([...pids].some((pid) => before.includes(pid))).toBe(true);
    });
  }

  it('a port another process listens on stops the start with one line naming the service and the port; nothing is started', async () => {
    const port = await freePort();
    const other: Server = createServer();
    await new Promise<void>((resolve) => other.listen(port, resolve));
    try {
      const { supervisor, rec } = setup([{ name: 'web', entry: app, instances: 2, port }]);
      const error = await rejection(supervisor.start());
      expect(error.code).toBe('WARREN_PORT_UNAVAILABLE');
      expect(error.message).toContain(`service 'web': cannot listen on port ${port}: EADDRINUSE: another process listens there`);
      expect(error.message).toContain('stop it, or give the service another port');
      expect(error.message).not.toContain('\n');
      expect(rec.pids.size).toBe(0);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('stop frees the port; `stop <service>` too, and `start <service>` takes it again', async () => {
    const port = await freePort();
    const { supervisor } = setup([{ name: 'web', entry: app, instances: 1, port, restart: fast }]);
    await supervisor.start();
    await get(port);
    await supervisor.stopService('web');
    expect(await refused(port)).toBe(true);
    await supervisor.startService('web');
    await get(port);
    await supervisor.stop();
    expect(await refused(port)).toBe(true);
    // Free for anyone now.
    const again = createServer();
    await new Promise<void>((resolve) => again.listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => again.close(resolve));
  });

  it('a reload that moves the port: refused with nothing changed when the new one is taken, else served there and the old one closed', async () => {
    const [first, second] = [await freePort(), await freePort()];
    const base = tempDir();
    let port = first;
    const config = () =>
      parseConfig(
        { socketDir: join(base, 'run'), services: [{ name: 'web', entry: app, instances: 2, port, restart: fast }] },
        { baseDir: base, env: {} },
      );
    const rec = new Recorder();
    const supervisor = new Supervisor(config(), { output: rec.output, reportIntervalMs: 50, loadConfig: async () => config() });
    adopt(supervisor, rec);
    await supervisor.start();
    await get(first);

    const other: Server = createServer();
    await new Promise<void>((resolve) => other.listen(second, resolve));
    port = second;
    const before = instances(supervisor, 'web').map((s) => s.pid);
    try {
      const error = await rejection(supervisor.reload());
      expect(error.code).toBe('WARREN_PORT_UNAVAILABLE');
      expect(error.message).toMatch(
        new RegExp(`^reload refused, nothing was changed: service 'web': cannot listen on port ${second}: EADDRINUSE`),
      );
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
    expect(instances(supervisor, 'web').map((s) => s.pid)).toEqual(before);
    await get(first);

    const result = await supervisor.reload();
    expect(result.changes).toContain('web: port changed, replacing 2 instances');
    expect((await get(second)).listenFd).toBe('4');
    expect(await refused(first)).toBe(true);
  });
});
