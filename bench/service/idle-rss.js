// Idle memory of a service instance beside a bare Node process: each process is started,
// left idle until it is ready and its RSS has settled (two readings 200 ms apart within 1%,
// after a first GC-free second), and its VmRSS read from /proc. Prints a table and writes
// bench/service/idle-rss.json. Target: an idle instance at most 1.3x bare Node; an instance whose
// application imports zod is judged against bare Node with zod imported (Warren never loads zod).
//
//   node bench/service/idle-rss.js [--runs 3] [--out FILE]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..', '..');
const TARGET = 1.3;

/** What is measured: argv for node, and how the process says it is ready. */
const SUBJECTS = [
  { name: 'bare node', args: ['-e', 'process.stdout.write("ready\\n"); setInterval(() => {}, 1 << 30)'] },
  {
    // The shop's services import zod themselves (their schemas): the baseline they are compared with.
    name: 'bare node + zod imported',
    baselineOnly: true,
    args: [
      '--input-type=module',
      '-e',
      'import { z } from "zod"; z.string(); process.stdout.write("ready\\n"); setInterval(() => {}, 1 << 30)',
    ],
  },
  {
    name: 'caller only (ServiceClient imported)',
    args: [
      '--input-type=module',
      '-e',
      'import { ServiceClient } from "warren/service"; new ServiceClient(); process.stdout.write("ready\\n"); setInterval(() => {}, 1 << 30)',
    ],
  },
  {
    name: 'minimal service instance',
    args: [
      '--input-type=module',
      '-e',
      'import { defineService, runService } from "warren/service"; await runService(defineService({ name: "idle", routes: { "GET /x": () => 1 } }), { readyLine: process.stdout });',
    ],
  },
  {
    name: 'shop users instance (zod schema)',
    args: [path.join(root, 'examples', 'shop', 'users.mjs')],
    readyOnStderr: true,
    baseline: 'bare node + zod imported',
  },
  {
    name: 'shop products instance (zod schema)',
    args: [path.join(root, 'examples', 'shop', 'products.mjs')],
    readyOnStderr: true,
    baseline: 'bare node + zod imported',
  },
];

function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kb * 1024;
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(subject) {
  const dir = mkdtempSync(path.join(tmpdir(), 'warren-idle-'));
  const proc = spawn(process.execPath, subject.args, {
    cwd: root,
    env: { ...process.env, WARREN_SOCKET_DIR: path.join(dir, 'run') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    await new Promise((resolve, reject) => {
      const stream = subject.readyOnStderr ? proc.stderr : proc.stdout;
      stream.setEncoding('utf8').on('data', (s) => {
        if (s.includes('ready')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`${subject.name} exited with ${code}`)));
      setTimeout(() => reject(new Error(`${subject.name} not ready in 10 s`)), 10_000).unref();
    });
    await wait(1000);
    let last = rssOf(proc.pid);
    for (let i = 0; i < 20; i++) {
      await wait(200);
      const now = rssOf(proc.pid);
      if (Math.abs(now - last) / last < 0.01) return now;
      last = now;
    }
    return last;
  } finally {
    proc.kill('SIGKILL');
    await new Promise((resolve) => (proc.exitCode === null && proc.signalCode === null ? proc.once('exit', resolve) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function idleRss({ runs = 3, out = path.join(here, '..', 'results', 'service-idle-rss.json') } = {}) {
  const rows = [];
  for (const subject of SUBJECTS) {
    const samples = [];
    for (let i = 0; i < runs; i++) samples.push(await measure(subject));
    samples.sort((a, b) => a - b);
    rows.push({ name: subject.name, rssBytes: samples[Math.floor(samples.length / 2)], samples, subject });
  }
  const bare = rows[0].rssBytes;
  const byName = new Map(rows.map((row) => [row.name, row]));
  console.log(`\nIdle RSS (median of ${runs}, MB = 2^20 bytes)\n`);
  console.log('| process | RSS MB | x bare node | x the same process without Warren |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const row of rows) {
    const { subject } = row;
    delete row.subject;
    row.ratio = Number((row.rssBytes / bare).toFixed(2));
    // What Warren adds: against bare Node, or against bare Node with the application's own
    // dependencies (zod for the shop), which Warren does not load.
    const baseline = subject.baseline ? byName.get(subject.baseline) : rows[0];
    const own = row.rssBytes / baseline.rssBytes;
    if (subject.baseline) row.ratio_vs_baseline = Number(own.toFixed(2));
    const judged = row !== rows[0] && !subject.baselineOnly && !row.name.startsWith('caller');
    const miss = judged && own > TARGET ? '  MISSED (target 1.3x)' : '';
    const ownCell = subject.baselineOnly || row === rows[0] ? '–' : `${own.toFixed(2)}x${miss}`;
    console.log(`| ${row.name} | ${(row.rssBytes / 1048576).toFixed(1)} | ${row.ratio.toFixed(2)}x | ${ownCell} |`);
  }
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, target: TARGET, rows }, null, 2)}\n`);
  console.log(`\nwritten to ${path.relative(process.cwd(), out)}`);
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  idleRss({ runs: Number(at('--runs') ?? 3), out: at('--out') }).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
