/**
 * The gateway as a supervised process: when the config has a `gateway` section, the supervisor
 * runs `warren gateway` like any service, named `gateway` (so it shows in `warren status`, is
 * restarted, logged and stopped like the others). The supervisor does not load the gateway: it
 * spawns the CLI's entry, and passes the section as JSON in WARREN_GATEWAY_CONFIG.
 *
 * Its port is a shared port (docs/config.md "Sharing a port"): the supervisor binds it and hands
 * it to each gateway process, so a restart or a reload of the gateway never refuses a connection.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ResolvedService } from './config.js';
import { CONFIG_DEFAULTS } from './config-schema.js';

/** The service name of the gateway process. */
export const GATEWAY_SERVICE = 'gateway';
/** Environment variable the gateway process reads its section from (src/cli/gateway.ts). */
export const GATEWAY_CONFIG_ENV = 'WARREN_GATEWAY_CONFIG';

/** The built CLI entry (dist/cli/main.js), from the built supervisor or from the sources (tests). */
function cliEntry(): string {
  const beside = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  if (existsSync(beside)) return beside;
  return fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
}

/** The gateway process as a service of the config. */
export function gatewayService(
  section: Readonly<Record<string, unknown>>,
  baseDir: string,
  env: Readonly<Record<string, string>>,
  listen: { host: string; port: number } | null,
): ResolvedService {
  const { restart, drainTimeoutMs, readyTimeoutMs } = CONFIG_DEFAULTS;
  return Object.freeze({
    name: GATEWAY_SERVICE,
    entry: cliEntry(),
    instances: 1,
    standby: 0,
    env: Object.freeze({ ...env, [GATEWAY_CONFIG_ENV]: JSON.stringify(section) }),
    restart: Object.freeze({ ...restart }),
    maxMemoryMB: null,
    maxRequests: null,
    execTimeoutMs: null,
    drainTimeoutMs,
    readyTimeoutMs,
    args: Object.freeze(['gateway']),
    nodeArgs: Object.freeze([]),
    cwd: baseDir,
    interpreter: 'node',
    ready: Object.freeze({ kind: 'message' as const }),
    port: listen?.port ?? null,
    host: listen?.host ?? null,
  });
}
