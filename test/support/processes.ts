/** Process and socket-directory bookkeeping shared by the tests that start real processes. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';

/**
 * True when no process has this pid any more, or it has exited and only waits to be reaped (a
 * zombie: an orphan whose new parent, such as a container's pid 1, does not reap it).
 */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    // /proc/<pid>/stat: `pid (comm) state …`; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
  } catch {
    return false;
  }
}

/**
 * Registers an afterEach that SIGKILLs every process started through the returned helpers,
 * checks it is gone, and removes every temporary directory made.
 */
export function useProcesses() {
  const processes = new Set<ChildProcessWithoutNullStreams>();
  const dirs: string[] = [];

  afterEach(async () => {
    for (const proc of processes) {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGKILL');
        await exited;
      }
      expect(isGone(proc.pid as number)).toBe(true);
    }
    processes.clear();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  return {
    /** A socket path in a fresh private temporary directory. */
    socketPath(name = 'server.sock'): string {
      const dir = mkdtempSync(join(tmpdir(), 'warren-test-'));
      dirs.push(dir);
      return join(dir, name);
    },

    /** Starts `node script ...args` and resolves once it printed its first line ("ready ..."), with that line. */
    async startServer(script: string, args: string[]): Promise<{ proc: ChildProcessWithoutNullStreams; line: string }> {
      const proc = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      processes.add(proc);
      let out = '';
      let err = '';
      proc.stderr.setEncoding('utf8').on('data', (s: string) => {
        err += s;
      });
      await new Promise<void>((resolve, reject) => {
        const onData = (s: string) => {
          out += s;
          if (out.includes('\n')) {
            proc.stdout.off('data', onData);
            proc.off('exit', onExit);
            resolve();
          }
        };
        const onExit = (code: number | null) => reject(new Error(`${script} exited with ${code} before it was ready: ${err}`));
        proc.stdout.setEncoding('utf8').on('data', onData);
        proc.once('exit', onExit);
      });
      return { proc, line: out };
    },
  };
}
