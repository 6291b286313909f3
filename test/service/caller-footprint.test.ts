/**
 * A process that only calls services loads nothing of the serving side: from the client's
 * module, no import (followed statically through src/, type-only imports left out as the build
 * leaves them out) reaches the server, the dispatcher, the listener or run.ts, and in a real
 * process importing the built `warren/service` leaves find-my-way (loaded by the router on first
 * use) and zod unloaded.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/service/', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/service/index.js', import.meta.url));

/** Every src module reached from `entry` by static imports and re-exports that are not type-only. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [resolve(entry)];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/^(?:import|export)\s(?!type\s)[^;]*?from\s+'([^']+)';/gms)) {
      const spec = match[1] as string;
      if (spec.startsWith('.')) todo.push(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else seen.add(spec);
    }
    for (const match of source.matchAll(/^import\s+'([^']+)';/gm)) seen.add(match[1] as string);
  }
  return seen;
}

const names = (files: Set<string>) => [...files].map((f) => (f.startsWith(SRC) ? f.slice(SRC.length) : f));

describe('what a caller-only process loads', () => {
  it('the client entry reaches no serving module', () => {
    const loaded = names(reachable(join(SRC, 'client.ts')));
    expect(loaded).toContain('client.ts');
    expect(loaded).toContain('instance-pool.ts');
    for (const serving of ['server.ts', 'dispatch.ts', 'listener.ts', 'run.ts', 'metrics.ts']) {
      expect(loaded).not.toContain(serving);
    }
    expect(loaded).not.toContain('find-my-way');
    expect(loaded).not.toContain('zod');
  });

  it('a real process importing the client has not loaded find-my-way nor zod; making a router loads find-my-way', () => {
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const loaded = () => Object.keys(require.cache).filter((p) => /node_modules\\/(find-my-way|zod)\\//.test(p)).map((p) => p.match(/node_modules\\/([^/]+)/)[1]);
      const { ServiceClient, createRouter } = await import(${JSON.stringify(BUILT)});
      new ServiceClient({ socketDir: '/nonexistent-warren-dir' }).close();
      const afterClient = [...new Set(loaded())];
      createRouter({ 'GET /a/:id': 1 });
      console.log(JSON.stringify({ afterClient, afterRouter: [...new Set(loaded())] }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const { afterClient, afterRouter } = JSON.parse(out) as { afterClient: string[]; afterRouter: string[] };
    expect(afterClient).toEqual([]);
    expect(afterRouter).toContain('find-my-way');
  });
});
