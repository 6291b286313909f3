/**
 * `warren gateway` alone against a running system, and the gateway under `warren up` (a
 * supervised process named gateway: in status, restarted after a crash, a reload that adds a
 * route to a service is served without restarting it). The built CLI, real processes and sockets.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useCli } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/until.js';

const SERVICE = fileURLToPath(new URL('../fixtures/gateway/hello-service.mjs', import.meta.url));
const TEST_MS = 180_000;
const WAIT = { timeoutMs: 60_000, intervalMs: 50 };

const { run, start, workDir } = useCli(60_000);

async function get(url: string): Promise<{ status: number; body: unknown }> {
  try {
    const res = await fetch(url);
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : JSON.parse(text) };
  } catch {
    return { status: 0, body: null };
  }
}

interface StatusInstance {
  pid: number | null;
  state: string;
}
async function gatewayInstance(socketDir: string): Promise<StatusInstance | undefined> {
  const result = await run(['status', '--json', '--socket-dir', socketDir]);
  if (result.code !== 0) return undefined;
  const status = JSON.parse(result.stdout) as { services: { name: string; instances: StatusInstance[] }[] };
  return status.services.find((service) => service.name === 'gateway')?.instances[0];
}

describe('warren gateway', () => {
  it(
    'runs alone against the services of a running system; env overrides the port; SIGTERM ends it with 0',
    async () => {
      const { dir, socketDir } = workDir('wg-');
      const port = await freePort();
      writeFileSync(join(dir, 'warren.config.json'), JSON.stringify({ socketDir: 's', services: [{ name: 'hello', entry: SERVICE }] }));
      const up = start(['up', dir]);
      await until(async () => (await run(['status', '--check', '--socket-dir', socketDir])).code === 0, 'the services to be online', WAIT);
      const gateway = start(['gateway', dir], { env: { HTTP_PORT: String(port) } });
      await until(
        () => gateway.output().includes('listening on'),
        () => `the gateway to listen:\n${gateway.output()}`,
        WAIT,
      );
      const who = await get(`http://127.0.0.1:${port}/who`);
      expect(who).toMatchObject({ status: 200, body: { instance: 0 } });
      gateway.child.kill('SIGTERM');
      expect((await gateway.closed).code).toBe(0);
      up.child.kill('SIGTERM');
      await up.closed;
    },
    TEST_MS,
  );

  it('a bad setting is one line naming the variable, its value and what was expected (exit 2)', async () => {
    const { dir } = workDir('wg-');
    writeFileSync(join(dir, 'warren.config.json'), JSON.stringify({ socketDir: 's', services: [{ name: 'hello', entry: SERVICE }] }));
    const result = await run(['gateway', dir], { env: { WARREN_HTTP_PORT: 'eighty', HTTP_PORT: '8080' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'warren gateway: WARREN_CONFIG: gateway.port: expected a TCP port from 0 to 65535 (0: any free port), got WARREN_HTTP_PORT="eighty"\n',
    );
  });
});

describe('the gateway under warren up', () => {
  it(
    'is the supervised process "gateway": in status, restarted after kill -9, and a reload that adds a route is served without restarting it',
    async () => {
      const { dir, socketDir } = workDir('wg-');
      const port = await freePort();
      const config = (extra: boolean) =>
        JSON.stringify({
          socketDir: 's',
          services: [{ name: 'hello', entry: SERVICE, instances: 2, env: extra ? { FIXTURE_EXTRA: '1' } : {} }],
          gateway: { port, prefixes: { hello: '/api/hello' } },
        });
      writeFileSync(join(dir, 'warren.config.json'), config(false));
      const up = start(['up', dir]);
      await until(
        async () => (await run(['status', '--check', '--socket-dir', socketDir])).code === 0,
        () => `online:\n${up.output()}`,
        WAIT,
      );
      const first = await gatewayInstance(socketDir);
      expect(first?.state).toBe('online');
      expect(await get(`http://127.0.0.1:${port}/api/hello/who`)).toMatchObject({ status: 200 });
      expect((await get(`http://127.0.0.1:${port}/api/hello/extra`)).status).toBe(404);

      process.kill(first?.pid as number, 'SIGKILL');
      await until(
        async () => {
          const now = await gatewayInstance(socketDir);
          return now?.state === 'online' && now.pid !== first?.pid;
        },
        'the gateway to be restarted',
        WAIT,
      );
      await until(async () => (await get(`http://127.0.0.1:${port}/api/hello/who`)).status === 200, 'served again', WAIT);
      const restarted = await gatewayInstance(socketDir);

      writeFileSync(join(dir, 'warren.config.json'), config(true));
      expect((await run(['reload', '--socket-dir', socketDir])).code).toBe(0);
      await until(async () => (await get(`http://127.0.0.1:${port}/api/hello/extra`)).status === 200, 'the new route', WAIT);
      expect((await gatewayInstance(socketDir))?.pid).toBe(restarted?.pid);
      up.child.kill('SIGTERM');
      expect((await up.closed).code).toBe(0);
    },
    TEST_MS,
  );
});
