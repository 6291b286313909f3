/**
 * Warren as a consumer meets it: the package is packed with `npm pack`, unpacked into a fresh
 * project's node_modules (pack.ts), and that project's code (consumer/app.ts: contracts, handlers,
 * the client, the peer, a typed config) is type-checked with strictest settings and skipLibCheck
 * off, so a .d.ts that breaks under exactOptionalPropertyTypes, or a type that breaks a
 * consumer's call, fails here although Warren's own (laxer) tsconfig passes.
 */
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { root, run, usePackedProjects } from './pack.js';

const { pack } = usePackedProjects();

it('a strictest consumer project (exactOptionalPropertyTypes, skipLibCheck off) type-checks against the packed package', async () => {
  const { app, warren } = await pack(['@types/node']);
  expect(existsSync(join(warren, 'dist', 'service', 'contract.d.ts'))).toBe(true);
  expect(existsSync(join(warren, 'src')), 'the package ships dist/, not src/').toBe(false);
  cpSync(join(root, 'test', 'packaging', 'consumer'), app, { recursive: true });

  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app }).catch(
    (error: { stdout?: string; stderr?: string; code?: number }) => error,
  );
  // tsc prints each error (an unused @ts-expect-error included) on stdout and exits non-zero.
  expect(`${result.stdout ?? ''}${result.stderr ?? ''}`).toBe('');
  expect('code' in result ? result.code : 0).toBe(0);
}, 120_000);
