/**
 * The CLI across hosts (stood in for by two socket directories sharing a token and one
 * nats-server of the test's own): `warren status --cluster` lists every instance from the NATS
 * service API, and `warren call` reaches a service that lives only on the other "host".
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/cli.js';
import { freePort, natsFixtures, untilOnNats } from './support.js';

const run = promisify(execFile);
const { natsServer, socketDir, serviceProcess, natsConnection } = natsFixtures();

async function warren(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('warren CLI over NATS', () => {
  it('status --cluster lists every instance of every service on every host; call reaches a service of another host', async () => {
    const nats = await natsServer();
    const hostA = await socketDir();
    const hostB = await socketDir(hostA);
    const a0 = await serviceProcess(hostA, nats.url, 0, 'orders');
    const a1 = await serviceProcess(hostA, nats.url, 1, 'orders');
    const b0 = await serviceProcess(hostB, nats.url, 0, 'remote');
    const watcher = await natsConnection(nats.url);
    await untilOnNats(watcher, 'orders', 2);
    await untilOnNats(watcher, 'remote', 1);

    const json = await warren(['status', '--cluster', '--json', '--nats-url', nats.url]);
    expect(json.code).toBe(0);
    const { instances } = JSON.parse(json.stdout) as { instances: { service: string; instance: number; pid: number; warren: boolean }[] };
    expect(instances.map((i) => [i.service, i.instance, i.pid, i.warren])).toEqual([
      ['orders', 0, a0.pid, true],
      ['orders', 1, a1.pid, true],
      ['remote', 0, b0.pid, true],
    ]);

    // NATS_URL is read as services read it; the table names each instance.
    const table = await warren(['status', '--cluster'], { NATS_URL: nats.url });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^orders\\s+1\\s+\\S+\\s+${a1.pid}\\s+online`, 'm'));
    expect(table.stdout).toContain('3 instance(s) of 2 service(s)');

    // `warren call` on host A, with the nats transport: 'remote' lives on host B only.
    const call = await warren(['call', 'remote', 'GET', '/who', '--json'], {
      WARREN_SOCKET_DIR: hostA,
      WARREN_TRANSPORT: 'nats',
      NATS_URL: nats.url,
    });
    expect(call.stderr).toBe('');
    expect(JSON.parse(call.stdout)).toEqual({ status: 200, headers: {}, body: { pid: b0.pid, instance: 0 } });
  });

  it('status --cluster with NATS unreachable exits 2 with WARREN_NATS_UNAVAILABLE', async () => {
    const port = await freePort();
    const result = await warren(['status', '--cluster', '--nats-url', `nats://127.0.0.1:${port}`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^warren status: WARREN_NATS_UNAVAILABLE: NATS at nats:\/\/127\.0\.0\.1:\d+ is not reachable/);
  });
});
