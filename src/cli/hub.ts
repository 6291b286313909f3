/**
 * `warren hub [config]`: runs the WebSocket hub alone (or as the supervisor's `hub` process),
 * and `warren emit <channel> <event> [json]`: one broadcast through a running hub.
 *
 * The hub's settings are the config's `realtime` section with the WS_* / WARREN_WS_* variables
 * over it (src/config/realtime.ts); without a config file, the defaults and the environment. It
 * listens on host:port for WebSockets and on `<socketDir>/hub.sock` for broadcasts, and stops
 * cleanly (1001 to every client) on SIGTERM or SIGINT, or when the supervisor that started it goes.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { natsBroadcastEnv, type RealtimeConfig, resolveRealtimeConfig } from '../config/realtime.js';
import { ConfigError, isWarrenError } from '../errors.js';
import { tokenOf } from '../realtime/handshake.js';
import { type Authenticate, createBroadcaster, type Hub, type HubOptions, startHub, verifyUserToken } from '../realtime/index.js';
import { loadConfig } from '../supervisor/config.js';
import { CONFIG_FILE_NAMES } from '../supervisor/config-schema.js';
import { commandSocketDir } from './socket-dir-lookup.js';

export interface HubCommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

interface HubSettings {
  realtime: RealtimeConfig;
  socketDir: string;
}

/** The config file to read: the one named, else one in the current directory, else none. */
function configFileOf(config: string | undefined, cwd: string): string | undefined {
  if (config !== undefined) return resolve(cwd, config);
  return CONFIG_FILE_NAMES.some((name) => existsSync(join(cwd, name))) ? cwd : undefined;
}

async function settings(config: string | undefined, socketDirOption: string | undefined, env: NodeJS.ProcessEnv): Promise<HubSettings> {
  const file = configFileOf(config, process.cwd());
  if (file === undefined) {
    return { realtime: resolveRealtimeConfig(undefined, env), socketDir: commandSocketDir(socketDirOption, env) };
  }
  const loaded = await loadConfig(file, { env, socketDirOption });
  return {
    realtime: resolveRealtimeConfig(loaded.realtime ?? undefined, env, loaded.configPath ?? undefined),
    socketDir: loaded.socketDir,
  };
}

/** The built-in authentication: a user token signed with `authSecret` (see signUserToken). */
function signedTokenAuth(secret: string): Authenticate {
  return (req) => {
    const userId = verifyUserToken(secret, tokenOf(req));
    return userId === undefined ? null : { userId };
  };
}

/** The Redis and NATS seams the config asks for (each client loaded only then: neither is needed otherwise). */
async function seams(
  realtime: RealtimeConfig,
  env: NodeJS.ProcessEnv,
  io: HubCommandIo,
): Promise<Pick<HubOptions, 'broadcaster' | 'registry'>> {
  const chosen: Pick<HubOptions, 'broadcaster' | 'registry'> = {};
  if (realtime.broadcast === 'redis' || realtime.registry === 'redis') {
    const url = realtime.redisUrl as string;
    const { RedisBroadcaster, RedisRegistry } = await import('../realtime/redis/index.js');
    if (realtime.broadcast === 'redis') chosen.broadcaster = new RedisBroadcaster({ url });
    if (realtime.registry === 'redis') chosen.registry = new RedisRegistry({ url });
  }
  if (realtime.broadcast === 'nats') {
    const { NatsBroadcaster } = await import('../realtime/nats/index.js');
    const broadcaster = new NatsBroadcaster({
      nats: realtime.natsUrl === undefined ? {} : { url: realtime.natsUrl },
      prefix: realtime.natsPrefix,
      env,
    });
    reportNats(broadcaster, io);
    chosen.broadcaster = broadcaster;
  }
  return chosen;
}

/** The NATS link's ups and downs on stderr: one line when it goes, one (with the broadcasts lost) when it is back. */
function reportNats(broadcaster: import('../realtime/nats/index.js').NatsBroadcaster, io: HubCommandIo): void {
  let lostBefore = 0;
  let down = false;
  void broadcaster.settled.then(() => {
    if (broadcaster.state === 'up')
      io.out(`hub broadcasts through NATS at ${broadcaster.servers} (subjects ${broadcaster.prefix}.<channel>)\n`);
    else if (broadcaster.state !== 'closed') {
      down = true;
      io.err(
        `warren hub: NATS at ${broadcaster.servers} is unreachable (${broadcaster.lastError}): broadcasts are lost until it is (retrying)\n`,
      );
    }
  });
  broadcaster.on('disconnect', (reason) => {
    down = true;
    lostBefore = broadcaster.lost;
    io.err(`warren hub: NATS is down (${reason}): broadcasts are lost until it is back (reconnecting)\n`);
  });
  broadcaster.on('connect', () => {
    if (!down) return;
    down = false;
    const lost = broadcaster.lost - lostBefore;
    io.err(`warren hub: NATS is back (${lost} broadcast${lost === 1 ? '' : 's'} lost while it was down)\n`);
  });
}

export function hubOptionsFrom(realtime: RealtimeConfig, socketDir: string) {
  return {
    host: realtime.host,
    port: realtime.port,
    path: realtime.path,
    maxMessageSize: realtime.maxMessageSize,
    writeBufferSize: realtime.writeBufferSize,
    heartbeatMs: realtime.heartbeatIntervalS * 1000,
    allowedOrigins: realtime.allowedOrigins,
    defaultFormat: realtime.formatter,
    socketDir,
    ...(realtime.authSecret === undefined ? {} : { authenticate: signedTokenAuth(realtime.authSecret) }),
    ...(realtime.channelSecret === undefined ? {} : { channelSecret: realtime.channelSecret }),
    ...(realtime.connectionRate === undefined ? {} : { connectionRate: realtime.connectionRate }),
    ...(realtime.recovery === undefined ? {} : { recovery: realtime.recovery }),
  };
}

function report(name: string, error: unknown, io: HubCommandIo): number {
  if (error instanceof ConfigError && error.issues.length > 1) {
    for (const issue of error.issues) io.err(`${name}: WARREN_CONFIG: ${issue.path}: ${issue.message}\n`);
    return 2;
  }
  const code = isWarrenError(error) ? error.code : 'ERROR';
  io.err(`${name}: ${code}: ${(error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ')}\n`);
  return isWarrenError(error) && (error.code === 'WARREN_CONFIG' || error.code === 'WARREN_INVALID_ARGUMENT') ? 2 : 1;
}

/** Runs the hub until a signal; resolves with the exit code. */
export async function hubCommand(
  config: string | undefined,
  options: { socketDir?: string },
  io: HubCommandIo,
  env = process.env,
): Promise<number> {
  let hub: Hub;
  let chosen: Pick<HubOptions, 'broadcaster' | 'registry'> = {};
  try {
    const { realtime, socketDir } = await settings(config, options.socketDir, env);
    chosen = await seams(realtime, env, io);
    hub = await startHub({ ...hubOptionsFrom(realtime, socketDir), ...chosen });
    io.out(
      `hub listening on ws://${realtime.host}:${hub.port}${realtime.path} (broadcasts on ${join(socketDir, 'hub.sock')}, pid ${process.pid})\n`,
    );
  } catch (error) {
    // A hub that could not start: its Redis or NATS connections would keep the process alive.
    await Promise.all([chosen.broadcaster?.close(), chosen.registry?.close()]).catch(() => {});
    return report('warren hub', error, io);
  }
  return new Promise((resolveExit) => {
    const stop = (signal: string) => {
      io.out(`hub stopping (${signal}): closing ${hub.stats.connections} connection(s)\n`);
      hub.close().then(
        () => resolveExit(0),
        (error: unknown) => resolveExit(report('warren hub', error, io)),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Started by a supervisor that went away: nobody would stop this hub otherwise.
    if (process.connected) process.once('disconnect', () => stop('supervisor gone'));
  });
}

/** `warren emit <channel> <event> [json]`: one broadcast, confirmed by the hub. */
export async function emitCommand(
  channel: string,
  event: string,
  json: string | undefined,
  options: { socketDir?: string; timeout?: number; nats?: boolean },
  io: HubCommandIo,
  env = process.env,
): Promise<number> {
  let data: unknown = null;
  if (json !== undefined) {
    try {
      data = JSON.parse(json);
    } catch (error) {
      io.err(`warren emit: WARREN_INVALID_ARGUMENT: data is not valid JSON: ${(error as Error).message}\n`);
      return 2;
    }
  }
  if (options.nats === true) return emitThroughNats(channel, event, data, options.timeout ?? 5_000, io, env);
  const broadcaster = createBroadcaster({ socketDir: commandSocketDir(options.socketDir, env), maxBuffered: 0 });
  try {
    const { members } = await broadcaster.send(channel, event, data, options.timeout ?? 5_000);
    io.out(`${event} sent to ${channel} (${members} connection${members === 1 ? '' : 's'} on this hub)\n`);
    return 0;
  } catch (error) {
    return report('warren emit', error, io);
  } finally {
    await broadcaster.close();
  }
}

/** `warren emit --nats`: published on NATS (NATS_URL, WS_NATS_PREFIX) to every hub of broadcast "nats", confirmed by the NATS server. */
async function emitThroughNats(channel: string, event: string, data: unknown, timeoutMs: number, io: HubCommandIo, env: NodeJS.ProcessEnv) {
  const { natsUrl, natsPrefix } = natsBroadcastEnv(env);
  let broadcaster: import('../realtime/nats/index.js').NatsBroadcasterClient | undefined;
  try {
    const { createNatsBroadcaster } = await import('../realtime/nats/index.js');
    broadcaster = createNatsBroadcaster({
      nats: natsUrl === undefined ? {} : { url: natsUrl },
      ...(natsPrefix === undefined ? {} : { prefix: natsPrefix }),
      maxBuffered: 1,
      env,
    });
    await broadcaster.send(channel, event, data, timeoutMs);
    io.out(`${event} sent to ${channel} through NATS at ${broadcaster.servers} (subject ${broadcaster.subjectOf(channel)})\n`);
    return 0;
  } catch (error) {
    return report('warren emit', error, io);
  } finally {
    await broadcaster?.close();
  }
}
