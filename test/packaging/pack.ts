/**
 * The package as a consumer gets it, for the packaging tests: `npm pack` of this repository
 * (after `npm run build`, which npm test runs first), unpacked into `<project>/node_modules/warren`
 * of a fresh project, with its dependencies symlinked from this repository's node_modules (the
 * same versions `npm install` would fetch; offline). Optional peer dependencies (tsx,
 * pino-pretty) are linked only when asked for, as npm installs them only when the project does.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll } from 'vitest';

export const run = promisify(execFile);
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface PackedProject {
  /** The project directory (its package.json is `{ "type": "module" }`). */
  app: string;
  /** node_modules/warren in it. */
  warren: string;
  /** The package's own package.json, as shipped. */
  manifest: { dependencies: Record<string, string>; peerDependencies?: Record<string, string>; files: string[] };
}

/** Registers the afterAll that removes every project made; returns `pack`. */
export function usePackedProjects() {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh project with the packed package installed, plus `extra` packages (e.g. @types/node, tsx) linked. */
  async function pack(extra: readonly string[] = []): Promise<PackedProject> {
    if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build');
    const base = mkdtempSync(join(tmpdir(), 'warren-pack-'));
    dirs.push(base);
    // --ignore-scripts: packing would run `prepare` (a second build); dist/ is already built.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', base], { cwd: root });
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    const app = join(base, 'app');
    const warren = join(app, 'node_modules', 'warren');
    mkdirSync(warren, { recursive: true });
    await run('tar', ['-xzf', join(base, filename), '-C', warren, '--strip-components=1']);
    const manifest = JSON.parse(readFileSync(join(warren, 'package.json'), 'utf8')) as PackedProject['manifest'];
    for (const name of [...Object.keys(manifest.dependencies), ...extra]) {
      const target = join(app, 'node_modules', name);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(join(root, 'node_modules', name), target, 'dir');
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    return { app, warren, manifest };
  }

  return { pack };
}
