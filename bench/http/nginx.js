// nginx as a reverse proxy to the Unix-socket worker: one worker process, upstream keepalive 64,
// HTTP/1.1 to the upstream with an empty Connection header (so upstream connections are reused),
// access log off. Runs in the foreground (`daemon off;`) as our child, with its own prefix (-p),
// config, pid file, error log and temp paths inside the benchmark's temporary directory.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, startChild, waitForPort } from './procs.js';

/** The nginx binary: BENCH_NGINX, else /usr/sbin/nginx, else `nginx` on PATH; undefined when none runs. */
export function findNginx() {
  for (const candidate of [process.env.BENCH_NGINX, '/usr/sbin/nginx', 'nginx']) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['-v'], { encoding: 'utf8' });
    if (probe.status === 0) return { bin: candidate, version: (probe.stderr || probe.stdout).trim().replace(/^nginx version: /, '') };
  }
  return undefined;
}

export function nginxConfig({ dir, port, upstreamSocket, accessLog }) {
  const at = (name) => path.join(dir, name);
  // Run as root (as on this benchmark machine) the master would start its worker as `nobody`,
  // which may not connect to a socket root made; the worker stays root then.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}worker_processes 1;
daemon off;
pid ${at('nginx.pid')};
error_log ${at('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log ${accessLog ? `${at('access.log')} combined buffer=64k flush=1s` : 'off'};
  client_body_temp_path ${at('client_body')};
  proxy_temp_path ${at('proxy')};
  fastcgi_temp_path ${at('fastcgi')};
  uwsgi_temp_path ${at('uwsgi')};
  scgi_temp_path ${at('scgi')};
  keepalive_requests 1000000;
  upstream worker {
    server unix:${upstreamSocket};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://worker;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Starts nginx in `dir` in front of `upstreamSocket`; resolves once its port accepts connections. */
export async function startNginx({ bin, dir, upstreamSocket, accessLog }) {
  const port = await freePort();
  const prefix = path.join(dir, 'nginx');
  fs.mkdirSync(prefix, { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, nginxConfig({ dir: prefix, port, upstreamSocket, accessLog }));
  // -e: the error log from the start (before the config is read), else nginx opens the system's.
  const child = startChild('nginx', bin, ['-p', `${prefix}/`, '-c', conf, '-e', path.join(prefix, 'error.log')]);
  try {
    await waitForPort('nginx', port, child);
  } catch (error) {
    const log = fs.existsSync(path.join(prefix, 'error.log')) ? fs.readFileSync(path.join(prefix, 'error.log'), 'utf8').trim() : '';
    await child.stop();
    throw new Error(`${error.message}${log ? `\nnginx error.log:\n${log}` : ''}`);
  }
  return { ...child, port };
}
