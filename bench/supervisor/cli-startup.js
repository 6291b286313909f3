// CLI start-up time for bench:supervisor: how long a command takes from spawn to exit, median
// of `runs`, beside `node -e 0` (the floor: starting Node itself). Warren's `--version` and
// `status` (against a running supervisor) beside PM2's `--version` and `ls` (against its daemon).

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const warrenCli = path.join(root, 'dist', 'cli', 'main.js');
const pm2Cli = path.join(path.dirname(createRequire(import.meta.url).resolve('pm2/package.json')), 'bin', 'pm2');

/** Wall time of one run of `node ...args` until it exits (it must exit 0), in ms. */
function once(args, env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s) => {
      stderr += s;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`node ${args.join(' ')} exited with ${code ?? signal}: ${stderr.trim().slice(0, 300)}`));
    });
  });
}

/** Median wall time of `runs` runs (after one unmeasured run that warms the file cache), in ms. */
export async function timeCommand(args, { env = process.env, runs = 10 } = {}) {
  await once(args, env);
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await once(args, env));
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)] * 10) / 10;
}

/** Warren's CLI against the supervisor on `socketDir`, and the floor. */
export async function warrenCliStartup(socketDir, runs) {
  return {
    node_ms: await timeCommand(['-e', '0'], { runs }),
    version_ms: await timeCommand([warrenCli, '--version'], { runs }),
    status_ms: await timeCommand([warrenCli, 'status', '--socket-dir', socketDir], { runs }),
  };
}

/** PM2's CLI against the daemon in PM2_HOME (already running). */
export async function pm2CliStartup(pm2Home, runs) {
  const env = { ...process.env, PM2_HOME: pm2Home, PM2_DISABLE_VERSION_CHECK: 'true' };
  return {
    node_ms: await timeCommand(['-e', '0'], { runs }),
    version_ms: await timeCommand([pm2Cli, '--version'], { env, runs }),
    ls_ms: await timeCommand([pm2Cli, 'ls'], { env, runs }),
  };
}
