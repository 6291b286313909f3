#!/usr/bin/env node
/**
 * `npm run test:stress [-- RUNS]`: the whole test suite RUNS times (default 5; or the
 * WARREN_STRESS_RUNS environment variable) while every CPU is kept busy, to shake out the races
 * that a quiet machine hides. Prints, per run, pass or fail and the names of the failed tests,
 * and exits 1 if any run failed.
 *
 * The CPU hog is one busy process per CPU, started before the first run and stopped after the
 * last. Each hog ends by itself after HOG_MAX_MS, or as soon as this runner is gone, so a killed
 * runner leaves nothing spinning behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS_ENV = 'WARREN_STRESS_RUNS';
/** The longest a hog spins, whatever happens to the runner: well past 5 suite runs on 2 CPUs. */
const HOG_MAX_MS = 60 * 60_000;

function runsWanted() {
  const raw = process.argv[2] ?? process.env[RUNS_ENV] ?? '5';
  const runs = Number(raw);
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > 1000) {
    console.error(`test:stress: the number of runs must be a whole number from 1 to 1000, got '${raw}'`);
    process.exit(2);
  }
  return runs;
}

/** Spins in slices of 50 ms; between slices it checks its deadline and that its parent lives. */
const HOG_SOURCE = `
const [deadline, parent] = process.argv.slice(1).map(Number);
const parentRuns = () => { try { process.kill(parent, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
for (;;) {
  const slice = Date.now() + 50;
  while (Date.now() < slice);
  if (Date.now() > deadline || process.ppid !== parent || !parentRuns()) process.exit(0);
}`;

function startHogs(count) {
  const deadline = Date.now() + HOG_MAX_MS;
  return Array.from({ length: count }, () =>
    spawn(process.execPath, ['-e', HOG_SOURCE, String(deadline), String(process.pid)], { stdio: 'ignore' }),
  );
}

function stopHogs(hogs) {
  for (const hog of hogs) if (hog.exitCode === null && hog.signalCode === null) hog.kill('SIGKILL');
}

/** The failed tests of vitest's JSON report: `file › full name`, or the file when it did not load. */
function failedTests(reportPath) {
  let report;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8'));
  } catch {
    return ['(no test report: vitest itself failed)'];
  }
  const failed = [];
  for (const file of report.testResults ?? []) {
    const name = file.name.startsWith(process.cwd()) ? file.name.slice(process.cwd().length + 1) : file.name;
    const tests = (file.assertionResults ?? []).filter((t) => t.status === 'failed');
    for (const t of tests) failed.push(`${name} › ${t.fullName}`);
    if (tests.length === 0 && file.status === 'failed') failed.push(`${name} (${(file.message ?? 'failed').split('\n')[0]})`);
  }
  return failed;
}

/** The run under way, ended with the runner when it is interrupted. */
let current = null;

function runSuite(reportPath) {
  return new Promise((resolve) => {
    const vitest = spawn(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', '--reporter=dot', '--reporter=json', `--outputFile.json=${reportPath}`],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    current = vitest;
    vitest.once('exit', (code, signal) => {
      current = null;
      resolve({ code, signal });
    });
  });
}

const runs = runsWanted();
const build = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const dir = mkdtempSync(join(tmpdir(), 'warren-stress-'));
const hogs = startHogs(availableParallelism());
const stop = () => {
  stopHogs(hogs);
  rmSync(dir, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    current?.kill('SIGTERM');
    stop();
    process.exit(130);
  });
}

const results = [];
try {
  console.log(`test:stress: ${runs} runs of the whole suite, ${hogs.length} CPU hogs running`);
  for (let run = 1; run <= runs; run++) {
    const reportPath = join(dir, `run-${run}.json`);
    const started = Date.now();
    const { code, signal } = await runSuite(reportPath);
    const failed = code === 0 ? [] : failedTests(reportPath);
    if (code !== 0 && failed.length === 0) failed.push(`(vitest exited with ${signal ?? `code ${code}`})`);
    results.push({ run, failed, seconds: Math.round((Date.now() - started) / 1000) });
    console.log(`test:stress: run ${run}/${runs} ${failed.length === 0 ? 'passed' : 'FAILED'} in ${results.at(-1).seconds}s`);
    for (const name of failed) console.log(`  failed: ${name}`);
  }
} finally {
  stop();
}

console.log('\ntest:stress summary:');
for (const { run, failed, seconds } of results) {
  console.log(`  run ${run}: ${failed.length === 0 ? 'passed' : `FAILED (${failed.length})`} ${seconds}s`);
  for (const name of failed) console.log(`    ${name}`);
}
const failedRuns = results.filter((r) => r.failed.length > 0).length;
console.log(`runs: ${runs - failedRuns} passed, ${failedRuns} failed`);
process.exit(failedRuns === 0 ? 0 : 1);
