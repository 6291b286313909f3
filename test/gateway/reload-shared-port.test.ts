/**
 * The gateway under `warren up` listens on a port the supervisor holds (a shared port): a reload
 * of the gateway process, and a reload after its config section changed, replace the process
 * while HTTP clients keep calling, and no request fails. The built CLI, real processes, fetch.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useCli } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { load } from '../support/supervised.js';
import { until } from '../support/until.js';

const SERVICE = fileURLToPath(new URL('../fixtures/gateway/hello-service.mjs', import.meta.url));
const WAIT = { timeoutMs: 60_000, intervalMs: 50 };
const { run, start, workDir } = useCli(60_000);

async function gatewayPid(socketDir: string): Promise<number | null> {
  const result = await run(['status', '--json', '--socket-dir', socketDir]);
  if (result.code !== 0) return null;
  const status = JSON.parse(result.stdout) as { services: { name: string; instances: { pid: number | null; state: string }[] }[] };
  const instance = status.services.find((service) => service.name === 'gateway')?.instances[0];
  return instance?.state === 'online' ? instance.pid : null;
}

describe('the gateway on a shared port', () => {
  it('is reloaded twice, once with a changed section, under 16 HTTP clients, and no request fails', { timeout: 180_000 }, async () => {
    const { dir, socketDir } = workDir('wgr-');
    const port = await freePort();
    const config = (accessLog: boolean) =>
      JSON.stringify({
        socketDir: 's',
        services: [{ name: 'hello', entry: SERVICE, instances: 2 }],
        gateway: { port, accessLog, prefixes: { hello: '/api/hello' } },
      });
    writeFileSync(join(dir, 'warren.config.json'), config(false));
    const up = start(['up', dir]);
    try {
      await until(
        async () => (await run(['status', '--check', '--socket-dir', socketDir])).code === 0,
        () => `online:\n${up.output()}`,
        WAIT,
      );
      const pids = [await gatewayPid(socketDir)];
      expect(pids[0]).toBeTypeOf('number');
      const calls = load(
        async (caller, n) => {
          const res =
            caller % 2 === 0
              ? await fetch(`http://127.0.0.1:${port}/api/hello/who`)
              : await fetch(`http://127.0.0.1:${port}/api/hello/echo`, {
                  method: 'POST',
                  headers: { 'content-type': 'application/json' },
                  body: JSON.stringify({ caller, n }),
                });
          const body = (await res.json()) as { pid?: number; caller?: number };
          if (res.status !== 200) throw new Error(`status ${res.status}: ${JSON.stringify(body)}`);
          if (caller % 2 === 1 && body.caller !== caller) throw new Error(`echo of caller ${caller} came back as ${JSON.stringify(body)}`);
          return caller % 2 === 0 ? (body.pid as number) : 0;
        },
        { callers: 16, maxMs: 150_000 },
      );
      try {
        await until(() => calls.result.served >= 300, 'requests before the reloads', WAIT);
        // A reload of the gateway alone, then one after its section changed: each replaces the process.
        const replaced = async (what: string) => {
          const before = pids[pids.length - 1];
          let now: number | null = null;
          await until(
            async () => {
              now = await gatewayPid(socketDir);
              return now !== null && now !== before;
            },
            what,
            WAIT,
          );
          pids.push(now as unknown as number);
        };
        expect((await run(['reload', 'gateway', '--socket-dir', socketDir])).code).toBe(0);
        await replaced('a new gateway process after reload gateway');
        writeFileSync(join(dir, 'warren.config.json'), config(true));
        expect((await run(['reload', '--socket-dir', socketDir])).code).toBe(0);
        await replaced('a new gateway process after the section changed');
        expect(new Set(pids).size).toBe(3);
        const served = calls.result.served;
        await until(() => calls.result.served >= served + 300, 'requests after the reloads', WAIT);
      } finally {
        await calls.stop();
      }
      expect(calls.result.failures).toEqual([]);
      expect(calls.result.failed).toBe(0);
      expect(calls.result.served).toBeGreaterThanOrEqual(600);
    } finally {
      up.child.kill('SIGTERM');
      await up.closed;
    }
  });
});
