/**
 * The supervisor with real processes beyond well-behaved Warren services: stable slots
 * (WARREN_INSTANCE, NODE_APP_INSTANCE) across crashes and reloads, failures that give the
 * supervisor's reason, processes that are not Warren services (`ready: listen` / `spawn`,
 * `interpreter`, `args`, `cwd`), RSS from /proc, and instances that stop reporting.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/supervisor-format.js';
import { freePort } from '../support/ports.js';
import { supervisorFixture as fixture, instances, until, useSupervisors } from '../support/supervised.js';

/** Each test starts, crashes and reloads real processes: several bounded waits in a row on a busy 2-core machine. */
const TEST_MS = 180_000;
const { setup, client } = useSupervisors();

const fast = { minDelayMs: 20, maxDelayMs: 200, maxUnstableRestarts: 1, stableAfterMs: 60_000 };

/** GET / over a Unix socket; resolves with the parsed JSON body. */
function getJson(socketPath: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('stable instance numbers', { timeout: TEST_MS }, () => {
  it('WARREN_INSTANCE and NODE_APP_INSTANCE are the slot, 0 … n−1, after a crash and a reload; the socket number is separate', async () => {
    const { supervisor, socketDir } = setup([{ name: 'slots', entry: fixture('slot-service.mjs'), instances: 2, restart: fast }]);
    await supervisor.start();
    const c = client(socketDir).service('slots');
    type Env = { pid: number; warren: string; node: string; socket: string };
    /** Asks until every running process has answered: pid → what its environment says. */
    const seen = async () => {
      const pids = instances(supervisor, 'slots').map((i) => i.pid);
      const answers = new Map<number, Env>();
      await until(async () => {
        const env = (await c.get('/env')).body as Env;
        answers.set(env.pid, env);
        return pids.every((pid) => pid !== null && answers.has(pid));
      }, 'an answer from every process');
      return answers;
    };
    const check = async () => {
      const answers = await seen();
      for (const slot of instances(supervisor, 'slots')) {
        const env = answers.get(slot.pid as number);
        expect(env, `slot ${slot.slot}`).toMatchObject({
          warren: String(slot.slot),
          node: String(slot.slot),
          socket: String(slot.instance),
        });
      }
      expect(instances(supervisor, 'slots').map((i) => i.slot)).toEqual([0, 1]);
    };
    await check();

    // A crash: the slot's new process has the same numbers.
    const [zero] = instances(supervisor, 'slots');
    process.kill(zero?.pid as number, 'SIGKILL');
    await until(() => {
      const now = instances(supervisor, 'slots')[0];
      return now?.state === 'online' && now.pid !== zero?.pid;
    }, 'slot 0 to come back');
    await check();

    // A reload: each successor starts while its predecessor listens, so it has another socket
    // number, and still its predecessor's slot.
    const result = await supervisor.reload();
    expect(result.replaced.map((r) => r.slot)).toEqual([0, 1]);
    expect(result.replaced.every((r) => r.from !== r.to)).toBe(true);
    await check();
    expect(instances(supervisor, 'slots').some((i) => i.instance >= 2)).toBe(true);
  });
});

describe('failures that say why', { timeout: TEST_MS }, () => {
  it('a service that serves another name is errored at once, with the reason, after one try', async () => {
    const { supervisor, rec } = setup([
      { name: 'echo', entry: fixture('echo-service.mjs'), env: { FIXTURE_SERVICE: 'other' }, restart: fast },
    ]);
    await supervisor.start();
    const [echo] = instances(supervisor, 'echo');
    expect(echo).toMatchObject({ state: 'errored', restarts: 0 });
    expect(echo?.failure).toContain("serves 'other', but the config calls it 'echo'");
    expect(echo?.lastExit?.reason).toContain("serves 'other'");
    expect(rec.matching(/^started /)).toHaveLength(1);
    // The log line is tagged echo.0 once: the message does not repeat the tag.
    expect(rec.matching(/serves 'other'/).every((line) => !line.includes('echo.0 echo.0'))).toBe(true);
    const text = renderStatus(supervisor.status());
    expect(text).toContain('echo.0 errored (slot 0, 0 restarts): ');
    expect(text).toContain("serves 'other', but the config calls it 'echo'");
    expect(text).not.toContain('killed by SIGKILL');
  });

  it('one that never says it is ready: the readyTimeoutMs reason, "1 restart", and only the last process\'s stderr', async () => {
    // The timeout leaves room for Node to start and print under load (a start can take 300 ms
    // or more on a busy 2-core machine): the point is the reason shown, not the timeout's size.
    const { supervisor, rec } = setup([{ name: 'slow', entry: fixture('never-ready.mjs'), readyTimeoutMs: 1500, restart: fast }]);
    await supervisor.start();
    const [slow] = instances(supervisor, 'slow');
    expect(slow).toMatchObject({ state: 'errored', restarts: 1 });
    expect(slow?.lastExit?.reason).toBe("did not say it was ready (Warren's ready message) within readyTimeoutMs 1500");
    // Two processes printed the line; the tail is the last one's.
    expect(rec.lines.filter((l) => l.endsWith('warming up forever'))).toHaveLength(2);
    expect(slow?.stderrTail).toEqual(['warming up forever']);
    const text = renderStatus(supervisor.status());
    expect(text).toContain('slow.0 errored (slot 0, 1 restart): did not say it was ready');
    expect(text).not.toContain('killed by SIGKILL');
  });
});

describe('processes that are not Warren services', { timeout: TEST_MS }, () => {
  it('a plain node:http server with ready listen on a Unix socket: args and cwd reach it, RSS is measured, a reload hands over', async () => {
    const { supervisor, socketDir } = setup(
      [
        {
          name: 'web',
          entry: fixture('plain-http.mjs'),
          // Relative to the config file's directory (the test's temporary directory).
          cwd: 'run',
          args: ['web.sock', '--flag', 'two words'],
          ready: { listen: 'run/web.sock' },
          readyTimeoutMs: 20_000,
        },
      ],
      100,
    );
    await supervisor.start();
    const [web] = instances(supervisor, 'web');
    expect(web?.state).toBe('online');
    const path = join(socketDir, 'web.sock');
    const body = await getJson(path);
    expect(body).toEqual({ pid: web?.pid, args: ['--flag', 'two words'], cwd: socketDir, instance: '0' });
    await until(() => instances(supervisor, 'web')[0]?.rssMB, 'an RSS figure from /proc');
    // No reports: never shown silent.
    expect(instances(supervisor, 'web')[0]?.silentForMs).toBeNull();

    const result = await supervisor.reload('web');
    const [after] = instances(supervisor, 'web');
    expect(result.replaced).toHaveLength(1);
    expect(after?.state).toBe('online');
    expect(after?.pid).not.toBe(web?.pid);
    expect((await getJson(path)).pid).toBe(after?.pid);
  });

  it('a plain TCP server with ready listen on a port is online once it accepts, and restarted after a crash', async () => {
    const port = await freePort();
    const { supervisor } = setup([
      { name: 'tcp', entry: fixture('plain-tcp.mjs'), args: [String(port)], ready: { listen: port }, restart: fast },
    ]);
    await supervisor.start();
    const [tcp] = instances(supervisor, 'tcp');
    expect(tcp?.state).toBe('online');
    process.kill(tcp?.pid as number, 'SIGKILL');
    await until(() => {
      const now = instances(supervisor, 'tcp')[0];
      return now?.state === 'online' && now.pid !== tcp?.pid;
    }, 'the TCP server to be restarted');
    expect(instances(supervisor, 'tcp')[0]?.restarts).toBe(1);
  });

  it('a shell script with interpreter sh is online once spawned; its args, cwd and slot reach it', async () => {
    const { supervisor, socketDir, rec } = setup([
      { name: 'worker', entry: fixture('worker.sh'), interpreter: 'sh', args: ['a', 'b'], cwd: 'run', instances: 2 },
    ]);
    await supervisor.start();
    expect(instances(supervisor, 'worker').map((i) => i.state)).toEqual(['online', 'online']);
    await until(
      () => rec.lines.filter((l) => l.includes(' stdout slot: ')).length === 2,
      () => rec.lines.join('\n'),
    );
    expect(rec.lines).toContain('worker.0 stdout args: a b');
    expect(rec.lines).toContain(`worker.1 stdout cwd: ${socketDir}`);
    expect(rec.lines).toContain('worker.0 stdout slot: 0/0');
    expect(rec.lines).toContain('worker.1 stdout slot: 1/1');
  });

  it('an interpreter that does not exist errors the slot at once, saying so', async () => {
    const { supervisor } = setup([{ name: 'ghost', entry: fixture('worker.sh'), interpreter: 'no-such-interpreter-xyz', restart: fast }]);
    await supervisor.start();
    const [ghost] = instances(supervisor, 'ghost');
    expect(ghost).toMatchObject({ state: 'errored', restarts: 0 });
    expect(ghost?.failure).toContain('could not start no-such-interpreter-xyz');
  });
});

describe('measured from outside', { timeout: TEST_MS }, () => {
  it('an instance whose event loop is blocked shows as silent, with RSS and CPU still measured', async () => {
    const { supervisor, socketDir } = setup([{ name: 'echo', entry: fixture('echo-service.mjs') }], 50);
    await supervisor.start();
    await until(() => instances(supervisor, 'echo')[0]?.rssMB, 'a first RSS figure');
    expect(instances(supervisor, 'echo')[0]?.silentForMs).toBeNull();
    const blocked = client(socketDir).service('echo').get('/block?ms=4000');
    const silent = await until(
      () => {
        const [echo] = instances(supervisor, 'echo');
        return echo?.silentForMs !== null && echo?.cpuPercent !== null && echo?.cpuPercent !== undefined && echo.cpuPercent > 20
          ? echo
          : null;
      },
      () => JSON.stringify(instances(supervisor, 'echo')),
    );
    expect(silent.state).toBe('online');
    expect(silent.rssMB).toBeGreaterThan(0);
    expect(renderStatus(supervisor.status())).toMatch(/echo +0 +\d+ +online, silent \ds/);
    await blocked;
    await until(() => instances(supervisor, 'echo')[0]?.silentForMs === null, 'reports again');
  });
});
