/** The gateway's buffered log destination: every line reaches the file, in order, once end() resolves. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { BufferedDestination } from '../../src/gateway/log-destination.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it('writes every line in order, in large writes, the rest at end()', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgl-'));
  dirs.push(dir);
  const file = join(dir, 'gateway.log');
  const destination = new BufferedDestination(file);
  const lines = Array.from({ length: 5_000 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 50)}"}\n`);
  for (const line of lines) expect(destination.write(line)).toBe(true);
  // 5000 lines of ~30-80 bytes: several batches of 64 KiB were started, the rest waits for end().
  await destination.end();
  expect(readFileSync(file, 'utf8')).toBe(lines.join(''));
  expect(destination.write('late\n')).toBe(false);
});
