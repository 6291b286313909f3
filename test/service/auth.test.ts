import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import {
  FailureLimiter,
  loadOrCreateToken,
  PREVIOUS_TOKEN_FILE,
  readToken,
  rotateToken,
  TOKEN_FILE,
  TokenVerifier,
} from '../../src/service/auth.js';

const HEX64 = /^[0-9a-f]{64}$/;
const fixture = fileURLToPath(new URL('../fixtures/token-race.mjs', import.meta.url));
const builtAuth = fileURLToPath(new URL('../../dist/service/index.js', import.meta.url));

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'warren-test-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function modeOf(path: string): number {
  return lstatSync(path).mode & 0o777;
}

function writeToken(content: string, mode = 0o600, file = TOKEN_FILE): string {
  const path = join(dir, file);
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

async function rejection(promise: Promise<unknown>, code: string): Promise<Error & { code: string; data?: unknown }> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(isWarrenError(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  return error as Error & { code: string };
}

function thrown(fn: () => unknown, code: string): Error {
  try {
    fn();
  } catch (error) {
    expect(isWarrenError(error)).toBe(true);
    expect((error as { code: string }).code).toBe(code);
    return error as Error;
  }
  throw new Error('expected a throw');
}

/** A clock for tests: `clock.now` is passed as `now`, `clock.t` moved by hand. */
function fakeClock(start = 1_000_000) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

describe('loadOrCreateToken', () => {
  it('creates 64 hex characters (32 random bytes) in .auth_token, mode 0600, and returns the same token after', async () => {
    const old = process.umask(0o000);
    let token: string;
    try {
      token = await loadOrCreateToken(dir);
    } finally {
      process.umask(old);
    }
    expect(token).toMatch(HEX64);
    const path = join(dir, TOKEN_FILE);
    expect(readFileSync(path, 'utf8')).toBe(token);
    expect(modeOf(path)).toBe(0o600);
    expect(lstatSync(path).isFile()).toBe(true);
    expect(await loadOrCreateToken(dir)).toBe(token);
    expect(await readToken(dir)).toBe(token);
    // Random: another directory gets another token.
    const other = mkdtempSync(join(tmpdir(), 'warren-test-'));
    try {
      expect(await loadOrCreateToken(other)).not.toBe(token);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('creates it 0640 with a group, and then accepts 0640 or 0600', async () => {
    const token = await loadOrCreateToken(dir, { group: true });
    expect(modeOf(join(dir, TOKEN_FILE))).toBe(0o640);
    expect(await loadOrCreateToken(dir, { group: true })).toBe(token);
    chmodSync(join(dir, TOKEN_FILE), 0o600);
    expect(await loadOrCreateToken(dir, { group: true })).toBe(token);
  });

  it('gives one token to many concurrent callers in one process', async () => {
    const tokens = await Promise.all(Array.from({ length: 16 }, () => loadOrCreateToken(dir)));
    expect(new Set(tokens).size).toBe(1);
    expect(readFileSync(join(dir, TOKEN_FILE), 'utf8')).toBe(tokens[0]);
    expect(readdirSync(dir)).toEqual([TOKEN_FILE]);
  });

  it('gives one token to processes that start at the same moment', async () => {
    expect(existsSync(builtAuth), `${builtAuth} is missing: run npm run build first`).toBe(true);
    for (let round = 0; round < 3; round++) {
      const roundDir = join(dir, `round-${round}`);
      mkdirSync(roundDir, { mode: 0o700 });
      const tokens = await race(roundDir, 4);
      expect(
        tokens.every((line) => line.startsWith('token ')),
        tokens.join('\n'),
      ).toBe(true);
      expect(new Set(tokens).size).toBe(1);
      expect(`token ${readFileSync(join(roundDir, TOKEN_FILE), 'utf8')}`).toBe(tokens[0]);
      expect(readdirSync(roundDir)).toEqual([TOKEN_FILE]);
    }
  });

  it('waits for a token that another process is still writing', async () => {
    const path = writeToken('');
    const token = 'ab'.repeat(32);
    setTimeout(() => writeFileSync(path, token), 30);
    expect(await loadOrCreateToken(dir)).toBe(token);
  });

  it('gives up, with a clear error, on a token file that stays incomplete', async () => {
    const path = writeToken('abc');
    const started = Date.now();
    const error = await rejection(loadOrCreateToken(dir), 'WARREN_SOCKET_DIR');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error.message).toContain(path);
    expect(error.message).toContain('still incomplete (3 of 64 characters)');
    expect(error.message).toContain('delete it');
  });

  it('refuses a token file readable by others (0644), naming it and its mode, without changing it', async () => {
    const path = writeToken('ab'.repeat(32), 0o644);
    const error = await rejection(loadOrCreateToken(dir), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain(path);
    expect(error.message).toContain('mode 0644; expected 0600');
    expect(modeOf(path)).toBe(0o644);
    await rejection(loadOrCreateToken(dir, { group: true }), 'WARREN_SOCKET_DIR');
  });

  it('refuses 0640 when no group is configured', async () => {
    writeToken('ab'.repeat(32), 0o640);
    const error = await rejection(loadOrCreateToken(dir), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain('mode 0640; expected 0600');
  });

  it.each([
    ['text', 'this is not a token at all'],
    ['65 hex characters', 'a'.repeat(65)],
    ['upper-case hex', 'AB'.repeat(32)],
    ['a trailing newline', `${'ab'.repeat(32)}\n`],
    ['a huge file', 'a'.repeat(10_000)],
  ])('refuses a token file holding %s, without echoing it', async (_label, content) => {
    const path = writeToken(content);
    const error = await rejection(loadOrCreateToken(dir), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain(path);
    expect(error.message).toContain('does not hold a token');
    expect(error.message).not.toContain(content.slice(0, 20));
  });

  it('refuses a symbolic link (even a dangling one) or a directory in place of the token file', async () => {
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'ab'.repeat(32), { mode: 0o600 });
    symlinkSync(target, join(dir, TOKEN_FILE));
    const link = await rejection(loadOrCreateToken(dir), 'WARREN_SOCKET_DIR');
    expect(link.message).toContain('symbolic link');
    rmSync(join(dir, TOKEN_FILE));
    symlinkSync(join(dir, 'nowhere'), join(dir, TOKEN_FILE)); // dangling: 'wx' must not follow it
    await rejection(loadOrCreateToken(dir), 'WARREN_SOCKET_DIR');
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    rmSync(join(dir, TOKEN_FILE));
    mkdirSync(join(dir, TOKEN_FILE));
    const folder = await rejection(loadOrCreateToken(dir), 'WARREN_SOCKET_DIR');
    expect(folder.message).toContain('not a regular file');
  });

  it.runIf(process.getuid?.() === 0)('refuses a token file owned by another user (run as root)', async () => {
    const path = writeToken('ab'.repeat(32));
    chownSync(path, 65534, 65534);
    const error = await rejection(loadOrCreateToken(dir), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain(`${path} is owned by uid 65534, expected uid 0`);
    // A client in the configured group reads a token that belongs to the services' user.
    chmodSync(path, 0o640);
    expect(await readToken(dir, { group: true })).toBe('ab'.repeat(32));
  });

  it('fails with WARREN_SOCKET_DIR when the directory does not exist', async () => {
    const error = await rejection(loadOrCreateToken(join(dir, 'missing')), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain('does not exist');
  });

  it('readToken never creates the file', async () => {
    const error = await rejection(readToken(dir), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain(join(dir, TOKEN_FILE));
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('TokenVerifier', () => {
  it('accepts the token and refuses anything else', async () => {
    const token = await loadOrCreateToken(dir);
    const verifier = new TokenVerifier(dir);
    expect(verifier.verify(token)).toBe(true);
    expect(verifier.verify(`${token.slice(0, 63)}${token[63] === '0' ? '1' : '0'}`)).toBe(false);
    expect(verifier.verify('')).toBe(false);
    expect(verifier.verify(token.slice(1))).toBe(false);
    expect(verifier.verify(`${token}0`)).toBe(false);
    expect(verifier.verify(token.toUpperCase())).toBe(false);
    expect(verifier.verify(token.repeat(100))).toBe(false);
  });

  it.each([undefined, null, 42, true, {}, [], Buffer.from('x')])('refuses the non-string %j', async (value) => {
    const token = await loadOrCreateToken(dir);
    const verifier = new TokenVerifier(dir);
    expect(verifier.verify(value)).toBe(false);
    expect(verifier.verify(Buffer.from(token))).toBe(false);
  });

  it('cannot be made without a valid token file', async () => {
    expect(thrown(() => new TokenVerifier(dir), 'WARREN_SOCKET_DIR').message).toContain('no token file');
    writeToken('ab'.repeat(32), 0o644);
    expect(thrown(() => new TokenVerifier(dir), 'WARREN_SOCKET_DIR').message).toContain('mode 0644');
    thrown(() => new TokenVerifier(dir, { checkIntervalMs: -1 }), 'WARREN_INVALID_ARGUMENT');
  });

  it('accepts the old and the new token during the grace period after a rotation, then only the new one', async () => {
    const clock = fakeClock();
    const old = await loadOrCreateToken(dir);
    const verifier = new TokenVerifier(dir, { now: clock.now });
    const fresh = await rotateToken(dir, { graceMs: 5_000, now: clock.now });
    expect(fresh).toMatch(HEX64);
    expect(fresh).not.toBe(old);
    expect(readFileSync(join(dir, TOKEN_FILE), 'utf8')).toBe(fresh);
    expect(modeOf(join(dir, TOKEN_FILE))).toBe(0o600);
    expect(modeOf(join(dir, PREVIOUS_TOKEN_FILE))).toBe(0o600);
    expect(JSON.parse(readFileSync(join(dir, PREVIOUS_TOKEN_FILE), 'utf8'))).toEqual({ token: old, expiresAt: clock.t + 5_000 });
    expect(readdirSync(dir).sort()).toEqual([TOKEN_FILE, PREVIOUS_TOKEN_FILE]); // no temporary file left

    // Made before the rotation: it only knows the old token until it looks again.
    expect(verifier.verify(fresh)).toBe(false);
    verifier.refresh();
    expect(verifier.verify(fresh)).toBe(true);
    expect(verifier.verify(old)).toBe(true);

    clock.t += 4_999;
    expect(verifier.verify(old)).toBe(true);
    clock.t += 1;
    expect(verifier.verify(old)).toBe(false);
    expect(verifier.verify(fresh)).toBe(true);
    expect(await loadOrCreateToken(dir)).toBe(fresh);
  });

  it('notices a rotation by itself once its check interval has passed', async () => {
    const clock = fakeClock();
    const old = await loadOrCreateToken(dir);
    const verifier = new TokenVerifier(dir, { now: clock.now, checkIntervalMs: 1_000 });
    const fresh = await rotateToken(dir, { now: clock.now });
    clock.t += 999;
    expect(verifier.verify(fresh)).toBe(false);
    clock.t += 1;
    expect(verifier.verify(fresh)).toBe(true);
    expect(verifier.verify(old)).toBe(true); // default grace: 60 s
    clock.t += 60_000;
    expect(verifier.verify(old)).toBe(false);
  });

  it('keeps working with the last good tokens when a file goes bad, and says why', async () => {
    const clock = fakeClock();
    const token = await loadOrCreateToken(dir);
    const verifier = new TokenVerifier(dir, { now: clock.now, checkIntervalMs: 10 });
    chmodSync(join(dir, TOKEN_FILE), 0o644);
    clock.t += 10;
    expect(verifier.verify(token)).toBe(true);
    expect(verifier.lastError).toMatchObject({ code: 'WARREN_SOCKET_DIR' });
    expect(verifier.lastError?.message).toContain('mode 0644');
    expect(() => verifier.refresh()).toThrow(/mode 0644/);
    chmodSync(join(dir, TOKEN_FILE), 0o600);
    clock.t += 10;
    expect(verifier.verify(token)).toBe(true);
    expect(verifier.lastError).toBeUndefined();
  });

  it('refuses a garbage previous-token file', async () => {
    await loadOrCreateToken(dir);
    writeToken('{"token": "nope"}', 0o600, PREVIOUS_TOKEN_FILE);
    expect(thrown(() => new TokenVerifier(dir), 'WARREN_SOCKET_DIR').message).toContain(PREVIOUS_TOKEN_FILE);
  });

  it('rotates a directory that had no token yet without a previous token', async () => {
    const token = await rotateToken(dir);
    expect(readdirSync(dir)).toEqual([TOKEN_FILE]);
    expect(new TokenVerifier(dir).verify(token)).toBe(true);
    await rejection(rotateToken(dir, { graceMs: -1 }), 'WARREN_INVALID_ARGUMENT');
  });

  it('rotates with group modes when a group is configured', async () => {
    await loadOrCreateToken(dir, { group: true });
    await rotateToken(dir, { group: true });
    expect(modeOf(join(dir, TOKEN_FILE))).toBe(0o640);
    expect(modeOf(join(dir, PREVIOUS_TOKEN_FILE))).toBe(0o640);
  });
});

describe('FailureLimiter', () => {
  it('reaches its limit at the Nth failure (3 by default)', () => {
    const limiter = new FailureLimiter();
    expect(limiter.limit).toBe(3);
    expect([limiter.recordFailure(), limiter.recordFailure(), limiter.recordFailure()]).toEqual([false, false, true]);
    expect(limiter.reached).toBe(true);
    expect(limiter.failures).toBe(3);
    limiter.reset();
    expect(limiter.reached).toBe(false);
    expect(new FailureLimiter(1).recordFailure()).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses the limit %j', (limit) => {
    thrown(() => new FailureLimiter(limit), 'WARREN_INVALID_ARGUMENT');
  });
});

/** Starts `count` processes that all load the token of `roundDir` at the same moment; resolves with their output lines. */
async function race(roundDir: string, count: number): Promise<string[]> {
  const children: ChildProcessWithoutNullStreams[] = [];
  try {
    const outputs = Array.from({ length: count }, () => {
      const child = spawn(process.execPath, [fixture, roundDir], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        out += s;
      });
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        err += s;
      });
      const ready = new Promise<void>((resolve, reject) => {
        const check = () => {
          if (out.startsWith('ready\n')) {
            child.stdout.off('data', check);
            resolve();
          }
        };
        child.stdout.on('data', check);
        child.once('exit', (code) => reject(new Error(`racer exited (${code}) before it was ready: ${err}`)));
      });
      const done = new Promise<string>((resolve, reject) => {
        child.once('exit', () => {
          const line = out.split('\n')[1];
          if (line) resolve(line);
          else reject(new Error(`racer printed no result: ${out}${err}`));
        });
      });
      done.catch(() => {}); // awaited below; a racer dying before it is ready fails through \`ready\`
      return { child, ready, done };
    });
    await Promise.all(outputs.map((o) => o.ready));
    const at = Date.now() + 100;
    for (const { child } of outputs) child.stdin.write(`go ${at}\n`);
    return await Promise.all(outputs.map((o) => o.done));
  } finally {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}
