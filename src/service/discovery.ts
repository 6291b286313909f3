/**
 * Discovery by name: the instances of a service are the sockets `<service>.<instance>.sock` in
 * the socket directory. `listInstances` reads them once; `InstanceWatcher` keeps the list current
 * as instances come and go.
 *
 * The watcher rescans the directory when `fs.watch` reports a change (debounced, so a burst of
 * events costs one scan) and also every `pollInterval` ms, because fs.watch can miss events, dies
 * with the directory, and cannot watch a directory that does not exist yet. Each scan is diffed
 * against the known set, so every instance is reported once when it appears and once when it goes.
 *
 * A listed instance is not necessarily alive: a process killed with SIGKILL leaves its socket file
 * behind until the next instance with that number starts. Callers find out when a connect fails.
 * Discovery only reads the directory; checking its owner and mode is the caller's business
 * (`checkSocketDir`).
 */
import { type Dirent, type FSWatcher, watch } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { invalidArgument, SocketDirError } from '../errors.js';
import { parseSocketName, SERVICE_NAME_PATTERN } from './socket-dir.js';

/** One instance of a service: its socket is `path` (`<dir>/<service>.<instance>.sock`). */
export interface Instance {
  readonly service: string;
  readonly instance: number;
  readonly path: string;
}

function checkServiceName(service: string): void {
  if (typeof service !== 'string' || !SERVICE_NAME_PATTERN.test(service)) {
    throw invalidArgument(
      `service name ${JSON.stringify(service)} is not valid: use a lower-case letter, then up to 62 lower-case letters, digits, '_' or '-'`,
    );
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function unreadable(dir: string, error: unknown): SocketDirError {
  return new SocketDirError(dir, `socket directory ${dir} cannot be read: ${(error as Error).message}`, { cause: error });
}

/**
 * The sockets of `service` (of every service when null) in `dir`, sorted by service and instance;
 * null when `dir` does not exist. Other errors are thrown as they are.
 */
async function scanDir(dir: string, service: string | null): Promise<Instance[] | null> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
  const found: Instance[] = [];
  for (const entry of entries) {
    // The entry's own type (lstat, not stat): a symbolic link, a regular file or a directory with
    // a socket's name is not an instance.
    if (!entry.isSocket()) continue;
    const parsed = parseSocketName(entry.name);
    if (!parsed || (service !== null && parsed.service !== service)) continue;
    found.push({ service: parsed.service, instance: parsed.instance, path: join(dir, entry.name) });
  }
  return found.sort(byServiceAndInstance);
}

function byServiceAndInstance(a: Instance, b: Instance): number {
  return a.service === b.service ? a.instance - b.instance : a.service < b.service ? -1 : 1;
}

/**
 * The instances of `service` whose sockets are in `dir`, sorted by instance number. Only Unix
 * sockets named `<service>.<instance>.sock` count: other services, the token file, regular files
 * and symbolic links are left out. A directory that does not exist has no instances (no service
 * has started yet). Throws `WARREN_INVALID_ARGUMENT` for an invalid service name and
 * `WARREN_SOCKET_DIR` when the directory cannot be read.
 * @example
 * const instances = await listInstances(resolveSocketDir(), 'users');
 */
export async function listInstances(dir: string, service: string): Promise<Instance[]> {
  checkServiceName(service);
  const path = resolve(dir);
  try {
    return (await scanDir(path, service)) ?? [];
  } catch (error) {
    throw unreadable(path, error);
  }
}

export interface WatchInstancesOptions {
  /** An instance appeared: also called for each instance found by the first scan. */
  onAdd?: (instance: Instance) => void;
  /** An instance went away (its socket was removed, or the whole directory). */
  onRemove?: (instance: Instance) => void;
  /**
   * The directory could not be read (`WARREN_SOCKET_DIR`; reported once until a scan succeeds,
   * the known instances are kept meanwhile), or onAdd/onRemove threw. Without it, read errors
   * become process warnings and exceptions from onAdd/onRemove are rethrown (uncaught).
   */
  onError?: (error: Error) => void;
  /** Rescan this often (ms) whatever fs.watch says; also how often a missing directory is checked (2000). */
  pollInterval?: number;
  /** Wait this long (ms) after a change before rescanning, so that a burst of changes costs one scan (20). */
  debounce?: number;
}

/**
 * Keeps the list of a service's instances current. Starts scanning at once; `ready` resolves
 * after the first scan. Nothing it starts keeps the process alive, but `close()` it when done.
 * @example
 * const watcher = new InstanceWatcher(dir, 'users', { onAdd: (i) => pool.add(i), onRemove: (i) => pool.remove(i) });
 * await watcher.ready;
 */
export class InstanceWatcher {
  /** The watched directory (absolute). */
  readonly dir: string;
  /** The service watched; null when the watcher follows every service in the directory (watchServices). */
  readonly service: string | null;
  /** Resolves after the first scan (never rejects: errors go to onError). */
  readonly ready: Promise<void>;

  readonly #options: WatchInstancesOptions;
  readonly #pollInterval: number;
  readonly #debounce: number;
  /** By socket path: unique across services. */
  #known = new Map<string, Instance>();
  #fsWatcher: FSWatcher | null = null;
  /** `dev:ino` of the directory #fsWatcher watches: a directory replaced by another needs a new watcher. */
  #watchedId: string | null = null;
  /** No new fs.watch before this time after one failed (so a failing watcher cannot spin). */
  #watchRetryAt = 0;
  #debounceTimer: NodeJS.Timeout | null = null;
  #pollTimer: NodeJS.Timeout | null;
  #scanning: Promise<void> | null = null;
  #scanAgain = false;
  #lastError: string | null = null;
  #closed = false;

  constructor(dir: string, service: string | null, options: WatchInstancesOptions = {}) {
    if (service !== null) checkServiceName(service);
    const { pollInterval = 2_000, debounce = 20 } = options;
    if (!Number.isFinite(pollInterval) || pollInterval <= 0) {
      throw invalidArgument(`pollInterval must be a positive number of ms, got ${String(pollInterval)}`);
    }
    if (!Number.isFinite(debounce) || debounce < 0) {
      throw invalidArgument(`debounce must be a non-negative number of ms, got ${String(debounce)}`);
    }
    this.dir = resolve(dir);
    this.service = service;
    this.#options = options;
    this.#pollInterval = pollInterval;
    this.#debounce = debounce;
    this.#pollTimer = setInterval(() => this.#requestScan(), pollInterval);
    this.#pollTimer.unref();
    this.ready = this.refresh();
  }

  /** The known instances, sorted by instance number. */
  instances(): Instance[] {
    return [...this.#known.values()].sort(byServiceAndInstance);
  }

  /**
   * Rescans now (for instance before concluding that a service has no instance); resolves once a
   * scan that started after this call is done and its changes are reported.
   */
  refresh(): Promise<void> {
    this.#requestScan();
    return this.#scanning ?? Promise.resolve();
  }

  /** Stops watching and polling; no callback is called after this. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#pollTimer = null;
    if (this.#debounceTimer) clearTimeout(this.#debounceTimer);
    this.#debounceTimer = null;
    this.#closeFsWatcher();
  }

  #requestScan(): void {
    if (this.#closed) return;
    if (this.#scanning) {
      // Coalesced: one more scan after the current one, however many times this is asked.
      this.#scanAgain = true;
      return;
    }
    this.#scanning = this.#scanLoop();
  }

  async #scanLoop(): Promise<void> {
    try {
      do {
        this.#scanAgain = false;
        await this.#scanOnce();
      } while (this.#scanAgain && !this.#closed);
    } finally {
      // In the same synchronous step as the last check of #scanAgain: no request can fall between.
      this.#scanning = null;
    }
  }

  async #scanOnce(): Promise<void> {
    let found: Instance[] | null;
    try {
      // Watch before reading, so that nothing created between the two is missed.
      await this.#ensureFsWatcher();
      found = await scanDir(this.dir, this.service);
    } catch (error) {
      if (!this.#closed) this.#reportReadError(unreadable(this.dir, error));
      return;
    }
    if (this.#closed) return;
    this.#lastError = null;
    if (found === null) this.#closeFsWatcher();
    this.#apply(found ?? []);
  }

  /** Opens fs.watch on the directory when it exists and is not watched yet (or was replaced). */
  async #ensureFsWatcher(): Promise<void> {
    let id: string | null = null;
    try {
      const stats = await stat(this.dir);
      if (stats.isDirectory()) id = `${stats.dev}:${stats.ino}`;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    if (this.#closed) return;
    if (id === null) {
      this.#closeFsWatcher();
      return;
    }
    if (this.#fsWatcher && this.#watchedId === id) return;
    this.#closeFsWatcher();
    if (Date.now() < this.#watchRetryAt) return;
    try {
      // Not persistent: a forgotten watcher does not keep the process alive.
      const watcher = watch(this.dir, { persistent: false }, (_event, fileName) => this.#onFsEvent(fileName));
      watcher.on('error', () => this.#onFsWatcherError(watcher));
      this.#fsWatcher = watcher;
      this.#watchedId = id;
    } catch {
      // The directory went away in the meantime, or no inotify watch is left: polling carries on.
      this.#watchRetryAt = Date.now() + this.#pollInterval;
    }
  }

  #onFsEvent(fileName: string | Buffer | null): void {
    if (this.#closed) return;
    // Another service's socket changing is none of our business; anything else (including a
    // missing name, or the directory itself) may be.
    const other = typeof fileName === 'string' ? parseSocketName(fileName)?.service : undefined;
    if (other !== undefined && this.service !== null && other !== this.service) return;
    if (this.#debounceTimer) return;
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = null;
      this.#requestScan();
    }, this.#debounce);
    this.#debounceTimer.unref();
  }

  /** fs.watch failed (for instance its directory was removed): poll until a scan can watch again. */
  #onFsWatcherError(watcher: FSWatcher): void {
    if (watcher !== this.#fsWatcher) return;
    this.#closeFsWatcher();
    this.#watchRetryAt = Date.now() + this.#pollInterval;
    this.#requestScan();
  }

  #closeFsWatcher(): void {
    const watcher = this.#fsWatcher;
    this.#fsWatcher = null;
    this.#watchedId = null;
    if (watcher) {
      watcher.close();
      // Errors after close are of no interest, but must not be unhandled.
      watcher.on('error', () => {});
    }
  }

  #apply(found: Instance[]): void {
    const next = new Map(found.map((instance) => [instance.path, instance]));
    const removed = [...this.#known.values()].filter((old) => !next.has(old.path)).sort(byServiceAndInstance);
    const added = found.filter((instance) => !this.#known.has(instance.path));
    // Keep the objects already reported, so a caller may use them as keys.
    for (const [path, instance] of this.#known) if (next.has(path)) next.set(path, instance);
    this.#known = next;
    for (const instance of removed) this.#notify(this.#options.onRemove, instance);
    for (const instance of added) this.#notify(this.#options.onAdd, instance);
  }

  #notify(handler: ((instance: Instance) => void) | undefined, instance: Instance): void {
    if (!handler || this.#closed) return;
    try {
      handler(instance);
    } catch (error) {
      if (this.#options.onError) this.#callOnError(error instanceof Error ? error : new Error(String(error)));
      else rethrowLater(error);
    }
  }

  #reportReadError(error: SocketDirError): void {
    if (error.message === this.#lastError) return;
    this.#lastError = error.message;
    if (this.#options.onError) this.#callOnError(error);
    else process.emitWarning(error.message, { code: error.code });
  }

  #callOnError(error: Error): void {
    try {
      this.#options.onError?.(error);
    } catch (thrown) {
      rethrowLater(thrown);
    }
  }
}

/**
 * Throws `error` from a callback of its own, like an exception in an event listener: not swallowed,
 * and the scan that called the handler still reports its other changes.
 */
function rethrowLater(error: unknown): void {
  setImmediate(() => {
    throw error;
  });
}

/**
 * Watches the instances of `service` in `dir`: `new InstanceWatcher(dir, service, options)`.
 * @example
 * const watcher = watchInstances(dir, 'users', { onAdd, onRemove });
 * await watcher.ready;
 * watcher.instances();
 * watcher.close();
 */
export function watchInstances(dir: string, service: string, options: WatchInstancesOptions = {}): InstanceWatcher {
  return new InstanceWatcher(dir, service, options);
}

/**
 * Watches the instances of every service in `dir`: each instance is reported with its service's
 * name as it appears and as it goes (an HTTP front follows all services this way).
 * @example
 * const watcher = watchServices(dir, { onAdd: (i) => console.log(i.service, i.instance) });
 */
export function watchServices(dir: string, options: WatchInstancesOptions = {}): InstanceWatcher {
  return new InstanceWatcher(dir, null, options);
}
