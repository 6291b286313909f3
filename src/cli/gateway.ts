/**
 * `warren gateway [config]`: runs the HTTP gateway alone against the services of a running system
 * (or as the process `warren up` supervises when the config has a `gateway` section). The section
 * comes from WARREN_GATEWAY_CONFIG (JSON, set by the supervisor) or from the config file; the
 * environment overrides it (HTTP_PORT, …). `websocket.hub` left out is where the realtime section's hub
 * listens (WARREN_REALTIME_CONFIG from the supervisor, or the file's section, WS_HOST/WS_PORT over it). Once it listens it says so: a ReadyMessage over the
 * IPC channel when it has one, and a line on stderr. SIGTERM and SIGINT close it gracefully (the
 * requests in progress are answered). SIGHUP reloads the TLS certificate and key when the gateway
 * serves TLS (a bad file keeps the old ones, logged), and is ignored otherwise. The supervisor
 * never sends it: under `warren up`, send it to the gateway's pid (`warren status`).
 */
import { isAbsolute, resolve } from 'node:path';
import { withHubDefault } from '../config/gateway-websocket.js';
import { ConfigError, isWarrenError } from '../errors.js';
import type { Gateway } from '../gateway/index.js';
import { GATEWAY_CONFIG_ENV } from '../supervisor/gateway-service.js';
import { REALTIME_CONFIG_ENV } from '../supervisor/realtime-for-gateway.js';
import { errorLines } from './up.js';

export interface GatewayCommandIo {
  err(text: string): void;
}

export async function gatewayCommand(
  configPath: string | undefined,
  options: { socketDir?: string },
  io: GatewayCommandIo,
): Promise<number> {
  const name = 'warren gateway';
  let section: unknown;
  let socketDir = options.socketDir;
  try {
    const fromEnv = process.env[GATEWAY_CONFIG_ENV];
    if (configPath === undefined && fromEnv !== undefined && fromEnv !== '') {
      const realtime = process.env[REALTIME_CONFIG_ENV];
      section = withHubDefault(
        parseSection(fromEnv, GATEWAY_CONFIG_ENV),
        realtime ? parseSection(realtime, REALTIME_CONFIG_ENV) : undefined,
        process.env,
      );
    } else {
      const { loadConfig } = await import('../supervisor/config.js');
      const config = await loadConfig(configPath, socketDir === undefined ? {} : { socketDirOption: socketDir });
      section = withTlsPaths(withHubDefault(config.gateway ?? {}, config.realtime ?? undefined, process.env), config.baseDir);
      socketDir = config.socketDir;
    }
  } catch (error) {
    io.err(errorLines(name, error));
    return 2;
  }
  const { startGateway } = await import('../gateway/index.js');
  let started: Gateway | undefined;
  // Handled from the start: SIGHUP's default would end a gateway that is still starting (it reads its files then anyway).
  const onHangUp = () => {
    if (started?.config.tls !== undefined) void started.reloadTls();
  };
  process.on('SIGHUP', onHangUp);
  try {
    started = await startGateway({ ...(section as object), socketDir, env: process.env });
  } catch (error) {
    process.off('SIGHUP', onHangUp);
    io.err(errorLines(name, error));
    return isWarrenError(error) && error.code === 'WARREN_CONFIG' ? 2 : 1;
  }
  const gateway = started;
  io.err(`${name}: listening on ${gateway.url} (${gateway.routes().length} routes)\n`);
  if (typeof process.send === 'function') {
    const instance = Number(process.env.WARREN_INSTANCE ?? 0) || 0;
    process.send({ warren: 'ready', service: 'gateway', instance, path: gateway.url, pid: process.pid });
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // The supervisor went away: so does its gateway.
    process.once('disconnect', stop);
  });
  await gateway.close();
  process.off('SIGHUP', onHangUp);
  // The IPC channel of a supervised gateway would keep the process alive.
  if (process.connected) process.disconnect();
  return 0;
}

/** The section with the tls file paths taken from the config's directory, as the supervised gateway (run there) takes them. */
function withTlsPaths(section: unknown, baseDir: string): unknown {
  if (typeof section !== 'object' || section === null || Array.isArray(section)) return section;
  const tls = (section as Record<string, unknown>).tls;
  if (typeof tls !== 'object' || tls === null || Array.isArray(tls)) return section;
  const files: Record<string, unknown> = { ...tls };
  for (const key of ['certFile', 'keyFile', 'caFile']) {
    const path = files[key];
    if (typeof path === 'string' && path !== '' && !isAbsolute(path)) files[key] = resolve(baseDir, path);
  }
  return { ...section, tls: files };
}

function parseSection(text: string, variable: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${variable} is not valid JSON: ${(error as Error).message}`);
  }
}
