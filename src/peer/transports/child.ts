/**
 * The parent's side of a spawned peer: the child's stdin and stdout carry frames. Bytes the
 * child prints to stdout outside a frame are skipped and reported as `junk` events. The peer
 * owns the child: destroying the peer kills it, and a child that exits closes the peer,
 * rejecting its pending requests with WARREN_PEER_CLOSED.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { spawnFailed } from '../../errors.js';
import { Peer, type PeerOptions } from '../peer.js';

/** How long a child may take to exit after close() ended its stdin before it is sent SIGTERM. */
const CHILD_EXIT_GRACE_MS = 2_000;

export interface SpawnPeerOptions extends PeerOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** 'inherit' passes the child's stderr through (default); 'pipe' captures it (see stderrTail()). */
  stderr?: 'inherit' | 'pipe' | 'ignore';
  /** How many bytes of captured stderr to keep (64 KiB). */
  stderrLimit?: number;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ChildPeer extends Peer {
  readonly child: ChildProcess;
  /** Resolves when the child has exited. */
  readonly exited: Promise<ChildExit>;
  private stderrChunks: Buffer[] = [];
  private closedGracefully = false;
  private stderrBytes = 0;

  constructor(child: ChildProcess, options: SpawnPeerOptions) {
    const { stdin, stdout } = child;
    if (!stdin || !stdout) throw spawnFailed('child has no stdin/stdout pipes');
    super({ readable: stdout, writable: stdin }, { lenient: true, ...options });
    this.child = child;
    // The child ending its stdout is the child closing its peer or exiting: give it the same
    // grace as after close() instead of signalling a process that is shutting down normally.
    // Prepended so that it runs before the peer's own 'end' listener emits 'close'.
    stdout.prependListener('end', () => {
      this.closedGracefully = true;
    });
    const limit = options.stderrLimit ?? 64 * 1024;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrChunks.push(chunk);
      this.stderrBytes += chunk.length;
      while (this.stderrBytes > limit && this.stderrChunks.length > 1) {
        this.stderrBytes -= (this.stderrChunks.shift() as Buffer).length;
      }
    });
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    this.on('close', () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (!this.closedGracefully) {
        child.kill('SIGTERM');
        return;
      }
      // After close() the child sees its stdin end and should exit by itself (code 0, its own
      // cleanup run); only one that lingers is sent SIGTERM.
      const timer = setTimeout(() => child.kill('SIGTERM'), CHILD_EXIT_GRACE_MS);
      child.once('exit', () => clearTimeout(timer));
    });
  }

  override close(options?: { timeout?: number }): Promise<void> {
    this.closedGracefully = true;
    return super.close(options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last bytes the child wrote to stderr, when stderr is 'pipe'. */
  stderrTail(): string {
    return Buffer.concat(this.stderrChunks).toString('utf8');
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(signal);
  }
}

/**
 * Spawns `command` and talks to it over its stdin/stdout; the child uses stdioPeer().
 * Resolves once the process has started.
 * @example
 * const worker = await spawnPeer(process.execPath, ['worker.js']);
 * await worker.request('work', { n: 1 });
 */
export function spawnPeer(command: string, args: readonly string[] = [], options: SpawnPeerOptions = {}): Promise<ChildPeer> {
  const spawnOptions: SpawnOptions = {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', options.stderr ?? 'inherit'],
  };
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, spawnOptions);
    } catch (error) {
      reject(spawnFailed(`cannot spawn ${command}: ${(error as Error).message}`, { cause: error }));
      return;
    }
    child.once('error', (error) => reject(spawnFailed(`cannot spawn ${command}: ${error.message}`, { cause: error })));
    child.once('spawn', () => {
      child.removeAllListeners('error');
      // Later errors (e.g. EPIPE on a dead child's stdin) surface through the peer's close.
      child.on('error', () => {});
      resolve(new ChildPeer(child, { name: `child:${command}`, ...options }));
    });
  });
}
