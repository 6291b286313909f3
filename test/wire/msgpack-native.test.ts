/**
 * msgpackr's native decoder (the msgpackr-extract addon) is loaded only once a process has
 * decoded enough payloads to be busy: an idle process never maps it (it costs ~7 MB of memory),
 * and a busy one gets its speed. Checked in a fresh process on the built package.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const builtWire = fileURLToPath(new URL('../../dist/wire/index.js', import.meta.url));

const script = `
  import { readFileSync } from 'node:fs';
  const { msgpackCodec } = await import(${JSON.stringify(builtWire)});
  const addonMapped = () => /msgpackr-extract.*\\.node/.test(readFileSync('/proc/self/maps', 'utf8'));
  const bytes = Buffer.from(msgpackCodec.encode({ name: 'a string long enough to be extracted', n: 1 }));
  const decoded = [];
  for (let i = 0; i < 999; i++) decoded.push(msgpackCodec.decode(bytes));
  const idle = addonMapped();
  decoded.push(msgpackCodec.decode(bytes));
  const deadline = Date.now() + 10000;
  while (!addonMapped() && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  const after = msgpackCodec.decode(bytes);
  console.log(JSON.stringify({ idle, busy: addonMapped(), same: JSON.stringify(after) === JSON.stringify(decoded[0]) }));`;

describe('msgpack native decoding', () => {
  it.runIf(process.platform === 'linux')('is loaded after the 1000th decode, not before, and decodes the same', () => {
    expect(existsSync(builtWire), `${builtWire} is missing: run npm run build first`).toBe(true);
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ idle: false, busy: true, same: true });
  });
});
