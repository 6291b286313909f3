import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  ERROR_CODES,
  ERRORS,
  forbidden,
  httpStatusOf,
  isWarrenError,
  PeerClosedError,
  ProtocolError,
  RemoteError,
  ServiceError,
  SocketDirError,
  spawnFailed,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  WarrenError,
} from '../src/errors.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| `(\w+)` \| ([^|]+) \|/gm)].map((m) => ({
  code: m[1] as string,
  className: m[2] as string,
  http: (m[3] as string).trim(),
}));

/** What a second installed copy of Warren would throw: same brands, other class objects. */
function foreignError(kinds: string[], code: string): object {
  const proto = Object.create(Error.prototype);
  for (const kind of ['WarrenError', ...kinds]) proto[Symbol.for(`warren.error.${kind}`)] = true;
  proto[Symbol.for('warren.error')] = true;
  return Object.assign(Object.create(proto), { code, message: 'from the other copy' });
}

describe('error registry', () => {
  it('docs/errors.md lists exactly the codes in src/errors.ts, each once', () => {
    const documented = rows.map((r) => r.code);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual(Object.keys(ERRORS).sort());
    expect(Object.keys(ERROR_CODES).sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it('docs/errors.md gives each code the class and HTTP status of the table', () => {
    for (const row of rows) {
      const spec = ERRORS[row.code as keyof typeof ERRORS] as { className: string; status?: number };
      expect(row.className, row.code).toBe(spec.className);
      // The first status listed is the table's; a second (414 for an over-long url) is explained in the row.
      const first = row.http.split(',')[0]?.trim();
      expect(first, row.code).toBe(spec.status === undefined ? '—' : String(spec.status));
      expect(httpStatusOf(row.code)).toBe(spec.status);
    }
    expect(httpStatusOf('E_SOMETHING_ELSE')).toBeUndefined();
    expect(httpStatusOf('toString')).toBeUndefined();
  });

  it('every class named in the table is exported and carries its code', () => {
    const classes: Record<string, unknown> = {
      ProtocolError,
      PeerClosedError,
      TimeoutError,
      RemoteError,
      SocketDirError,
      UnauthorizedError,
      ServiceError,
      ConfigError,
      UnavailableError,
      WarrenError,
    };
    for (const spec of Object.values(ERRORS)) {
      if (['FrameTooLargeError', 'CodecError', 'CancelledError'].includes(spec.className)) continue;
      expect(classes[spec.className], spec.className).toBeTypeOf('function');
    }
    expect(new UnauthorizedError().code).toBe('WARREN_UNAUTHORIZED');
    expect(spawnFailed('nope').code).toBe('WARREN_SPAWN');
  });

  it('brands errors so that a copy from another install is still recognised, by isWarrenError and instanceof', () => {
    const foreign = foreignError(['TimeoutError'], 'WARREN_TIMEOUT');
    expect(isWarrenError(foreign)).toBe(true);
    expect(foreign instanceof WarrenError).toBe(true);
    expect(foreign instanceof TimeoutError).toBe(true);
    expect(foreign instanceof PeerClosedError).toBe(false);
    expect(isWarrenError(new Error('plain'))).toBe(false);
    expect(new Error('plain') instanceof WarrenError).toBe(false);
    expect(isWarrenError(null)).toBe(false);
    expect(isWarrenError(new TimeoutError('m', 5))).toBe(true);
    expect(new TimeoutError('m', 5) instanceof PeerClosedError).toBe(false);
    expect([new TimeoutError('m', 5).name, new ServiceError(400, 'E', 'x').name, new WarrenError('E', 'x').name]).toEqual([
      'TimeoutError',
      'ServiceError',
      'WarrenError',
    ]);
    expect(new ProtocolError('x') instanceof WarrenError).toBe(true);
  });

  it('a user subclass without a brand of its own keeps ordinary instanceof', () => {
    class AppError extends WarrenError {}
    const mine = new AppError('E_APP', 'mine');
    expect(mine instanceof AppError).toBe(true);
    expect(mine instanceof WarrenError).toBe(true);
    expect(new TimeoutError('m', 1) instanceof AppError).toBe(false);
  });

  it('ServiceError is a WarrenError whose status defaults to the table', () => {
    const notFound = new ServiceError(undefined, 'WARREN_NOT_FOUND', 'no such user');
    expect([notFound.status, notFound.code, isWarrenError(notFound)]).toEqual([404, 'WARREN_NOT_FOUND', true]);
    expect(new ServiceError(undefined, 'E_MINE', 'x').status).toBe(500);
    expect(new ServiceError(409, 'E_TAKEN', 'taken', { id: 1 }).data).toEqual({ id: 1 });
    const refused = forbidden('no');
    expect([refused.status, refused.code, refused instanceof ServiceError]).toEqual([403, 'WARREN_FORBIDDEN', true]);
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
