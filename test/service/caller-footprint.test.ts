/**
 * A process that only calls services loads nothing of the serving side: from the client's
 * entry, no import (followed statically through dist/) reaches the server, the dispatcher,
 * the listener or run.ts, and in a real process importing the client leaves find-my-way
 * (loaded by the router on first use) and zod unloaded.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/service/', import.meta.url));

/** Every dist module reached from `entry` by static imports and re-exports (type-only ones are erased by tsc). */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [resolve(entry)];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)';/gms)) {
      const spec = match[1] as string;
      if (spec.startsWith('.')) todo.push(join(dirname(file), spec));
      else seen.add(spec);
    }
    for (const match of source.matchAll(/^import\s+'([^']+)';/gm)) seen.add(match[1] as string);
  }
  return seen;
}

const names = (files: Set<string>) => [...files].map((f) => (f.startsWith(DIST) ? f.slice(DIST.length) : f));

describe('what a caller-only process loads', () => {
  it('the client entry reaches no serving module', () => {
    const loaded = names(reachable(join(DIST, 'client.js')));
    expect(loaded).toContain('client.js');
    expect(loaded).toContain('instance-pool.js');
    for (const serving of ['server.js', 'dispatch.js', 'listener.js', 'run.js', 'metrics.js']) {
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
      await import(${JSON.stringify(join(DIST, 'client.js'))});
      const afterClient = [...new Set(loaded())];
      const { createRouter } = await import(${JSON.stringify(join(DIST, 'router.js'))});
      createRouter({ 'GET /a/:id': 1 });
      console.log(JSON.stringify({ afterClient, afterRouter: [...new Set(loaded())] }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const { afterClient, afterRouter } = JSON.parse(out) as { afterClient: string[]; afterRouter: string[] };
    expect(afterClient).toEqual([]);
    expect(afterRouter).toContain('find-my-way');
  });
});
