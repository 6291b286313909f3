/**
 * The socket directory: where it is, making sure it is private, and the names of the sockets in it.
 *
 * Every service instance listens on `<socketDir>/<service>.<instance>.sock`, and the token file
 * (see auth.ts) lives beside the sockets. The directory is the security boundary, so an existing
 * one is checked, never repaired: a directory with the wrong owner or mode is refused with a
 * `WARREN_SOCKET_DIR` error that says what was found and what is expected.
 *
 * Modes:
 * - without a group: directory 0700, sockets 0600, token 0600. Only this user gets in.
 * - with a group: directory 0750, sockets 0660, token 0640. Group members may list the directory
 *   (discovery needs read as well as search permission), connect and read the token; they may not
 *   create, rename or remove anything in it (so the directory never has group write).
 */
import { createHash } from 'node:crypto';
import { realpathSync, type Stats } from 'node:fs';
import { chmod, lstat, mkdir } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { invalidArgument, SocketDirError } from '../errors.js';

/** Environment variable that overrides the default socket directory. */
export const SOCKET_DIR_ENV = 'WARREN_SOCKET_DIR';

/**
 * Service names: a lower-case letter, then up to 62 lower-case letters, digits, `_` or `-`
 * (at most 63 characters). No dots, so `<service>.<instance>.sock` always parses back.
 */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * The longest socket path accepted, in bytes. `sun_path` is 108 bytes on Linux and 104 on macOS,
 * both counting the terminating NUL: 103 bytes of path fit everywhere.
 */
export const MAX_SOCKET_PATH_BYTES = 103;

const SOCKET_NAME = /^([a-z][a-z0-9_-]{0,62})\.(0|[1-9][0-9]{0,15})\.sock$/;

export interface SocketDirOptions {
  /** The directory is shared with a group (sockets 0660): created 0750 instead of 0700. */
  group?: boolean;
}

/** The mode a socket directory is created with. */
export function socketDirMode(options: SocketDirOptions = {}): number {
  return options.group ? 0o750 : 0o700;
}

/**
 * Where the sockets live: `option` when given, else `$WARREN_SOCKET_DIR`, else
 * `$XDG_RUNTIME_DIR/warren`, else `<os temp dir>/warren-<uid>` (a folder named for the user).
 * Empty strings count as unset. The result is an absolute path. (A supervisor started on a
 * config file defaults to its project's directory instead: see projectSocketDir.)
 */
export function resolveSocketDir(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (option) return resolve(option);
  const fromEnv = env[SOCKET_DIR_ENV];
  if (fromEnv) return resolve(fromEnv);
  return defaultSocketBase(env);
}

/** The default socket directory, and the parent of every project's: `$XDG_RUNTIME_DIR/warren`, else `<os temp dir>/warren-<uid>`. */
export function defaultSocketBase(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime) return resolve(runtime, 'warren');
  return join(tmpdir(), `warren-${process.getuid?.() ?? userInfo().username}`);
}

/**
 * The default socket directory of the supervisor of a project (the directory that holds its
 * config file): `<defaultSocketBase>/<name>-<hash>`, where name is the directory's name (at most
 * 16 characters of a-z, 0-9, `_`, `-`) and hash the first 8 hex digits of the SHA-256 of its real
 * path. Two projects never share one (a second `warren up` would be refused), and the path stays
 * short for the 103-byte limit of a socket path.
 */
export function projectSocketDir(projectDir: string, env: NodeJS.ProcessEnv = process.env): string {
  let real = resolve(projectDir);
  try {
    real = realpathSync.native(real);
  } catch {
    // Not there (yet): the path as given.
  }
  const name =
    basename(real)
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .slice(0, 16) || 'root';
  const hash = createHash('sha256').update(real).digest('hex').slice(0, 8);
  return join(defaultSocketBase(env), `${name}-${hash}`);
}

/** `0750`; with `special`, the sticky, setuid and setgid bits too (`1777`). */
function octal(mode: number, special = false): string {
  if (special && (mode & 0o7000) !== 0) return (mode & 0o7777).toString(8);
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/**
 * Checks that `dir` is a directory (not a symlink) owned by this user that gives no access to
 * others, and none to the group unless `group` is set (and never group write). Throws a
 * `SocketDirError` (`WARREN_SOCKET_DIR`) naming the path, what was found and what is expected;
 * also when `dir` does not exist. Never changes anything.
 */
export async function checkSocketDir(dir: string, options: SocketDirOptions = {}): Promise<string> {
  const path = resolve(dir);
  let stats: Stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new SocketDirError(path, `socket directory ${path} does not exist (no service has started with it yet?)`, { cause: error });
    }
    throw new SocketDirError(path, `socket directory ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  verifyDirStats(path, stats, options);
  return path;
}

function verifyDirStats(path: string, stats: Stats, options: SocketDirOptions): void {
  const expected = octal(socketDirMode(options));
  if (stats.isSymbolicLink()) {
    throw new SocketDirError(
      path,
      `socket directory ${path} is a symbolic link; expected a real directory (mode ${expected}) owned by you: point the socket directory at the link's target instead`,
    );
  }
  if (!stats.isDirectory()) {
    throw new SocketDirError(
      path,
      `socket directory ${path} is not a directory (found a ${kindOf(stats)}); expected a directory with mode ${expected}`,
    );
  }
  // A shared directory (sticky, or writable by others, as /tmp is) is never to be chmod-ed or
  // chown-ed: it belongs to everyone. The advice is a directory of one's own inside it.
  const uid = process.getuid?.();
  const shared = (stats.mode & 0o1000) !== 0 || ((stats.mode & 0o002) !== 0 && uid !== undefined && stats.uid !== uid);
  if (shared) {
    const own = join(path, `warren-${uid ?? userInfo().username}`);
    throw new SocketDirError(
      path,
      `socket directory ${path} is a shared directory (mode ${octal(stats.mode, true)}: ${(stats.mode & 0o1000) !== 0 ? 'sticky, ' : ''}other users may create files in it): ` +
        `do not use it, and do not chmod it; use a dedicated directory instead, e.g. ${own} (--socket-dir, the socketDir option or ${SOCKET_DIR_ENV}=<dir>)`,
      { data: { found: { mode: octal(stats.mode, true) }, expected: { mode: expected } } },
    );
  }
  if (uid !== undefined && stats.uid !== uid) {
    throw new SocketDirError(
      path,
      `socket directory ${path} is owned by uid ${stats.uid}, expected uid ${uid} (you): another user could read or replace the sockets in it. ` +
        `Use a directory of your own (the socketDir option or ${SOCKET_DIR_ENV}=<dir>), or, if this one is meant to be yours, run: chown ${uid} ${path}`,
      { data: { found: { uid: stats.uid }, expected: { uid } } },
    );
  }
  const mode = stats.mode & 0o777;
  const forbidden = options.group ? 0o027 : 0o077;
  if ((mode & forbidden) !== 0) {
    const who = mode & 0o007 ? 'others' : options.group ? 'the group to write' : 'the group (no group is configured)';
    throw new SocketDirError(
      path,
      `socket directory ${path} has mode ${octal(mode)}, which allows ${who}; expected ${expected} (run: chmod ${expected.slice(1)} ${path})`,
      { data: { found: { mode: octal(mode) }, expected: { mode: expected } } },
    );
  }
}

function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'regular file';
  if (stats.isSocket()) return 'socket';
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'device';
  return 'non-directory';
}

/**
 * Makes sure the socket directory exists and is private. A missing one is created (parents too)
 * with mode 0700, or 0750 with `group`, chmod-ed explicitly so the umask does not matter. An
 * existing one is checked as by `checkSocketDir` and refused, never chmod-ed, when it is wrong.
 * Resolves with the absolute path.
 */
export async function ensureSocketDir(dir: string, options: SocketDirOptions = {}): Promise<string> {
  const path = resolve(dir);
  const mode = socketDirMode(options);
  let created = false;
  try {
    await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SocketDirError(path, `socket directory ${path} cannot be read: ${(error as Error).message}`, { cause: error });
    }
    try {
      await mkdir(dirname(path), { recursive: true, mode });
      // Not recursive: if someone else created it in the meantime, EEXIST sends us to the checks
      // below instead of chmod-ing their directory.
      await mkdir(path, { mode });
      created = true;
    } catch (mkdirError) {
      if ((mkdirError as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SocketDirError(path, `socket directory ${path} could not be created: ${(mkdirError as Error).message}`, {
          cause: mkdirError,
        });
      }
    }
  }
  if (created) await chmod(path, mode);
  return checkSocketDir(path, options);
}

/**
 * The socket path of one instance: `<dir>/<service>.<instance>.sock`. Throws
 * `WARREN_INVALID_ARGUMENT` for a service name that does not match `SERVICE_NAME_PATTERN`, an
 * instance that is not a non-negative integer, or a path longer than `MAX_SOCKET_PATH_BYTES`.
 */
export function socketPathFor(dir: string, service: string, instance: number): string {
  if (typeof service !== 'string' || !SERVICE_NAME_PATTERN.test(service)) {
    throw invalidArgument(
      `service name ${JSON.stringify(service)} is not valid: use a lower-case letter, then up to 62 lower-case letters, digits, '_' or '-'`,
    );
  }
  if (!Number.isSafeInteger(instance) || instance < 0) {
    throw invalidArgument(`instance of service '${service}' must be a non-negative integer, got ${String(instance)}`);
  }
  const path = join(dir, `${service}.${instance}.sock`);
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw invalidArgument(
      `socket path ${path} is ${bytes} bytes, over the limit of ${MAX_SOCKET_PATH_BYTES} for a Unix socket: use a shorter socket directory (option socketDir or ${SOCKET_DIR_ENV}) or service name`,
    );
  }
  return path;
}

/**
 * The service and instance of a socket file name (`users.0.sock` → `{ service: 'users', instance: 0 }`),
 * or null for any other name (the token file, temporary files, stray files).
 */
export function parseSocketName(fileName: string): { service: string; instance: number } | null {
  const match = SOCKET_NAME.exec(fileName);
  if (!match) return null;
  const instance = Number(match[2]);
  if (!Number.isSafeInteger(instance)) return null;
  return { service: match[1]!, instance };
}
