import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BinaryFraming } from '../src/wire/binary.js';
import type { MessageSink } from '../src/wire/framing.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

function encode(write: (framing: BinaryFraming) => void): string {
  const out: Buffer[] = [];
  const framing = new BinaryFraming({
    sink: {} as MessageSink,
    out: { push: (b, s, e) => out.push(Buffer.from(b.subarray(s, e))) },
    codec: 1,
  });
  write(framing);
  return Buffer.concat(out).toString('hex');
}

async function warren(...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [cli, ...args]);
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

describe('warren CLI', () => {
  it('prints its version', async () => {
    const { code, stdout } = await warren('--version');
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('decodes frames from hex, one JSON line each', async () => {
    const hex = encode((f) => {
      f.writeRequest(7, 'users.get', { id: 42 });
      f.writeResponse(7, { name: 'Ada' }, false);
    });
    const { code, stdout } = await warren('decode', hex);
    expect(code).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { type: 'REQUEST', codec: 'json', id: 7, method: 'users.get', payload: { id: 42 } },
      { type: 'RESPONSE', codec: 'json', id: 7, payload: { name: 'Ada' } },
    ]);
  });

  it('reports junk in lenient mode and fails with WARREN_PROTOCOL in strict mode', async () => {
    const hex = Buffer.from('log line\n').toString('hex') + encode((f) => f.writeNotify('tick', 1));
    const lenient = await warren('decode', '--lenient', hex);
    expect(lenient.code).toBe(0);
    expect(
      lenient.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([{ junk: 'log line\n' }, { type: 'NOTIFY', codec: 'json', id: 0, method: 'tick', payload: 1 }]);
    const strict = await warren('decode', hex);
    expect(strict.code).toBe(1);
    expect(JSON.parse(strict.stdout)).toMatchObject({ error: 'WARREN_PROTOCOL' });
  });

  it('refuses input that is not hex', async () => {
    const { code, stdout } = await warren('decode', 'xyz');
    expect(code).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ error: 'WARREN_INVALID_ARGUMENT' });
  });
});
