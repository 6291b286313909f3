/**
 * The built `warren` CLI (npm test builds first) as real processes for tests: `run` to its end
 * (bounded), `start` left running (a foreground `warren up`), and fresh short temporary
 * directories (Unix socket paths must stay under 104 bytes). The afterEach stops what a test
 * left: a supervisor still answering on a directory's socket dir through `warren stop`, then
 * SIGTERM and SIGKILL for CLI processes still running; then the directories go.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

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
    for (const dir of dirs) {
      const socketDir = join(dir, 's');
      if (existsSync(join(socketDir, 'supervisor.sock')))
        await run(['stop', '--timeout', '20000', '--socket-dir', socketDir]).catch(() => {});
    }
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    children.clear();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  return { run, start, workDir };
}
