/**
 * The shared token that protects services: created once in the socket directory, presented by a
 * client once per connection, compared in constant time, rotated with a grace period.
 *
 * Files (in the socket directory, see socket-dir.ts):
 * - `.auth_token`: 64 lower-case hex characters (32 random bytes), no newline, mode 0600 (0640
 *   when a group is configured), owned by the user that runs the services.
 * - `.auth_token.prev`: after a rotation, `{"token": "<previous>", "expiresAt": <ms since epoch>}`,
 *   same mode. The previous token is accepted until `expiresAt`.
 *
 * An existing file with the wrong type, owner, mode or content is refused with a
 * `WARREN_SOCKET_DIR` error naming the file; it is never repaired silently.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument, SocketDirError } from '../errors.js';

export const TOKEN_FILE = '.auth_token';
export const PREVIOUS_TOKEN_FILE = '.auth_token.prev';
/** Failed hellos a connection may make before it is closed. */
export const DEFAULT_MAX_AUTH_FAILURES = 3;
/** How long a rotated-out token is still accepted, in ms. */
export const DEFAULT_ROTATION_GRACE_MS = 60_000;

const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[0-9a-f]{64}$/;
const TOKEN_PREFIX = /^[0-9a-f]{0,63}$/;
/** A token file is tiny: anything bigger is refused before it is read. */
const MAX_FILE_BYTES = 4096;
/** How long a loser of the creation race waits for the winner to finish writing, in ms. */
const CREATE_WAIT_MS = 1_000;
/** Presented values longer than this are refused without hashing them. */
const MAX_PRESENTED_LENGTH = 4096;

export interface TokenFileOptions {
  /** The socket directory is shared with a group: token files are 0640 instead of 0600. */
  group?: boolean | undefined;
}

export interface RotateTokenOptions extends TokenFileOptions {
  /** How long the previous token stays valid, in ms (default 60 000). */
  graceMs?: number;
  /** Clock, in ms since the epoch (for tests). */
  now?: () => number;
}

export interface TokenVerifierOptions extends TokenFileOptions {
  /** Clock, in ms since the epoch (for tests). Used for the previous token's expiry and the check interval. */
  now?: () => number;
  /** How often `verify` looks at the files' stats for a rotation, in ms (default 1000). */
  checkIntervalMs?: number;
}

/** The mode token files are created with. */
export function tokenFileMode(options: TokenFileOptions = {}): number {
  return options.group ? 0o640 : 0o600;
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Flags to read a token file: never through a symlink, never blocking on a FIFO. */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

interface ReadResult {
  stats: Stats;
  content: string;
}

function openError(path: string, error: unknown): SocketDirError {
  const code = errnoOf(error);
  if (code === 'ELOOP' || code === 'EMLINK') {
    return new SocketDirError(path, `token file ${path} is a symbolic link; expected a regular file`, { cause: error });
  }
  if (code === 'EACCES') {
    return new SocketDirError(
      path,
      `token file ${path} cannot be read: permission denied (it belongs to the user, or group, that runs the services)`,
      {
        cause: error,
      },
    );
  }
  return new SocketDirError(path, `token file ${path} cannot be read: ${(error as Error).message}`, { cause: error });
}

/** Checks the type, owner and size of an opened token file; the mode is checked once its content is complete. */
function checkStats(path: string, stats: Stats, options: ReadOptions): void {
  if (!stats.isFile())
    throw new SocketDirError(path, `token file ${path} is not a regular file; expected a file with mode ${octal(tokenFileMode(options))}`);
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid && !options.foreignOwner) {
    throw new SocketDirError(
      path,
      `token file ${path} is owned by uid ${stats.uid}, expected uid ${uid} (you): use a socket directory of your own (the socketDir option or WARREN_SOCKET_DIR), or, if this file is meant to be yours, run: chown ${uid} ${path}`,
      {
        data: { found: { uid: stats.uid }, expected: { uid } },
      },
    );
  }
  if (stats.size > MAX_FILE_BYTES) {
    throw new SocketDirError(
      path,
      `token file ${path} is ${stats.size} bytes: it does not hold a token (expected 64 hex characters); delete it to get a new one`,
    );
  }
}

function checkMode(path: string, stats: Stats, options: ReadOptions): void {
  const mode = stats.mode & 0o777;
  const expected = tokenFileMode(options);
  if (mode === 0o600 || mode === expected) return;
  throw new SocketDirError(
    path,
    `token file ${path} has mode ${octal(mode)}; expected ${octal(expected)} (run: chmod ${octal(expected).slice(1)} ${path})`,
    {
      data: { found: { mode: octal(mode) }, expected: { mode: octal(expected) } },
    },
  );
}

interface ReadOptions extends TokenFileOptions {
  /** Accept a file owned by another user (a client in the configured group). */
  foreignOwner?: boolean;
}

async function readAsync(path: string, options: ReadOptions): Promise<ReadResult | null> {
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return null;
    throw openError(path, error);
  }
  try {
    const stats = await handle.stat();
    checkStats(path, stats, options);
    return { stats, content: await handle.readFile('utf8') };
  } finally {
    await handle.close();
  }
}

function readSync(path: string, options: ReadOptions): ReadResult | null {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return null;
    throw openError(path, error);
  }
  try {
    const stats = fstatSync(fd);
    checkStats(path, stats, options);
    return { stats, content: readFileSync(fd, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/** The token in a token file's content, or null when the content is a token still being written. */
function parseToken(path: string, read: ReadResult, options: ReadOptions): string | null {
  if (TOKEN_PATTERN.test(read.content)) {
    checkMode(path, read.stats, options);
    return read.content;
  }
  if (TOKEN_PREFIX.test(read.content)) return null;
  throw new SocketDirError(
    path,
    `token file ${path} does not hold a token (found ${read.stats.size} bytes, expected exactly 64 lower-case hex characters); delete it to get a new one`,
  );
}

function parsePrevious(path: string, read: ReadResult, options: ReadOptions): { token: string; expiresAt: number } {
  checkMode(path, read.stats, options);
  let value: unknown;
  try {
    value = JSON.parse(read.content);
  } catch {
    value = undefined;
  }
  const { token, expiresAt } = (value ?? {}) as { token?: unknown; expiresAt?: unknown };
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token) || typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
    throw new SocketDirError(path, `previous-token file ${path} is not {"token": <64 hex characters>, "expiresAt": <ms>}; delete it`);
  }
  return { token, expiresAt };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('hex');
}

/** Writes `content` to a file that must not exist yet (flag 'wx'); resolves false when it does. */
async function createExclusive(path: string, content: string, mode: number): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'EEXIST') return false;
    if (code === 'ENOENT') throw new SocketDirError(path, `cannot create ${path}: the socket directory does not exist`, { cause: error });
    throw new SocketDirError(path, `cannot create ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    await handle.chmod(mode); // the umask may have taken bits away
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw new SocketDirError(path, `cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
  await handle.close();
  return true;
}

/** Replaces `path` atomically: a private temporary file beside it, renamed over it. */
async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  if (!(await createExclusive(temp, content, mode))) throw new SocketDirError(temp, `cannot create ${temp}: it already exists`);
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw new SocketDirError(path, `cannot replace ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Reads the token file, waiting briefly while another process is still writing it. With `create`,
 * a missing file is created; without, a missing file resolves null.
 */
async function settleToken(dir: string, options: ReadOptions, create: boolean): Promise<string | null> {
  const path = join(dir, TOKEN_FILE);
  const deadline = Date.now() + CREATE_WAIT_MS;
  let delay = 1;
  for (;;) {
    const read = await readAsync(path, options);
    if (read) {
      const token = parseToken(path, read, options);
      if (token !== null) return token;
    } else {
      if (!create) return null;
      const token = newToken();
      if (await createExclusive(path, token, tokenFileMode(options))) return token;
      continue; // another process won the race: read its file
    }
    if (Date.now() >= deadline) {
      throw new SocketDirError(
        path,
        `token file ${path} is still incomplete (${read.stats.size} of 64 characters) after ${CREATE_WAIT_MS} ms: a process may have died while writing it; delete it to get a new one`,
      );
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 5);
  }
}

/**
 * The service token of this socket directory. Created on first use (32 random bytes as 64 hex
 * characters, mode 0600, or 0640 with `group`) with the exclusive 'wx' flag, so that processes
 * starting together never overwrite each other: the losers read the winner's token. An existing
 * file must be a regular file owned by this user, with that mode, holding a token; otherwise a
 * `WARREN_SOCKET_DIR` error names it. The directory itself must exist (see `ensureSocketDir`).
 */
export async function loadOrCreateToken(dir: string, options: TokenFileOptions = {}): Promise<string> {
  return (await settleToken(dir, options, true)) as string;
}

/**
 * The token for a client: reads it without ever creating it. With `group`, the file may belong to
 * another user (the one running the services). Missing file: `WARREN_SOCKET_DIR`.
 */
export async function readToken(dir: string, options: TokenFileOptions = {}): Promise<string> {
  const token = await settleToken(dir, { ...options, foreignOwner: options.group === true }, false);
  if (token === null) {
    const path = join(dir, TOKEN_FILE);
    throw new SocketDirError(path, `no token file at ${path}: start a service with this socket directory first`);
  }
  return token;
}

/**
 * Replaces the token with a new one (written atomically: temporary file + rename) and keeps the
 * old one in `.auth_token.prev` with an expiry `graceMs` from now, so servers accept both until
 * then. Only one previous token is kept: rotate from one place at a time. Resolves with the new token.
 */
export async function rotateToken(dir: string, options: RotateTokenOptions = {}): Promise<string> {
  const { graceMs = DEFAULT_ROTATION_GRACE_MS, now = Date.now } = options;
  if (!(Number.isFinite(graceMs) && graceMs >= 0))
    throw invalidArgument(`option 'graceMs' must be a non-negative number of ms, got ${graceMs}`);
  const mode = tokenFileMode(options);
  const current = await settleToken(dir, options, false);
  if (current !== null) {
    await writeAtomic(join(dir, PREVIOUS_TOKEN_FILE), JSON.stringify({ token: current, expiresAt: now() + graceMs }), mode);
  }
  const token = newToken();
  await writeAtomic(join(dir, TOKEN_FILE), token, mode);
  return token;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** What identifies one version of a file: a rename gives a new inode, a rewrite a new mtime or size. */
function fileKey(stats: Stats | null): string {
  return stats ? `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}` : 'missing';
}

function lstatKey(path: string): string {
  try {
    return fileKey(lstatSync(path));
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return 'missing';
    return `error:${errnoOf(error)}`;
  }
}

/**
 * Checks presented tokens against the directory's token, and during a rotation's grace period
 * the previous one. Comparisons are constant-time (SHA-256 of both sides, then
 * `crypto.timingSafeEqual`, so lengths always match and nothing about the length leaks).
 * `verify` looks at the files' stats at most every `checkIntervalMs` and re-reads them when they
 * changed, so a rotation is noticed without a restart; `refresh()` forces it.
 *
 * The constructor reads the files and throws when the token file is missing or wrong. A later
 * re-read that fails keeps the last good tokens and sets `lastError`.
 */
export class TokenVerifier {
  readonly dir: string;
  /** The error of the last background re-read, undefined when it succeeded. */
  lastError: Error | undefined;
  readonly #options: ReadOptions;
  readonly #now: () => number;
  readonly #interval: number;
  #lastCheck: number;
  #current!: Buffer;
  #previous: { digest: Buffer; expiresAt: number } | null = null;
  #keys = '';

  constructor(dir: string, options: TokenVerifierOptions = {}) {
    const { now = Date.now, checkIntervalMs = 1_000, group } = options;
    if (!(Number.isFinite(checkIntervalMs) && checkIntervalMs >= 0)) {
      throw invalidArgument(`option 'checkIntervalMs' must be a non-negative number of ms, got ${checkIntervalMs}`);
    }
    this.dir = dir;
    this.#options = { group };
    this.#now = now;
    this.#interval = checkIntervalMs;
    this.#lastCheck = now();
    this.#load();
  }

  /** True when `presented` is the token, or the previous one before its expiry. Never throws. */
  verify(presented: unknown): boolean {
    if (typeof presented !== 'string' || presented.length > MAX_PRESENTED_LENGTH) return false;
    this.#maybeRefresh();
    const candidate = digest(presented);
    let ok = timingSafeEqual(candidate, this.#current);
    const previous = this.#previous;
    if (previous !== null) {
      const matchesPrevious = timingSafeEqual(candidate, previous.digest);
      ok = (matchesPrevious && this.#now() < previous.expiresAt) || ok;
    }
    return ok;
  }

  /** Re-reads the token files if they changed since the last read. Throws when they are wrong now. */
  refresh(): void {
    this.#lastCheck = this.#now();
    if (this.#currentKeys() === this.#keys) return;
    this.#load();
  }

  #maybeRefresh(): void {
    if (this.#now() - this.#lastCheck < this.#interval) return;
    try {
      this.refresh();
      this.lastError = undefined;
    } catch (error) {
      this.lastError = error as Error;
    }
  }

  #currentKeys(): string {
    return `${lstatKey(join(this.dir, TOKEN_FILE))}|${lstatKey(join(this.dir, PREVIOUS_TOKEN_FILE))}`;
  }

  #load(): void {
    const tokenPath = join(this.dir, TOKEN_FILE);
    const previousPath = join(this.dir, PREVIOUS_TOKEN_FILE);
    const tokenRead = readSync(tokenPath, this.#options);
    if (tokenRead === null) throw new SocketDirError(tokenPath, `no token file at ${tokenPath}: create it with loadOrCreateToken first`);
    const token = parseToken(tokenPath, tokenRead, this.#options);
    if (token === null)
      throw new SocketDirError(tokenPath, `token file ${tokenPath} is incomplete (${tokenRead.stats.size} of 64 characters)`);
    const previousRead = readSync(previousPath, this.#options);
    const previous = previousRead === null ? null : parsePrevious(previousPath, previousRead, this.#options);
    this.#current = digest(token);
    this.#previous = previous && { digest: digest(previous.token), expiresAt: previous.expiresAt };
    this.#keys = `${fileKey(tokenRead.stats)}|${fileKey(previousRead?.stats ?? null)}`;
  }
}

/**
 * Counts failed hellos on one connection. `recordFailure()` returns true once `limit` failures
 * (default 3) have been recorded: the caller then closes the connection.
 */
export class FailureLimiter {
  readonly limit: number;
  #failures = 0;

  constructor(limit = DEFAULT_MAX_AUTH_FAILURES) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw invalidArgument(`failure limit must be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  get failures(): number {
    return this.#failures;
  }

  /** True when the limit is reached. */
  get reached(): boolean {
    return this.#failures >= this.limit;
  }

  /** Records one failure; true when the limit is reached and the connection should be closed. */
  recordFailure(): boolean {
    this.#failures++;
    return this.reached;
  }

  reset(): void {
    this.#failures = 0;
  }
}
