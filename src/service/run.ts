/**
 * The main of a service process: `await runService(definition)` serves it, says it is ready,
 * and shuts it down cleanly on SIGTERM, SIGINT or the loss of its parent's IPC channel
 * (drain, stop listening, onClose, exit 0).
 *
 * The instance number comes from WARREN_INSTANCE when not given, so one entry file serves any
 * instance; whoever started the process (the supervisor, a script) learns it is ready from an
 * IPC message when the process has an IPC channel, else from one line on stderr.
 */
import { invalidArgument } from '../errors.js';
import type { ServiceDefinition } from './define.js';
import { type ServeOptions, type ServiceServer, serveService } from './server.js';

/** Environment variable holding the instance number of a service process. */
export const INSTANCE_ENV = 'WARREN_INSTANCE';

/** The message a service process sends over its IPC channel once it listens. */
export interface ReadyMessage {
  warren: 'ready';
  service: string;
  instance: number;
  path: string;
  pid: number;
}

export interface RunOptions extends ServeOptions {
  /** Exit the process after a signal-triggered close (true). Tests turn it off. */
  exit?: boolean;
  /** Where the ready line goes when there is no IPC channel (stderr); null for none. */
  readyLine?: NodeJS.WritableStream | null;
}

/** Reads WARREN_INSTANCE: a non-negative integer, 0 when unset. */
export function instanceFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[INSTANCE_ENV];
  if (raw === undefined || raw === '') return 0;
  if (!/^(0|[1-9][0-9]{0,8})$/.test(raw))
    throw invalidArgument(`${INSTANCE_ENV} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/**
 * @example
 * // users.mjs — run as `node users.mjs`, or by `warren up`
 * import { defineService, runService } from 'warren/service';
 * await runService(defineService({ name: 'users', routes: { 'GET /users/:id': ({ params }) => ({ id: params.id }) } }));
 */
export async function runService<D>(definition: ServiceDefinition<D>, options: RunOptions = {}): Promise<ServiceServer<D>> {
  const instance = options.instance ?? instanceFromEnv();
  const server = await serveService(definition, { ...options, instance });

  let stopping = false;
  // A second signal while draining is ignored: whoever sent the first decides when to give up
  // (the supervisor follows its drain timeout with SIGKILL).
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void server.close().then(
      () => {
        if (options.exit ?? true) process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`${definition.name}.${instance}: close failed: ${String(error)}\n`);
        if (options.exit ?? true) process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Started with an IPC channel (by the supervisor or a script): when that parent dies, even by
  // SIGKILL, the channel closes, and an orphaned instance shuts down instead of running on.
  if (typeof process.send === 'function') process.once('disconnect', stop);

  const ready: ReadyMessage = { warren: 'ready', service: definition.name, instance, path: server.path, pid: process.pid };
  if (typeof process.send === 'function' && process.connected) {
    process.send(ready);
  } else if (options.readyLine !== null) {
    (options.readyLine ?? process.stderr).write(`${definition.name}.${instance} ready on ${server.path} (pid ${process.pid})\n`);
  }
  return server;
}
