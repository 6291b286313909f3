/**
 * The supervisor's side of the control socket (see protocol.ts): a peer per connection, which
 * must say `supervisor.hello` with the socket directory's token before anything else.
 */
import { join } from 'node:path';
import { invalidArgument, UnauthorizedError, unsupported } from '../errors.js';
import { listenUnix, type PeerServer } from '../peer/transports/socket.js';
import { rotateToken, TokenVerifier } from '../service/auth.js';
import { acceptHello } from '../service/hello.js';
import type { LogsOptions } from './log-store.js';
import { CONTROL, CONTROL_SOCKET, type LogRecord, type ReloadResult, type ScaleResult, type SupervisorStatus } from './protocol.js';

export interface ControlHandlers {
  status(): SupervisorStatus;
  reload(service: string | undefined): Promise<ReloadResult>;
  restart(service: string): Promise<number>;
  scale(service: string, instances: number): Promise<ScaleResult>;
  stopService(service: string): Promise<{ service: string; stopped: number }>;
  startService(service: string): Promise<{ service: string; started: number }>;
  stop(): void;
  logs?: ((options: LogsOptions, signal: AbortSignal) => AsyncIterable<LogRecord>) | undefined;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidArgument(`${name} must be a string`);
  return value;
}

function requiredService(value: unknown, what: string): string {
  const service = optionalString(params(value).service, 'service');
  if (service === undefined) throw invalidArgument(`${what} needs a service name`);
  return service;
}

function params(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/**
 * Listens on `<dir>/supervisor.sock`. Its `close()` first ends every log stream that follows
 * (`warren logs -f`): they never end by themselves, and a peer's graceful close waits for its
 * running handlers, so a follower would hold the supervisor's stop for the peers' close timeout.
 */
export async function listenControl(dir: string, handlers: ControlHandlers, options: { version: string }): Promise<PeerServer> {
  const verifier = new TokenVerifier(dir);
  const closing = new AbortController();
  const server = await listenUnix(join(dir, CONTROL_SOCKET), (peer) => {
    const hello = acceptHello(peer, {
      method: CONTROL.hello.method,
      verifier,
      onTrusted: () => ({ pid: process.pid, socketDir: dir, version: options.version }),
    });
    const guard = () => {
      if (!hello.trusted) throw new UnauthorizedError('say supervisor.hello with the token first');
    };
    peer.onRequest(CONTROL.status.method, () => {
      guard();
      return handlers.status();
    });
    peer.onRequest(CONTROL.reload.method, (p) => {
      guard();
      return handlers.reload(optionalString(params(p).service, 'service'));
    });
    peer.onRequest(CONTROL.restart.method, async (p) => {
      guard();
      const service = optionalString(params(p).service, 'service');
      if (service === undefined) throw invalidArgument('restart needs a service name');
      return { restarted: await handlers.restart(service) };
    });
    peer.onRequest(CONTROL.scale.method, (p) => {
      guard();
      const service = requiredService(p, 'scale');
      const instances = params(p).instances;
      if (typeof instances !== 'number') throw invalidArgument('scale needs instances, a whole number');
      return handlers.scale(service, instances);
    });
    peer.onRequest(CONTROL.stopService.method, (p) => {
      guard();
      return handlers.stopService(requiredService(p, 'stopService'));
    });
    peer.onRequest(CONTROL.startService.method, (p) => {
      guard();
      return handlers.startService(requiredService(p, 'startService'));
    });
    peer.onRequest(CONTROL.stop.method, () => {
      guard();
      handlers.stop();
      return { stopping: true };
    });
    peer.onRequest(CONTROL.rotateToken.method, async (p) => {
      guard();
      const graceMs = params(p).graceMs;
      if (graceMs !== undefined && !(typeof graceMs === 'number' && Number.isInteger(graceMs) && graceMs >= 0)) {
        throw invalidArgument('graceMs must be a whole number of ms');
      }
      await rotateToken(dir, graceMs === undefined ? {} : { graceMs });
      // The new token is good at once on this socket, not after the verifier's next file check.
      verifier.refresh();
      return { rotated: true };
    });
    peer.onRequest(CONTROL.logs.method, (p, ctx) => {
      guard();
      const logs = handlers.logs;
      if (logs === undefined) throw unsupported('this supervisor keeps no logs');
      const q = params(p);
      const lines = q.lines;
      if (lines !== undefined && !(typeof lines === 'number' && Number.isInteger(lines) && lines >= 0)) {
        throw invalidArgument('lines must be a whole number');
      }
      const signal = AbortSignal.any([ctx.signal, closing.signal]);
      return logs({ service: optionalString(q.service, 'service'), lines, follow: q.follow === true }, signal);
    });
  });
  return {
    ...server,
    close: () => {
      closing.abort();
      return server.close();
    },
  };
}
