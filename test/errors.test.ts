import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isWarrenError, PeerClosedError, RemoteError, TimeoutError, WarrenError } from '../src/errors.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);

describe('error registry', () => {
  it('docs/errors.md lists exactly the codes in src/errors.ts, each once', () => {
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('brands errors so that a copy from another install is still recognised', () => {
    const foreign = Object.create({ [Symbol.for('warren.error')]: true, code: 'WARREN_TIMEOUT' });
    expect(isWarrenError(foreign)).toBe(true);
    expect(isWarrenError(new Error('plain'))).toBe(false);
    expect(isWarrenError(null)).toBe(false);
    expect(isWarrenError(new TimeoutError('m', 5))).toBe(true);
  });

  it('gives every class its stable code and keeps causes and data', () => {
    const cause = new Error('socket reset');
    const closed = new PeerClosedError('gone', { cause });
    expect(closed.code).toBe('WARREN_PEER_CLOSED');
    expect(closed.cause).toBe(cause);
    expect(closed).toBeInstanceOf(WarrenError);
    const remote = new RemoteError('E_APP', 'nope', { data: { x: 1 }, rpcCode: -32000 });
    expect([remote.code, remote.message, remote.data, remote.rpcCode, remote.remoteStack]).toEqual([
      'E_APP',
      'nope',
      { x: 1 },
      -32000,
      undefined,
    ]);
    expect(new TimeoutError('users.get', 250).message).toBe("request 'users.get' got no response within 250 ms");
  });
});
