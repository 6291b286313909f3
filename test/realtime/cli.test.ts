// `warren hub`, `warren emit` and the hub under `warren up`: the built CLI as real processes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { signUserToken } from '../../src/realtime/index.js';
import { useCli } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/until.js';
import { useHubs } from './helpers.js';

const TEST_MS = 120_000;
const { run, start, workDir } = useCli(60_000);
const { client } = useHubs();
const SERVICE = fileURLToPath(new URL('../fixtures/supervisor/up-service.mjs', import.meta.url));

describe('warren hub and warren emit', () => {
  it(
    'runs the hub alone from the environment, takes broadcasts from warren emit, stops with 1001 on SIGTERM',
    async () => {
      const { dir, socketDir } = workDir('wh-');
      const env = {
        WARREN_SOCKET_DIR: socketDir,
        WS_PORT: '0',
        WARREN_WS_HEARTBEAT_INTERVAL: '30',
        WS_HEARTBEAT_INTERVAL: 'ignored: WARREN_ wins',
      };
      const hub = start(['hub'], { cwd: dir, env });
      const line = await until(
        () => /ws:\/\/127\.0\.0\.1:(\d+)\/ws/.exec(hub.output()),
        () => `the hub's address in: ${hub.output()}`,
      );
      const c = await client(`ws://127.0.0.1:${line[1]}/ws`);
      expect(c.messages[0]?.data.heartbeatS).toBe(30);
      await c.subscribe('room:lobby');
      const emitted = await run(['emit', 'room:lobby', 'hello', '{"a":1}'], { cwd: dir, env });
      expect(emitted).toMatchObject({ code: 0, stdout: 'hello sent to room:lobby (1 connection on this hub)\n' });
      expect(await c.next((m) => m.event === 'hello')).toMatchObject({ channel: 'room:lobby', data: { a: 1 } });
      const bad = await run(['emit', 'room:lobby', 'hello', '{nope'], { cwd: dir, env });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^warren emit: WARREN_INVALID_ARGUMENT: data is not valid JSON/);
      hub.child.kill('SIGTERM');
      expect((await hub.closed).code).toBe(0);
      expect(await c.closedWith()).toBe(1001);
    },
    TEST_MS,
  );

  it('warren emit without a hub fails with WARREN_HUB_UNREACHABLE; a bad WS_ value stops warren hub with one line naming it', async () => {
    const { dir, socketDir } = workDir('wh-');
    const emitted = await run(['emit', 'room:lobby', 'hello', '--timeout', '300'], { cwd: dir, env: { WARREN_SOCKET_DIR: socketDir } });
    expect(emitted.code).toBe(1);
    expect(emitted.stderr).toMatch(/^warren emit: WARREN_HUB_UNREACHABLE: /);
    const hub = await run(['hub'], { cwd: dir, env: { WARREN_SOCKET_DIR: socketDir, WS_PORT: 'eighty', WS_BROADCAST: 'carrier-pigeon' } });
    expect(hub.code).toBe(2);
    expect(hub.stderr).toContain('WS_PORT');
    expect(hub.stderr).toContain('WS_BROADCAST');
    expect(hub.stderr.trim().split('\n')).toHaveLength(2);
  });

  it(
    'runs under warren up as the supervised process "hub" when the config has a realtime section, with signed user tokens',
    async () => {
      const { dir, socketDir } = workDir('wh-');
      const port = await freePort();
      const secret = 'a-secret-of-16-chars-or-more';
      writeFileSync(
        join(dir, 'warren.config.json'),
        JSON.stringify({ socketDir, services: [{ name: 'upsvc', entry: SERVICE }], realtime: { port, authSecret: secret } }),
      );
      const up = await run(['up', '--detach'], { cwd: dir });
      expect(up.code, up.stderr).toBe(0);
      const status = await run(['status', '--json'], { cwd: dir, env: { WARREN_SOCKET_DIR: socketDir } });
      const services = (JSON.parse(status.stdout) as { services: { name: string; instances: { state: string }[] }[] }).services;
      expect(services.map((s) => s.name).sort()).toEqual(['hub', 'upsvc']);
      expect(services.find((s) => s.name === 'hub')?.instances[0]?.state).toBe('online');
      const url = `ws://127.0.0.1:${port}/ws`;
      const c = await client(`${url}?token=${signUserToken(secret, '42')}`);
      expect(c.messages[0]?.data.userId).toBe('42');
      const emitted = await run(['emit', 'user.42', 'order', '{"id":7}'], { cwd: dir, env: { WARREN_SOCKET_DIR: socketDir } });
      expect(emitted.code, emitted.stderr).toBe(0);
      expect(await c.next((m) => m.event === 'order')).toMatchObject({ channel: 'user.42', data: { id: 7 } });
      const stopped = await run(['stop'], { cwd: dir, env: { WARREN_SOCKET_DIR: socketDir } });
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(await c.closedWith()).toBe(1001);
    },
    TEST_MS,
  );
});
