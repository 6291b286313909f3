// The four systems of `npm run bench:http`, each started fresh in its own temporary directory:
//   node-http      one node:http process (hello-node.mjs) on a TCP port: the floor;
//   naive-proxy    naive-proxy.mjs → the worker (hello-node.mjs) on a Unix socket;
//   nginx          nginx (worker_processes 1, upstream keepalive 64) → the same worker program;
//   warren-gateway the gateway (warren-gateway.mjs) → a Warren service (warren-service.mjs, 1 instance).
// start(system, ctx) resolves with { url, stop(), pids, labels } (labels name the pids' processes).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginx } from './nginx.js';
import { removeTempDir, startChild, trackTempDir } from './procs.js';

export const SYSTEMS = ['node-http', 'naive-proxy', 'nginx', 'warren-gateway'];

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
// Extra node flags for the Warren processes and the node ones, e.g. BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
const node = (label, script, args) => startChild(label, process.execPath, [...nodeFlags, here(script), ...args]);

async function worker(dir) {
  const socket = path.join(dir, 'worker.sock');
  const child = node('worker', 'hello-node.mjs', ['--socket', socket]);
  await child.ready();
  return { ...child, socket };
}

/** Stops the children last-started first, then removes the directory. */
function stopper(dir, children) {
  return async () => {
    for (const child of [...children].reverse()) await child.stop();
    removeTempDir(dir);
  };
}

export async function start(system, { nginx, accessLog }) {
  const dir = trackTempDir(fs.mkdtempSync(path.join(os.tmpdir(), 'warren-bench-http-')));
  const children = [];
  const stop = stopper(dir, children);
  try {
    if (system === 'node-http') {
      const server = node('node-http', 'hello-node.mjs', ['--port', '0']);
      children.push(server);
      const { port } = await server.ready();
      return { url: `http://127.0.0.1:${port}/`, stop, pids: [server.pid], labels: ['node'] };
    }
    if (system === 'naive-proxy' || system === 'nginx') {
      const upstream = await worker(dir);
      children.push(upstream);
      if (system === 'naive-proxy') {
        const proxy = node('naive-proxy', 'naive-proxy.mjs', ['--upstream', upstream.socket]);
        children.push(proxy);
        const { port } = await proxy.ready();
        return { url: `http://127.0.0.1:${port}/`, stop, pids: [proxy.pid, upstream.pid], labels: ['proxy', 'worker'] };
      }
      const proxy = await startNginx({ bin: nginx.bin, dir, upstreamSocket: upstream.socket, accessLog });
      children.push(proxy);
      return { url: `http://127.0.0.1:${proxy.port}/`, stop, pids: [proxy.pid, upstream.pid], labels: ['nginx', 'worker'] };
    }
    if (system === 'warren-gateway') {
      const socketDir = path.join(dir, 'run');
      const service = node('warren-service', 'warren-service.mjs', ['--socket-dir', socketDir]);
      children.push(service);
      await service.ready();
      const gatewayArgs = ['--socket-dir', socketDir, ...(accessLog ? ['--access-log', '--log-dir', path.join(dir, 'log')] : [])];
      const gateway = node('warren-gateway', 'warren-gateway.mjs', gatewayArgs);
      children.push(gateway);
      const { port, routes } = await gateway.ready();
      if (routes !== 1) throw new Error(`warren-gateway: expected the service's 1 route, found ${routes}`);
      return { url: `http://127.0.0.1:${port}/`, stop, pids: [gateway.pid, service.pid], labels: ['gateway', 'service'] };
    }
    throw new Error(`unknown system ${system}`);
  } catch (error) {
    await stop();
    throw error;
  }
}
