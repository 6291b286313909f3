// Children of the HTTP benchmark: spawned, waited for (a JSON line with "ready", or a port that
// accepts connections), and always stopped — on success, on failure and on a signal.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';

const READY_TIMEOUT_MS = 30_000;
const children = new Set();
const tempDirs = new Set();

function cleanupSync() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Gone already.
    }
  }
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanupSync);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    process.stderr.write(`\nbench http: ${signal}, stopping children\n`);
    cleanupSync();
    process.exit(130);
  });
}

/** Removes `dir` at exit, whatever happens (and earlier through removeTempDir). */
export function trackTempDir(dir) {
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Spawns `cmd args`; stdout lines that are JSON are kept for `ready()`; stderr goes to ours. */
export function startChild(label, cmd, args, options = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options });
  children.add(proc);
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      resolve({ code, signal });
    });
  });
  let spawnError;
  proc.once('error', (error) => {
    spawnError = error;
  });
  const lines = [];
  let wake = () => {};
  createInterface({ input: proc.stdout }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line));
      wake();
    } catch {
      // Not ours to read.
    }
  });

  /** Resolves with the child's first JSON line holding `ready`; rejects if it exits or takes too long. */
  const ready = () =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`${label}: not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      const finish = (error, value) => {
        clearTimeout(timer);
        wake = () => {};
        if (error) reject(error);
        else resolve(value);
      };
      wake = () => {
        const found = lines.find((line) => line && typeof line === 'object' && 'ready' in line);
        if (found) finish(undefined, found);
      };
      exited.then(({ code, signal }) =>
        finish(
          new Error(`${label}: exited before it was ready (code ${code}, signal ${signal})${spawnError ? `: ${spawnError.message}` : ''}`),
        ),
      );
      wake();
    });

  /** SIGTERM, then SIGKILL if it is still there after 5 s. */
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { proc, ready, stop, exited, pid: proc.pid };
}

/** A port free on 127.0.0.1 now (for nginx, which cannot be told "any port"). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:port accepts a connection; rejects when `child` exits first or after the timeout. */
export function waitForPort(label, port, child) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let gone;
  child.exited.then(({ code, signal }) => {
    gone = `${label}: exited before it was ready (code ${code}, signal ${signal})`;
  });
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (gone) return reject(new Error(gone));
      if (Date.now() > deadline) return reject(new Error(`${label}: port ${port} not accepting within ${READY_TIMEOUT_MS} ms`));
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        // Polling the port is the readiness signal nginx gives; the retry is paced, not a fixed wait.
        setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}
