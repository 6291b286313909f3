/**
 * `warren up [config] [--detach]`: starts the supervisor on a configuration.
 *
 * In the foreground it logs every instance as it comes up, reloads (the config file read again) on SIGHUP, stops cleanly on
 * SIGTERM or SIGINT (drain, then SIGKILL after each service's drainTimeoutMs) and exits when
 * stopped. With --detach it starts itself again in the background, waits until every instance
 * is online or errored, prints the summary and returns; the background supervisor's own output
 * goes to `<logDir>/supervisor.out`, else `<socketDir>/supervisor.out`.
 *
 * Exit codes: 0 started (and, in the foreground, later stopped); 1 it could not start (another
 * supervisor on the socket directory, an instance errored with --detach); 2 a bad configuration.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isWarrenError } from '../errors.js';
import { isSocketAlive } from '../peer/transports/socket.js';
import { ensureSocketDir } from '../service/socket-dir.js';
import { loadConfig, type ResolvedConfig } from '../supervisor/config.js';
import { createSupervisorOutput } from '../supervisor/output.js';
import { CONTROL_SOCKET, type SupervisorStatus } from '../supervisor/protocol.js';
import { alreadyRunningError, Supervisor } from '../supervisor/supervisor.js';

export interface UpOptions {
  detach?: boolean;
  /** Internal: this process is the detached supervisor; report the start over IPC. */
  detached?: boolean;
}

export interface UpIo {
  out: (text: string) => void;
  err: (text: string) => void;
  version: string;
}

/** Message from a detached supervisor to the `warren up --detach` that started it. */
type DetachedMessage = { warren: 'up'; status: SupervisorStatus } | { warren: 'up-failed'; message: string };

export async function upCommand(configPath: string | undefined, options: UpOptions, io: UpIo): Promise<number> {
  let config: ResolvedConfig;
  try {
    config = await loadConfig(configPath);
  } catch (error) {
    io.err(`warren up: ${describe(error)}\n`);
    return 2;
  }
  // Refused before anything starts: a second supervisor would refuse too, but only after
  // logging its start and stop (into the running one's log, with --detach).
  if (!options.detached && (await isSocketAlive(join(config.socketDir, CONTROL_SOCKET)))) {
    io.err(`warren up: ${describe(alreadyRunningError(config.socketDir))}\n`);
    return 1;
  }
  if (options.detach) return detach(config, io);
  return foreground(config, options, io);
}

async function foreground(config: ResolvedConfig, options: UpOptions, io: UpIo): Promise<number> {
  const output = createSupervisorOutput(config);
  const supervisor = new Supervisor(config, { output, version: io.version });
  const stop = (signal: NodeJS.Signals) => void supervisor.stop(signal);
  // The config file is read again; what changed is logged line by line as it is applied.
  const reload = () => {
    output.event('info', null, null, 'SIGHUP: reloading the config');
    supervisor.reload().then(
      (result) => output.event('info', null, null, `reloaded ${result.replaced.length} instances`),
      (error: unknown) => output.event('error', null, null, `reload failed: ${describe(error)}`),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', reload);
  try {
    let status: SupervisorStatus;
    try {
      status = await supervisor.start();
    } catch (error) {
      await supervisor.stop();
      reportFailure(options, describe(error), io);
      return 1;
    }
    const summary = summarize(status);
    output.event('info', null, null, summary);
    if (options.detached) sendToParent({ warren: 'up', status });
    await supervisor.stopped;
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.off('SIGHUP', reload);
    await output.close?.();
  }
}

function reportFailure(options: UpOptions, message: string, io: UpIo): void {
  io.err(`warren up: ${message}\n`);
  if (options.detached) sendToParent({ warren: 'up-failed', message });
}

function sendToParent(message: DetachedMessage): void {
  if (typeof process.send !== 'function' || !process.connected) return;
  process.send(message, undefined, undefined, () => {
    // Told: the parent goes away now, and this process carries on alone.
    process.disconnect();
  });
}

/** Starts `warren up` again in the background and waits for its first status. */
async function detach(config: ResolvedConfig, io: UpIo): Promise<number> {
  const dir = await ensureSocketDir(config.socketDir);
  const logDir = config.logDir ?? dir;
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const outPath = join(logDir, 'supervisor.out');
  const out = openSync(outPath, 'a', 0o600);
  const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const args = [main, 'up', '--detached'];
  if (config.configPath !== null) args.push(config.configPath);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, args, {
      detached: true,
      stdio: ['ignore', out, out, 'ipc'],
      cwd: config.baseDir,
      // The background supervisor has no terminal: JSON logs.
      env: { ...process.env, WARREN_LOG_PRETTY: '0' },
    });
  } finally {
    closeSync(out);
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const outcome = await Promise.race([
    new Promise<DetachedMessage>((resolve) => child.once('message', (m) => resolve(m as DetachedMessage))),
    exited.then((code) => ({ warren: 'exited', code }) as const),
  ]);
  if (child.connected) child.disconnect();
  if (outcome.warren === 'up') {
    // It runs on: this process may exit without it.
    child.unref();
    io.out(`${summarize(outcome.status)}\nsupervisor pid ${child.pid} in the background; its log: ${outPath}\n`);
    const errored = outcome.status.services.flatMap((s) => s.instances).filter((i) => i.state === 'errored');
    if (errored.length > 0) {
      // The supervisor's reason for each (a name mismatch, no ready message in time, …), not just the name.
      const names = errored.map((i) => `${i.service}.${i.slot}${i.failure ? ` (${i.failure})` : ''}`).join(', ');
      io.err(
        `warren up: ${names} errored; the supervisor (pid ${child.pid}) is still running: see \`warren status\`, stop it with \`warren stop\`\n`,
      );
      return 1;
    }
    return 0;
  }
  // It could not start: return only once it is gone, so that a script's `warren up --detach ||
  // cleanup` never races a supervisor that is still stopping.
  const code = await exited;
  // It said why: that line is the message (the log holds it and nothing more useful).
  if (outcome.warren === 'up-failed') {
    io.err(`warren up: ${outcome.message}\n`);
    return 1;
  }
  io.err(`warren up: the background supervisor exited with code ${code}\n${tail(outPath)}`);
  return 1;
}

function tail(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n').slice(-10);
    return lines.length > 0 && lines[0] !== '' ? `last lines of ${path}:\n${lines.map((l) => `  ${l}`).join('\n')}\n` : '';
  } catch {
    return '';
  }
}

export function summarize(status: SupervisorStatus): string {
  const all = status.services.flatMap((s) => s.instances);
  const online = all.filter((i) => i.state === 'online').length;
  const parts = status.services.map((s) => {
    const up = s.instances.filter((i) => i.state === 'online').length;
    return `${s.name} ${up}/${s.instances.length}`;
  });
  return `${online} of ${all.length} instances online (${parts.join(', ')}); socket directory ${status.socketDir}`;
}

function describe(error: unknown): string {
  if (isWarrenError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
