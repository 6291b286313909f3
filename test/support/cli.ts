/**
 * The built `warren` CLI (npm test builds first) as real processes for tests: `run` to its end
 * (bounded), `start` left running (a foreground `warren up`), and fresh short temporary
 * directories (Unix socket paths must stay under 104 bytes). The afterEach stops what a test
 * left: SIGTERM and SIGKILL for CLI processes still running, a supervisor still answering on a
 * directory's socket dir through `warren stop`, then SIGKILL for every process whose environment
 * names that socket dir (detached supervisors, instances), and fails the test if there was any;
 * then the directories go.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { isGone } from './processes.js';
import { until } from './until.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  /** Everything printed so far on stdout and stderr. */
  output(): string;
  /** Resolves when the process has exited and its output was read. */
  closed: Promise<CliResult>;
}

/** Processes started with WARREN_SOCKET_DIR=dir in their environment (Linux; none elsewhere). */
export function processesUsing(dir: string): number[] {
  if (!existsSync('/proc/self/environ')) return [];
  const needle = `WARREN_SOCKET_DIR=${dir}\0`;
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').includes(needle) && !isGone(Number(name))) found.push(Number(name));
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

/** The command line of a process, for a leak message; '?' when it is gone. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '?';
  }
}

/** This process's environment without the WARREN_* settings that would steer the CLI. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('WARREN_')) env[key] = value;
  return { ...env, ...extra };
}

export function useCli(commandMs = 60_000) {
  const children = new Set<ChildProcessWithoutNullStreams>();
  const dirs: string[] = [];

  function start(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunningCli {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: cleanEnv(options.env ?? {}) });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const closed = new Promise<CliResult>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    return { child, output: () => stdout + stderr, closed };
  }

  /** Runs `warren ...args` to its end; killed (and the test failed) after `commandMs`. */
  async function run(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const running = start(args, options);
    const timer = setTimeout(() => running.child.kill('SIGKILL'), commandMs);
    const result = await running.closed;
    clearTimeout(timer);
    if (result.signal === 'SIGKILL') throw new Error(`warren ${args.join(' ')} did not end within ${commandMs} ms\n${running.output()}`);
    return result;
  }

  /** A fresh directory; `<dir>/s` is meant as its socket directory, stopped after the test. */
  function workDir(prefix = 'wp-'): { dir: string; socketDir: string } {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return { dir, socketDir: join(dir, 's') };
  }

  afterEach(async () => {
    const leaks: string[] = [];
    // A CLI process still running (a foreground `warren up`, a command that hung): SIGTERM, so
    // that a supervisor stops its instances, then SIGKILL if it has not ended after 20 s.
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    children.clear();
    for (const dir of dirs.splice(0)) {
      const socketDir = join(dir, 's');
      if (existsSync(join(socketDir, 'supervisor.sock')))
        await run(['stop', '--timeout', '20000', '--socket-dir', socketDir]).catch(() => {});
      for (const pid of processesUsing(socketDir)) {
        leaks.push(`pid ${pid} (${commandOf(pid)}) still ran on ${socketDir}`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      await until(() => processesUsing(socketDir).length === 0, 'the killed processes to be gone').catch((e: Error) =>
        leaks.push(e.message),
      );
      rmSync(dir, { recursive: true, force: true });
    }
    expect(leaks, 'processes left running after the test').toEqual([]);
  }, 120_000);

  return { run, start, workDir };
}
