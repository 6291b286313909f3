import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import {
  checkSocketDir,
  ensureSocketDir,
  MAX_SOCKET_PATH_BYTES,
  parseSocketName,
  projectSocketDir,
  resolveSocketDir,
  socketPathFor,
} from '../../src/service/socket-dir.js';

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'warren-test-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function modeOf(path: string): number {
  return lstatSync(path).mode & 0o777;
}

/** The rejection of `promise`, which must be a WarrenError with `code`. */
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

/** Runs `fn` with a umask, restoring the old one (umask can only be set in a forked worker). */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

describe('resolveSocketDir', () => {
  const uid = process.getuid?.();

  it('takes the option first, then WARREN_SOCKET_DIR, then $XDG_RUNTIME_DIR/warren, then a per-user temp folder', () => {
    const env = { WARREN_SOCKET_DIR: '/env/dir', XDG_RUNTIME_DIR: '/run/user/1000' };
    expect(resolveSocketDir('/opt/sockets', env)).toBe('/opt/sockets');
    expect(resolveSocketDir(undefined, env)).toBe('/env/dir');
    expect(resolveSocketDir(undefined, { XDG_RUNTIME_DIR: '/run/user/1000' })).toBe('/run/user/1000/warren');
    expect(resolveSocketDir(undefined, {})).toBe(join(tmpdir(), `warren-${uid}`));
  });

  it('gives each project directory its own socket directory under the default one: <name>-<hash of the real path>', () => {
    const env = { XDG_RUNTIME_DIR: '/run/user/1000' };
    const shop = join(root, 'My Shop');
    const blog = join(root, 'blog');
    mkdirSync(shop);
    mkdirSync(blog);
    const dir = projectSocketDir(shop, env);
    expect(dir).toMatch(/^\/run\/user\/1000\/warren\/my-shop-[0-9a-f]{8}$/);
    expect(projectSocketDir(blog, env)).toMatch(/^\/run\/user\/1000\/warren\/blog-[0-9a-f]{8}$/);
    expect(projectSocketDir(blog, env).slice(-8)).not.toBe(dir.slice(-8));
    // The same project by another path (a symbolic link) is the same directory.
    symlinkSync(shop, join(root, 'link'));
    expect(projectSocketDir(join(root, 'link'), env)).toBe(dir);
    // Short whatever the project's name: 16 characters of it at most.
    expect(basename(projectSocketDir(join(root, 'x'.repeat(200)), env))).toMatch(/^x{16}-[0-9a-f]{8}$/);
    expect(projectSocketDir(shop, {})).toBe(join(tmpdir(), `warren-${process.getuid?.()}`, basename(dir)));
  });

  it('treats empty strings as unset and returns absolute paths', () => {
    expect(resolveSocketDir('', { WARREN_SOCKET_DIR: '', XDG_RUNTIME_DIR: '/run/user/7' })).toBe('/run/user/7/warren');
    expect(resolveSocketDir(undefined, { WARREN_SOCKET_DIR: '', XDG_RUNTIME_DIR: '' })).toBe(join(tmpdir(), `warren-${uid}`));
    expect(resolveSocketDir('relative/dir', {})).toBe(join(process.cwd(), 'relative/dir'));
  });

  it('reads process.env by default', () => {
    const saved = process.env.WARREN_SOCKET_DIR;
    process.env.WARREN_SOCKET_DIR = '/from/process/env';
    try {
      expect(resolveSocketDir()).toBe('/from/process/env');
    } finally {
      if (saved === undefined) delete process.env.WARREN_SOCKET_DIR;
      else process.env.WARREN_SOCKET_DIR = saved;
    }
  });
});

describe('ensureSocketDir', () => {
  it('creates a missing directory 0700, with its parents, whatever the umask', async () => {
    const dir = join(root, 'a', 'b', 'warren');
    await withUmask(0o022, async () => {
      expect(await ensureSocketDir(dir)).toBe(dir);
    });
    expect(modeOf(dir)).toBe(0o700);
    expect(lstatSync(dir).isDirectory()).toBe(true);
  });

  it('creates it 0750 when a group is configured, even under a umask of 077', async () => {
    const dir = join(root, 'shared');
    await withUmask(0o077, () => ensureSocketDir(dir, { group: true }));
    expect(modeOf(dir)).toBe(0o750);
  });

  it('accepts an existing private directory and leaves it as it is', async () => {
    const dir = join(root, 'existing');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700);
    await ensureSocketDir(dir);
    await ensureSocketDir(dir);
    expect(modeOf(dir)).toBe(0o700);
    expect(await checkSocketDir(dir)).toBe(dir);
  });

  it.each([0o777, 0o755, 0o705, 0o750, 0o710])(
    'refuses an existing directory with mode 0%o, naming the path and mode, and does not chmod it',
    async (mode) => {
      const dir = join(root, 'loose');
      mkdirSync(dir);
      chmodSync(dir, mode);
      const error = await rejection(ensureSocketDir(dir), 'WARREN_SOCKET_DIR');
      expect(error.message).toContain(dir);
      expect(error.message).toContain(`mode 0${mode.toString(8)}`);
      expect(error.message).toContain('expected 0700');
      expect(error.data).toMatchObject({ path: dir, found: { mode: `0${mode.toString(8)}` }, expected: { mode: '0700' } });
      expect(modeOf(dir)).toBe(mode);
    },
  );

  it('a shared directory (sticky, as the system temp directory is): never a chmod, but a dedicated directory inside it', async () => {
    const shared = join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    for (const check of [() => ensureSocketDir(shared), () => checkSocketDir(shared), () => checkSocketDir(shared, { group: true })]) {
      const error = await rejection(check(), 'WARREN_SOCKET_DIR');
      expect(error.message).toContain(
        `socket directory ${shared} is a shared directory (mode 1777: sticky, other users may create files in it)`,
      );
      expect(error.message).toContain(`use a dedicated directory instead, e.g. ${join(shared, `warren-${process.getuid?.()}`)}`);
      expect(error.message).not.toMatch(/run: ch(mod|own)/);
    }
    expect(lstatSync(shared).mode & 0o7777).toBe(0o1777);
    // The real one, where this machine has it sticky (it is on Linux and macOS).
    if ((lstatSync(tmpdir()).mode & 0o1000) !== 0) {
      const error = await rejection(checkSocketDir(tmpdir()), 'WARREN_SOCKET_DIR');
      expect(error.message).toContain('is a shared directory');
      expect(error.message).not.toContain('chmod 7');
    }
  });

  it('with a group, accepts 0750 and 0710 but refuses group write and any access for others', async () => {
    const dir = join(root, 'shared');
    mkdirSync(dir);
    for (const mode of [0o700, 0o710, 0o750]) {
      chmodSync(dir, mode);
      await expect(ensureSocketDir(dir, { group: true })).resolves.toBe(dir);
    }
    for (const mode of [0o770, 0o751, 0o755]) {
      chmodSync(dir, mode);
      const error = await rejection(ensureSocketDir(dir, { group: true }), 'WARREN_SOCKET_DIR');
      expect(error.message).toContain(`mode 0${mode.toString(8)}`);
      expect(error.message).toContain('expected 0750');
      expect(modeOf(dir)).toBe(mode);
    }
  });

  it('refuses a file where the directory should be', async () => {
    const path = join(root, 'file');
    writeFileSync(path, 'not a directory');
    const error = await rejection(ensureSocketDir(path), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain(path);
    expect(error.message).toContain('is not a directory (found a regular file)');
  });

  it('refuses a symbolic link, even to a good private directory', async () => {
    const target = join(root, 'target');
    mkdirSync(target, { mode: 0o700 });
    chmodSync(target, 0o700);
    const link = join(root, 'link');
    symlinkSync(target, link);
    const error = await rejection(ensureSocketDir(link), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain(link);
    expect(error.message).toContain('symbolic link');
  });

  it.runIf(process.getuid?.() === 0)('refuses a directory owned by another user (run as root)', async () => {
    const dir = join(root, 'foreign');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700);
    chownSync(dir, 65534, 65534);
    const error = await rejection(ensureSocketDir(dir), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain(dir);
    expect(error.message).toContain('owned by uid 65534, expected uid 0');
  });

  it('checkSocketDir never creates: a missing directory is an error naming it', async () => {
    const dir = join(root, 'missing');
    const error = await rejection(checkSocketDir(dir), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain(dir);
    expect(error.message).toContain('does not exist');
    expect(() => lstatSync(dir)).toThrow();
  });

  it('reports a parent that is a file as a directory that cannot be created', async () => {
    writeFileSync(join(root, 'plain'), '');
    const error = await rejection(ensureSocketDir(join(root, 'plain', 'warren')), 'WARREN_SOCKET_DIR');
    expect(error.message).toContain(join(root, 'plain', 'warren'));
  });
});

describe('socket names', () => {
  it('builds <dir>/<service>.<instance>.sock', () => {
    expect(socketPathFor('/run/warren', 'users', 0)).toBe('/run/warren/users.0.sock');
    expect(socketPathFor('/run/warren/', 'order-items_2', 12)).toBe('/run/warren/order-items_2.12.sock');
    expect(socketPathFor('/r', 'a'.repeat(63), 1)).toBe(`/r/${'a'.repeat(63)}.1.sock`);
  });

  it.each(['', 'Users', '1users', '-users', 'us.ers', 'us/ers', 'us ers', 'usérs', 'a'.repeat(64)])(
    'refuses the service name %j',
    (name) => {
      const error = thrown(() => socketPathFor('/run/warren', name, 0), 'WARREN_INVALID_ARGUMENT');
      expect(error.message).toContain('service name');
    },
  );

  it('refuses a service name that is not a string', () => {
    thrown(() => socketPathFor('/run/warren', 42 as unknown as string, 0), 'WARREN_INVALID_ARGUMENT');
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '0' as unknown as number])('refuses the instance %j', (instance) => {
    const error = thrown(() => socketPathFor('/run/warren', 'users', instance), 'WARREN_INVALID_ARGUMENT');
    expect(error.message).toContain('non-negative integer');
  });

  it(`refuses a socket path over ${MAX_SOCKET_PATH_BYTES} bytes, saying how long it is`, () => {
    const fixed = '/users.0.sock'.length;
    const fits = `/${'d'.repeat(MAX_SOCKET_PATH_BYTES - fixed - 1)}`;
    expect(Buffer.byteLength(socketPathFor(fits, 'users', 0))).toBe(MAX_SOCKET_PATH_BYTES);
    const tooLong = `${fits}x`;
    const error = thrown(() => socketPathFor(tooLong, 'users', 0), 'WARREN_INVALID_ARGUMENT');
    expect(error.message).toContain(`is ${MAX_SOCKET_PATH_BYTES + 1} bytes, over the limit of ${MAX_SOCKET_PATH_BYTES}`);
    expect(error.message).toContain('WARREN_SOCKET_DIR');
    // Bytes, not characters: a multi-byte directory name counts for what it weighs.
    const wide = `/${'é'.repeat(50)}`;
    thrown(() => socketPathFor(wide, 'users', 0), 'WARREN_INVALID_ARGUMENT');
  });

  it('parses socket file names back, and nothing else', () => {
    expect(parseSocketName('users.0.sock')).toEqual({ service: 'users', instance: 0 });
    expect(parseSocketName('order-items_2.17.sock')).toEqual({ service: 'order-items_2', instance: 17 });
    expect(parseSocketName(basename(socketPathFor('/d', 'products', 3)))).toEqual({ service: 'products', instance: 3 });
    for (const name of [
      '.auth_token',
      '.auth_token.prev',
      'users.sock',
      'users.01.sock',
      'users.-1.sock',
      'users.1.5.sock',
      'Users.0.sock',
      'users.0.sock.tmp',
      'users.0.sockx',
      'users.99999999999999999.sock',
      `${'a'.repeat(64)}.0.sock`,
      '',
    ]) {
      expect(parseSocketName(name), name).toBeNull();
    }
  });
});
