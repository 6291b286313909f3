/**
 * The WebSocket hub as a supervised process: a config with a `realtime` section gets one more
 * service, `hub`, that runs `warren hub <config>` (the CLI, not the hub's module: the supervisor
 * does not import the realtime layer). It is online once its hub.sock accepts connections, and it
 * is restarted, drained, reloaded and shown in `warren status` like any service.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResolvedService } from './config.js';
import { CONFIG_DEFAULTS } from './config-schema.js';

export const HUB_SERVICE_NAME = 'hub';

/** The warren CLI beside this module (dist/cli/main.js; src/cli/main.ts when run from the sources). */
function cliEntry(): string {
  const built = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  if (existsSync(built)) return built;
  const source = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
  return existsSync(source) ? source : built;
}

export function hubService(options: {
  configPath: string | null;
  baseDir: string;
  socketDir: string;
  env: Readonly<Record<string, string>>;
}): ResolvedService {
  return Object.freeze({
    name: HUB_SERVICE_NAME,
    entry: cliEntry(),
    instances: 1,
    standby: 0,
    env: options.env,
    restart: CONFIG_DEFAULTS.restart,
    maxMemoryMB: null,
    maxRequests: null,
    execTimeoutMs: null,
    drainTimeoutMs: CONFIG_DEFAULTS.drainTimeoutMs,
    readyTimeoutMs: CONFIG_DEFAULTS.readyTimeoutMs,
    args: Object.freeze(['hub', options.configPath ?? options.baseDir]),
    nodeArgs: Object.freeze([]),
    cwd: options.baseDir,
    interpreter: 'node',
    ready: Object.freeze({ kind: 'listen', path: join(options.socketDir, 'hub.sock') }),
    port: null,
    host: null,
  });
}
