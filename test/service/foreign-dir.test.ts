/**
 * A socket directory owned by another user is refused, and the refusal says what to do: a
 * service process started on it exits naming the directory, the way to use one's own and the
 * chown that would make it one's own. Needs root (to chown to another uid).
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const RUN = fileURLToPath(new URL('../fixtures/service-run.mjs', import.meta.url));
const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function foreignDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'warren-foreign-'));
  roots.push(root);
  const dir = join(root, 'run');
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  chownSync(dir, 65534, 65534);
  return dir;
}

describe.runIf(process.getuid?.() === 0)('a socket directory owned by another user (run as root)', () => {
  it('makes a service process exit with a message that says what to do', async () => {
    const dir = foreignDir();
    const proc = spawn(process.execPath, [RUN], { env: { ...process.env, WARREN_SOCKET_DIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.setEncoding('utf8').on('data', (s: string) => {
      err += s;
    });
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(err).toContain(`socket directory ${dir} is owned by uid 65534`);
    expect(err).toContain('WARREN_SOCKET_DIR=<dir>');
    expect(err).toContain(`chown 0 ${dir}`);
  });
});
