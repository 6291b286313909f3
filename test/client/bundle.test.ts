/** The browser bundle must load in a browser: no Node built-ins, no CommonJS require. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const dist = path.join(import.meta.dirname, '..', '..', 'dist', 'client');

describe('dist/client/warren-client.browser.js', () => {
  it('is one ES module without node: imports or require(', () => {
    const bundle = readFileSync(path.join(dist, 'warren-client.browser.js'), 'utf8');
    expect(bundle.length).toBeGreaterThan(1000);
    // match() rather than toMatch: a failure shows the offending text, not the whole bundle.
    expect(bundle.match(/.{0,40}node:.{0,40}/)?.[0]).toBeUndefined();
    expect(bundle.match(/.{0,40}\brequire\(.{0,40}/)?.[0]).toBeUndefined();
    // No import statement or dynamic import left: everything it needs is inside.
    expect(bundle.match(/(?:^|[;}\s])import\s*(?:[{*"']|\().{0,40}/)?.[0]).toBeUndefined();
    expect(bundle).toMatch(/export\s*\{[^}]*\bconnect\b/);
  });

  it('the Node entry imports nothing of Node either (it runs in browsers through bundlers)', () => {
    const entry = readFileSync(path.join(dist, 'index.js'), 'utf8');
    expect(entry).not.toMatch(/from\s*["']node:/);
    expect(entry).toMatch(/from\s*["']msgpackr\/pack["']/);
  });
});
