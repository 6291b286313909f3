/**
 * tsx and pino-pretty are optional peer dependencies: a project that installed Warren without them
 * runs `warren up` (JSON logs), and only what needs one of them fails, in one line saying to
 * install it. Real processes: the packed package's CLI in a project without either.
 */
import { execFile } from 'node:child_process';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCli } from '../support/cli.js';
import { type PackedProject, usePackedProjects } from './pack.js';

const exec = promisify(execFile);
const { pack } = usePackedProjects();
const { workDir } = useCli();
let project: PackedProject;
let cli: string;

/** Runs the project's own `warren` (its node_modules/warren) with a clean WARREN_* environment. */
async function warren(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('WARREN_')));
  return exec(process.execPath, [cli, ...args], { cwd: project.app, env: { ...clean, ...env }, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code,
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
}

beforeAll(async () => {
  project = await pack();
  cli = join(project.warren, 'dist', 'cli', 'main.js');
  const init = await warren(['init']);
  expect(init.code, init.stderr).toBe(0);
}, 120_000);

describe('without the optional peer dependencies', () => {
  it('they are peers, optional, and not installed', () => {
    expect(Object.keys(project.manifest.dependencies)).not.toContain('tsx');
    expect(Object.keys(project.manifest.dependencies)).not.toContain('pino-pretty');
    expect(project.manifest.peerDependencies).toMatchObject({ tsx: expect.any(String), 'pino-pretty': expect.any(String) });
    expect(existsSync(join(project.app, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(project.app, 'node_modules', 'pino-pretty'))).toBe(false);
  });

  it('warren up runs a JavaScript project, and stops', async () => {
    const { socketDir } = workDir();
    const up = await warren(['up', '--detach', '--socket-dir', socketDir]);
    expect(up, up.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(up.stdout).toContain('2 of 2 instances online');
    const stop = await warren(['stop', '--socket-dir', socketDir]);
    expect(stop.code, stop.stderr).toBe(0);
  }, 120_000);

  it('pretty logs forced with WARREN_LOG_PRETTY=1 say to install pino-pretty', async () => {
    const { socketDir } = workDir();
    const up = await warren(['up', '--socket-dir', socketDir], { WARREN_LOG_PRETTY: '1' });
    expect(up.code).toBe(2);
    expect(up.stderr).toBe(
      'warren up: WARREN_CONFIG: pretty logs need the pino-pretty package, which is not installed: npm install pino-pretty (or WARREN_LOG_PRETTY=0 for JSON lines)\n',
    );
  });

  it('pretty logs by default (a terminal) fall back to JSON lines and say so once', async () => {
    const script = join(project.app, 'log.mjs');
    writeFileSync(
      script,
      `import { createSupervisorLog } from 'warren/supervisor';
let text = '';
const destination = { isTTY: true, write: (chunk) => { text += chunk; return true; }, on() {} };
const log = createSupervisorLog({ level: 'info', logDir: null, destination });
log.event('info', 'users', 0, 'online');
await log.close();
process.stdout.write(text);
`,
    );
    const { stdout } = await exec(process.execPath, [script], { cwd: project.app });
    const lines = stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string });
    expect(lines.map((line) => line.msg)).toEqual([
      'pino-pretty is not installed: logging JSON lines (npm install pino-pretty for readable ones)',
      'online',
    ]);
  });

  it('a TypeScript config says to install tsx', async () => {
    renameSync(join(project.app, 'warren.config.json'), join(project.app, 'warren.config.ts'));
    try {
      const up = await warren(['up', '--detach', '--socket-dir', join(workDir().dir, 's')]);
      expect(up.code).toBe(2);
      expect(up.stderr).toBe(
        `warren up: WARREN_CONFIG: cannot load ${join(project.app, 'warren.config.ts')}: a TypeScript config needs the tsx package (npm install tsx), or write the config as warren.config.mjs or warren.config.json\n`,
      );
    } finally {
      renameSync(join(project.app, 'warren.config.ts'), join(project.app, 'warren.config.json'));
    }
  });
});
