/**
 * Warren as a consumer meets it: the package is packed with `npm pack`, unpacked into a fresh
 * project's node_modules, and that project's code (consumer/app.ts: contracts, handlers, the
 * client and the peer) is type-checked with strictest settings and skipLibCheck off, so a
 * .d.ts that breaks under exactOptionalPropertyTypes, or a type that breaks a consumer's call,
 * fails here although Warren's own (laxer) tsconfig passes.
 *
 * Installing is done by hand, offline: the tarball is unpacked into node_modules/warren and
 * its dependencies (with zod and @types/node) are symlinked from this repository's
 * node_modules, which holds the same versions `npm install` would fetch. The tests run after
 * `npm run build` (npm test builds first), so the tarball holds the current dist/.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

it('a strictest consumer project (exactOptionalPropertyTypes, skipLibCheck off) type-checks against the packed package', async () => {
  expect(existsSync(join(root, 'dist', 'service', 'contract.d.ts')), 'dist/ is missing: run npm run build').toBe(true);
  const base = mkdtempSync(join(tmpdir(), 'warren-consumer-'));
  dirs.push(base);

  // --ignore-scripts: packing would run `prepare` (a second build); dist/ is already built.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', base], { cwd: root });
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  const app = join(base, 'app');
  const warren = join(app, 'node_modules', 'warren');
  mkdirSync(warren, { recursive: true });
  await run('tar', ['-xzf', join(base, filename), '-C', warren, '--strip-components=1']);
  expect(existsSync(join(warren, 'dist', 'service', 'contract.d.ts'))).toBe(true);
  expect(existsSync(join(warren, 'src')), 'the package ships dist/, not src/').toBe(false);

  const manifest = JSON.parse(readFileSync(join(warren, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of [...Object.keys(manifest.dependencies), '@types/node']) {
    const target = join(app, 'node_modules', name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), target, 'dir');
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  cpSync(join(root, 'test', 'packaging', 'consumer'), app, { recursive: true });

  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app }).catch(
    (error: { stdout?: string; stderr?: string; code?: number }) => error,
  );
  // tsc prints each error (an unused @ts-expect-error included) on stdout and exits non-zero.
  expect(`${result.stdout ?? ''}${result.stderr ?? ''}`).toBe('');
  expect('code' in result ? result.code : 0).toBe(0);
}, 120_000);
