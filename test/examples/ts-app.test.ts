/**
 * examples/ts-app as a user has it: Warren from the packed tarball (test/packaging/pack.ts), the
 * project type-checked with its own strictest tsconfig (skipLibCheck off), then run by the
 * packed `warren up` (a warren.config.ts and .ts services, through tsx) and called by its typed
 * client. Real processes throughout.
 */
import { execFile } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { root, usePackedProjects } from '../packaging/pack.js';
import { useCli } from '../support/cli.js';

const exec = promisify(execFile);
const { pack } = usePackedProjects();
const { workDir } = useCli();

/** Runs `node ...args` in `cwd` to its end; never rejects (the result says how it ended). */
function node(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('WARREN_')));
  return exec(process.execPath, args, { cwd, env: { ...clean, ...env }, timeout: 120_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code,
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
}

it('type-checks with strictest settings against the packed package, runs under warren up and answers its typed client', async () => {
  const { app, warren } = await pack(['tsx', '@types/node']);
  cpSync(join(root, 'examples', 'ts-app'), app, { recursive: true });

  const tsc = await node([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app);
  expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
  expect(tsc.code).toBe(0);

  const { socketDir } = workDir();
  const cli = join(warren, 'dist', 'cli', 'main.js');
  const up = await node([cli, 'up', '--detach', '--socket-dir', socketDir], app);
  expect(up, up.stderr).toMatchObject({ code: 0, stderr: '' });
  expect(up.stdout).toContain('2 of 2 instances online (greeter 2/2)');

  const client = await node(['--import', 'tsx', 'src/client.ts', 'Ada'], app, { WARREN_SOCKET_DIR: socketDir });
  expect(client, client.stderr).toMatchObject({ code: 0 });
  expect(JSON.parse(client.stdout)).toMatchObject({ text: 'HELLO, ADA!' });

  const stop = await node([cli, 'stop', '--socket-dir', socketDir], app);
  expect(stop.code, stop.stderr).toBe(0);
}, 240_000);
