/**
 * The parent's side of a spawned peer: the child's stdin and stdout carry frames. Bytes the
 * child prints to stdout outside a frame are skipped and reported as `junk` events. The peer
 * owns the child: destroying the peer kills it, and a child that exits closes the peer,
 * rejecting its pending requests with WARREN_PEER_CLOSED.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { WarrenError } from '../../errors.js';
import { Peer, type PeerOptions } from '../peer.js';

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
  private stderrBytes = 0;

  constructor(child: ChildProcess, options: SpawnPeerOptions) {
    const { stdin, stdout } = child;
    if (!stdin || !stdout) throw new WarrenError('WARREN_SPAWN', 'child has no stdin/stdout pipes');
    super({ readable: stdout, writable: stdin }, { lenient: true, ...options });
    this.child = child;
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
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    });
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
      reject(new WarrenError('WARREN_SPAWN', `cannot spawn ${command}: ${(error as Error).message}`, { cause: error }));
      return;
    }
    child.once('error', (error) => reject(new WarrenError('WARREN_SPAWN', `cannot spawn ${command}: ${error.message}`, { cause: error })));
    child.once('spawn', () => {
      child.removeAllListeners('error');
      // Later errors (e.g. EPIPE on a dead child's stdin) surface through the peer's close.
      child.on('error', () => {});
      resolve(new ChildPeer(child, { name: `child:${command}`, ...options }));
    });
  });
}
