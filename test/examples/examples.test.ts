/**
 * Runs every example as a user would (`node examples/...`, importing the built `warren/peer`)
 * and checks that it exits 0 by itself and that its output shows it did its job.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TEST_TIMEOUT_MS = 30_000;
// Below the test timeout, so a hung example fails with its output instead of a bare timeout.
const RUN_TIMEOUT_MS = 25_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout split into lines. */
  lines: string[];
  /** Was any process (the example's children included) left in its process group after it exited? */
  leftovers: boolean;
}

const running = new Set<ChildProcess>();

/** Is any process left in the group led by `pid`? */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function runExample(file: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Detached: the example leads its own process group, so whatever it spawned can be found
    // (and killed, if it hangs) along with it.
    const child = spawn(process.execPath, [file], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) killGroup(child.pid);
      reject(new Error(`${file} did not exit within ${RUN_TIMEOUT_MS} ms\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    // 'close' rather than 'exit': by then stdout and stderr have been read to the end.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const leftovers = child.pid !== undefined && groupAlive(child.pid);
      if (leftovers && child.pid !== undefined) killGroup(child.pid);
      resolve({ code, signal, stdout, stderr, lines: stdout.split('\n'), leftovers });
    });
  });
}

/** Runs an example and checks what every example must do: exit 0 on its own, leave nothing behind, print no errors. */
async function runClean(file: string): Promise<Run> {
  const run = await runExample(file);
  const context = `--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
  expect(run.signal, context).toBeNull();
  expect(run.code, context).toBe(0);
  expect(run.leftovers, 'a process of the example outlived it').toBe(false);
  expect(run.stderr, context).not.toMatch(/Error|Unhandled|Warning/);
  return run;
}

function indexOfLine(run: Run, pattern: RegExp): number {
  const index = run.lines.findIndex((line) => pattern.test(line));
  expect(index, `no line matches ${pattern}\n${run.stdout}`).toBeGreaterThanOrEqual(0);
  return index;
}

function matchLine(run: Run, pattern: RegExp): RegExpExecArray {
  const line = run.lines[indexOfLine(run, pattern)] as string;
  return pattern.exec(line) as RegExpExecArray;
}

beforeAll(() => {
  if (!existsSync(new URL('../../dist/peer/index.js', import.meta.url))) {
    throw new Error("the examples import 'warren/peer' from dist/: run `npm run build` first (npm test does)");
  }
});

afterEach(() => {
  for (const child of running) if (child.pid !== undefined) killGroup(child.pid);
  running.clear();
});

describe('examples', () => {
  it(
    'request-response: both sides ask, errors carry their code',
    async () => {
      const run = await runClean('examples/ipc/request-response/parent.mjs');
      const childPid = matchLine(run, /^parent: spawned child pid (\d+)$/)[1];
      expect(run.stdout).toContain('parent: add(2, 3) = 5');
      expect(run.stdout).toContain("parent: upper('hello warren') = 'HELLO WARREN'");
      // The child's request to the parent happened inside the parent's request to the child.
      const asked = indexOfLine(run, /^parent: the child asked who I am$/);
      const greeted = matchLine(run, /^parent: greet\(\) = 'hello parent pid (\d+), from child pid (\d+)'$/);
      expect(asked).toBeLessThan(indexOfLine(run, /^parent: greet\(\)/));
      expect(greeted[2]).toBe(childPid);
      expect(run.stdout).toContain('parent: divide(1, 0) failed with DIVIDE_BY_ZERO: cannot divide by zero');
      expect(run.stdout).toContain('parent: squares in parallel = 1, 4, 9, 16, 25');
      expect(run.stdout).toContain('parent: child exited with code 0');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'background-worker: progress notifications, answers requests mid-job, then done',
    async () => {
      const run = await runClean('examples/ipc/background-worker/parent.mjs');
      const progress = run.lines.filter((line) => /^parent: job checksum progress \d+\/8$/.test(line));
      expect(progress).toEqual(Array.from({ length: 8 }, (_, i) => `parent: job checksum progress ${i + 1}/8`));
      expect(run.stdout).toContain('parent: asked mid-job, the worker says it is running');
      const done = indexOfLine(run, /^parent: job checksum done: 33554432 bytes hashed in \d+ ms, sha256 [0-9a-f]{16}…$/);
      expect(done).toBeGreaterThan(indexOfLine(run, /progress 8\/8$/));
      expect(run.stdout).toContain('parent: the worker is now idle');
      expect(run.stdout).toContain('parent: worker exited with code 0');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'progress: one bar line per update, all before the result',
    async () => {
      const run = await runClean('examples/ipc/progress/parent.mjs');
      const bars = run.lines.filter((line) => line.startsWith('['));
      expect(bars).toHaveLength(10);
      expect(bars[0]).toBe('[##------------------]  10% 1/10 peer.ts');
      expect(bars[9]).toBe('[####################] 100% 10/10 errors.ts');
      const finished = indexOfLine(run, /^build finished: 10 files, \d+ lines, 10 progress updates$/);
      expect(finished).toBe(run.lines.indexOf(bars[9] as string) + 1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'parallel-workers: work spread over 4 processes, same total as 1',
    async () => {
      const run = await runClean('examples/ipc/parallel-workers/parent.mjs');
      const workers = run.lines
        .map((line) => /^ {2}worker pid (\d+): (\d+) slices, (\d+) primes, busy \d+ ms$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null);
      expect(new Set(workers.map((m) => m[1])).size).toBe(4);
      for (const m of workers) expect(Number(m[2])).toBeGreaterThan(0);
      expect(workers.reduce((sum, m) => sum + Number(m[2]), 0)).toBe(24);
      // π(5,000,000) = 348,513.
      expect(workers.reduce((sum, m) => sum + Number(m[3]), 0)).toBe(348_513);
      matchLine(run, /^4 workers: 348513 primes in \d+ ms$/);
      matchLine(run, /^1 worker: 348513 primes in \d+ ms$/);
      // Printed, never asserted: speed belongs to `npm run bench`.
      matchLine(run, /^speed-up with 4 workers: \d+\.\d{2}x$/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'typed-messages: typed requests, a notification, a stream read in full and left early',
    async () => {
      const run = await runClean('examples/ipc/typed-messages/client.mjs');
      expect(run.lines).toEqual(
        expect.arrayContaining([
          'users.get(1) = Ada Lovelace <ada@example.org> (admin)',
          'event: users.created #4 Grace Hopper',
          'users.create = #4 Grace Hopper',
          'users.list(admin) -> #1 Ada Lovelace',
          'users.list(admin) -> #4 Grace Hopper',
          'users.list() read 2 users, then stopped early',
          'users.get(42) failed with USER_NOT_FOUND: no user with id 42',
        ]),
      );
      expect(run.lines.filter((line) => line.startsWith('users.list(admin)'))).toHaveLength(2);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'timeout: WARREN_TIMEOUT, WARREN_CANCELLED, and the handler sees ctx.signal abort',
    async () => {
      const run = await runClean('examples/ipc/timeout/parent.mjs');
      expect(run.stdout).toContain('parent: slow(50 ms) with a 2000 ms timeout -> finished after 50 ms');
      expect(run.stdout).toContain(
        "parent: slow(5000 ms) with a 200 ms timeout -> rejected with WARREN_TIMEOUT: request 'slow' got no response within 200 ms",
      );
      expect(run.stdout).toContain('parent: slow(5000 ms), then controller.abort() -> rejected with WARREN_CANCELLED');
      expect(run.stdout).toContain('parent: slow(5000 ms) with AbortSignal.timeout(150) -> rejected with WARREN_CANCELLED');
      const aborts = run.lines.filter((line) => /^child: {2}handler for request \d+ saw ctx\.signal abort \(WARREN_CANCELLED\)/.test(line));
      expect(aborts).toHaveLength(3);
      expect(run.stdout).toContain('parent: 3 handlers were stopped in the child');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'unix-echo-server: 20 concurrent clients, 1000 echoes, everything closed',
    async () => {
      const run = await runClean('examples/ipc/unix-echo-server/main.mjs');
      const socketPath = matchLine(run, /^server pid \d+ listening on (\S+)$/)[1] as string;
      matchLine(run, /^20 clients sent 1000 echoes in \d+ ms, 0 came back wrong$/);
      matchLine(run, /^server saw 20 connections \(\d+ open at once\) and answered 1000 echoes$/);
      expect(run.stdout).toContain('server exited with code 0; socket directory removed');
      expect(existsSync(socketPath)).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'demo: the whole tour, a SIGKILLed worker replaced, a clean shutdown',
    async () => {
      const run = await runClean('examples/demo.mjs');
      for (let n = 1; n <= 8; n++) indexOfLine(run, new RegExp(`^${n}\\. `));
      matchLine(run, /^ {3}all 3 answering \d+ ms after launch$/);
      expect(run.lines.filter((line) => /^ {3}pid \d+ answered in [\d.]+ ms/.test(line))).toHaveLength(3);
      expect(run.stdout).toContain('   [#####] step 5/5');
      expect(run.stdout).toContain('   stream ended after 5 items');
      expect(run.lines.filter((line) => /^ {3}pid \d+ now greets with 'hola'$/.test(line))).toHaveLength(3);
      expect(run.stdout).toContain("   the request failed with WARREN_TIMEOUT: request 'sleep' got no response within 300 ms");
      matchLine(run, /was told to stop and did \(WARREN_CANCELLED\)$/);
      const victim = matchLine(run, /^ {3}the request to pid (\d+) failed with WARREN_PEER_CLOSED$/)[1];
      expect(run.stdout).toContain(`   pool: worker pid ${victim} killed by SIGKILL, the pool will replace it`);
      const newcomer = matchLine(run, /^ {3}replacement worker pid (\d+) started$/)[1];
      expect(newcomer).not.toBe(victim);
      // The replacement was configured by onWorker with the broadcast greeting.
      expect(run.stdout).toContain(`   hola Grace, from pid ${newcomer}`);
      expect(run.lines.filter((line) => /^ {3}pool: worker pid \d+ exited with code 0$/.test(line))).toHaveLength(3);
      expect(run.stdout).toContain('Done: every worker has exited.');
    },
    TEST_TIMEOUT_MS,
  );
});
