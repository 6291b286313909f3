// The flow docs/deployment.md gives systemd (and Docker): `warren up` in the foreground with
// WARREN_SOCKET_DIR naming a directory made for it (RuntimeDirectory=, mode 0700), the CLI run
// from outside with the same variable, SIGHUP (ExecReload) applying the edited config, and SIGTERM
// (systemctl stop, docker stop) draining and exiting 0 with nothing left behind, and a log file
// in logDir rotated with logrotate's copytruncate. Real processes.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { SupervisorStatus } from '../src/supervisor/index.js';
import { useCli } from './support/cli.js';
import { until } from './support/until.js';

const SERVICE = fileURLToPath(new URL('./fixtures/supervisor/up-service.mjs', import.meta.url));
const { run, start, workDir } = useCli();

function writeConfig(dir: string, instances: number): void {
  writeFileSync(join(dir, 'warren.config.json'), JSON.stringify({ services: [{ name: 'upsvc', entry: SERVICE, instances }] }));
}

describe('deployment as docs/deployment.md describes it', () => {
  it('foreground up with WARREN_SOCKET_DIR: the CLI outside finds it, SIGHUP applies the config, SIGTERM drains and exits 0', async () => {
    const { dir, socketDir } = workDir();
    // What systemd's RuntimeDirectory= with RuntimeDirectoryMode=0700 makes: an existing, empty directory.
    mkdirSync(socketDir, { mode: 0o700 });
    writeConfig(dir, 1);
    const logFile = join(dir, 'logs', 'upsvc.log');
    const env = { WARREN_SOCKET_DIR: socketDir, WARREN_LOG_DIR: join(dir, 'logs') };
    const up = start(['up', join(dir, 'warren.config.json')], { cwd: '/', env });

    const status = async (): Promise<SupervisorStatus | null> => {
      const result = await run(['status', '--json'], { env });
      return result.code === 0 ? (JSON.parse(result.stdout) as SupervisorStatus) : null;
    };
    const online = (s: SupervisorStatus | null) => s?.services[0]?.instances.filter((i) => i.state === 'online').length ?? 0;
    await until(async () => online(await status()) === 1, { message: () => `one instance online\n${up.output()}`, timeoutMs: 60_000 });
    // Not a terminal: JSON lines, as journald and `docker logs` store them.
    expect(up.output().split('\n')[0]).toMatch(/^\{.*"msg":/);

    // logrotate's copytruncate: the file is emptied while warren keeps it open; the next lines
    // go at its start (append mode), not after a hole of NUL bytes.
    expect(readFileSync(logFile, 'utf8')).toContain('"service":"upsvc"');
    truncateSync(logFile, 0);

    writeConfig(dir, 2);
    up.child.kill('SIGHUP');
    await until(async () => online(await status()) === 2, {
      message: () => `two instances online after SIGHUP\n${up.output()}`,
      timeoutMs: 60_000,
    });
    const afterTruncate = readFileSync(logFile, 'utf8');
    expect(afterTruncate.length).toBeGreaterThan(0);
    for (const line of afterTruncate.trimEnd().split('\n')) expect(JSON.parse(line)).toMatchObject({ service: 'upsvc' });
    const call = await run(['call', 'upsvc', 'GET', '/who', '--json'], { env });
    expect(call, call.stderr).toMatchObject({ code: 0 });

    up.child.kill('SIGTERM');
    const exit = await up.closed;
    expect(exit, up.output()).toMatchObject({ code: 0, signal: null });
    expect(readdirSync(socketDir).filter((name) => name.endsWith('.sock'))).toEqual([]);
    expect((await run(['status'], { env })).code).toBe(2);
  }, 180_000);

  it('refuses a socket directory others may enter (RuntimeDirectory= without RuntimeDirectoryMode=0700), and says so', async () => {
    const { dir, socketDir } = workDir();
    mkdirSync(socketDir);
    chmodSync(socketDir, 0o755);
    writeConfig(dir, 1);
    const up = await run(['up', join(dir, 'warren.config.json')], { env: { WARREN_SOCKET_DIR: socketDir } });
    expect(up.code).not.toBe(0);
    expect(up.stderr).toContain(socketDir);
    expect(up.stderr).toMatch(/0755|permission|mode/i);
    expect(existsSync(join(socketDir, 'supervisor.sock'))).toBe(false);
  }, 60_000);
});
