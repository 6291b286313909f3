// `warren init`: the starter project it writes runs under `warren up` as it is (real processes:
// the built CLI, the supervisor, two service instances), and init never overwrites a file.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useCli } from './support/cli.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const { run, workDir } = useCli();

/** The project as after `npm install warren`: node_modules/warren is this package (built). */
function installWarren(dir: string): void {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(root, join(dir, 'node_modules', 'warren'), 'dir');
}

describe('warren init', () => {
  it('writes a config and a service that run under warren up at once', async () => {
    const { dir, socketDir } = workDir();
    const project = join(dir, 'app');
    const init = await run(['init', project]);
    expect(init, init.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(init.stdout).toContain(`wrote warren.config.json and hello.mjs in ${project}`);
    const config = JSON.parse(readFileSync(join(project, 'warren.config.json'), 'utf8')) as { $schema: string };
    installWarren(project);
    // The $schema it names is the one the package ships.
    expect(existsSync(join(project, config.$schema))).toBe(true);

    const up = await run(['up', '--detach', '--socket-dir', socketDir], { cwd: project });
    expect(up, up.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(up.stdout).toContain('2 of 2 instances online (hello 2/2)');

    const call = await run(['call', 'hello', 'GET', '/hello?name=Ada', '--json', '--socket-dir', socketDir]);
    expect(call, call.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(call.stdout)).toMatchObject({ status: 200, body: { hello: 'Ada' } });

    const stop = await run(['stop', '--socket-dir', socketDir]);
    expect(stop, stop.stderr).toMatchObject({ code: 0 });
    expect(existsSync(join(socketDir, 'supervisor.sock'))).toBe(false);
  }, 180_000);

  it('writes into the current directory by default', async () => {
    const { dir } = workDir();
    const init = await run(['init'], { cwd: dir });
    expect(init, init.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(existsSync(join(dir, 'warren.config.json'))).toBe(true);
    expect(existsSync(join(dir, 'hello.mjs'))).toBe(true);
  });

  it.each([
    ['warren.config.json', '{"services":[]}'],
    ['warren.config.ts', 'export default {};'],
    ['hello.mjs', '// mine'],
  ])('refuses when %s exists, in one line with the fix, and writes nothing', async (name, text) => {
    const { dir } = workDir();
    writeFileSync(join(dir, name), text);
    const init = await run(['init', dir]);
    expect(init.code).toBe(1);
    expect(init.stdout).toBe('');
    expect(init.stderr).toBe(
      `warren init: WARREN_INVALID_ARGUMENT: ${join(dir, name)} already exists: init writes only where it overwrites nothing; edit that project's files, or name an empty directory (warren init <dir>)\n`,
    );
    expect(readFileSync(join(dir, name), 'utf8')).toBe(text);
    for (const other of ['warren.config.json', 'hello.mjs'].filter((n) => n !== name)) expect(existsSync(join(dir, other))).toBe(false);
  });
});
