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
 * Every error is one line on stderr, `warren up: CODE: message` (a config with several problems:
 * one such line per problem).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isWarrenError, type WarrenErrorCode } from '../errors.js';
import { isSocketAlive } from '../peer/transports/socket.js';
import { ensureSocketDir } from '../service/socket-dir.js';
import { loadConfig, type ResolvedConfig } from '../supervisor/config.js';
import { connectControl } from '../supervisor/control-client.js';
import { createSupervisorOutput } from '../supervisor/output.js';
import { CONTROL_SOCKET, type SupervisorStatus } from '../supervisor/protocol.js';
import { alreadyRunningError, Supervisor } from '../supervisor/supervisor.js';

export interface UpOptions {
  detach?: boolean;
  /** Internal: this process is the detached supervisor; report the start over IPC. */
  detached?: boolean;
  /** With detach: print the status once started as one JSON line instead of the summary. */
  json?: boolean;
  /** The socket directory was given on the command line (`--socket-dir`): messages name it so. */
  socketDirFrom?: '--socket-dir';
}

export interface UpIo {
  out: (text: string) => void;
  err: (text: string) => void;
  version: string;
  /** The name it was called by (`warren up`, `warren start`), for error lines; default `warren up`. */
  command?: string;
}

/** Message from a detached supervisor to the `warren up --detach` that started it. */
type DetachedMessage = { warren: 'up'; status: SupervisorStatus } | { warren: 'up-failed'; message: string };

export async function upCommand(configPath: string | undefined, options: UpOptions, io: UpIo): Promise<number> {
  const name = io.command ?? 'warren up';
  const fail = (error: unknown) => io.err(errorLines(name, error));
  let config: ResolvedConfig;
  try {
    const socketDirOption = options.socketDirFrom === '--socket-dir' ? process.env.WARREN_SOCKET_DIR : undefined;
    config = await loadConfig(configPath, socketDirOption ? { socketDirOption } : {});
  } catch (error) {
    fail(error);
    return 2;
  }
  // Refused before anything starts: a second supervisor would refuse too, but only after
  // logging its start and stop (into the running one's log, with --detach).
  if (!options.detached && (await isSocketAlive(join(config.socketDir, CONTROL_SOCKET)))) {
    const error = alreadyRunningError(config.socketDir);
    const other = await otherConfig(config.socketDir);
    io.err(line(name, error.code, other === undefined ? error.message : `${error.message}; it runs ${other}`));
    return 1;
  }
  if (options.detach) return detach(config, options, io);
  return foreground(config, options, io);
}

/** What the supervisor already running on `dir` runs, as it says in its status: `config <path> (pid N)`. */
async function otherConfig(dir: string): Promise<string | undefined> {
  try {
    const client = await connectControl(dir, { timeout: 2_000 });
    try {
      const status = await client.status();
      return `${status.configPath === null ? 'a config given in code' : `config ${status.configPath}`} (pid ${status.pid})`;
    } finally {
      await client.close();
    }
  } catch {
    return undefined;
  }
}

/** One error line, `warren up: CODE: message`. */
function line(command: string, code: WarrenErrorCode | (string & {}), message: string): string {
  return `${command}: ${code}: ${message.replace(/\s*\n\s*/g, ' ')}\n`;
}

/**
 * The error as lines of `warren up: CODE: message`: one line, or for a config with several
 * problems one line per problem (each naming the file and the key).
 */
export function errorLines(command: string, error: unknown): string {
  if (isWarrenError(error)) {
    const data = error.data as { issues?: { path: string; message: string }[]; file?: string } | undefined;
    if (error.code === 'WARREN_CONFIG' && data?.issues !== undefined && data.issues.length > 0) {
      const file = data.file === undefined ? '' : `${data.file}: `;
      // An issue without a key path names its file itself (`config file … does not exist`).
      return data.issues
        .map((issue) => line(command, error.code, issue.path === '' ? issue.message : `${file}${issue.path}: ${issue.message}`))
        .join('');
    }
    return line(command, error.code, error.message);
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return line(command, typeof code === 'string' ? code : 'ERROR', error instanceof Error ? error.message : String(error));
}

async function foreground(config: ResolvedConfig, options: UpOptions, io: UpIo): Promise<number> {
  let output: ReturnType<typeof createSupervisorOutput>;
  try {
    output = createSupervisorOutput(config);
  } catch (error) {
    // A log directory that cannot be written, pretty logs forced without pino-pretty: a config problem.
    io.err(`warren up: ${describe(error)}\n`);
    return 2;
  }
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
      reportFailure(options, error, io);
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

function reportFailure(options: UpOptions, error: unknown, io: UpIo): void {
  const text = errorLines(io.command ?? 'warren up', error);
  io.err(text);
  // The parent prints it under its own name: the line without the command.
  if (options.detached) sendToParent({ warren: 'up-failed', message: text.slice(text.indexOf(': ') + 2).trimEnd() });
}

function sendToParent(message: DetachedMessage): void {
  if (typeof process.send !== 'function' || !process.connected) return;
  process.send(message, undefined, undefined, () => {
    // Told: the parent goes away now, and this process carries on alone.
    process.disconnect();
  });
}

/** Starts `warren up` again in the background and waits for its first status. */
async function detach(config: ResolvedConfig, options: UpOptions, io: UpIo): Promise<number> {
  const name = io.command ?? 'warren up';
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
    if (options.json) io.out(`${JSON.stringify({ pid: child.pid, log: outPath, status: outcome.status })}\n`);
    else io.out(`${summarize(outcome.status)}\nsupervisor pid ${child.pid} in the background; its log: ${outPath}\n`);
    const errored = outcome.status.services.flatMap((s) => s.instances).filter((i) => i.state === 'errored');
    if (errored.length > 0) {
      // The supervisor's reason for each (a name mismatch, no ready message in time, …), not just the name.
      const names = errored.map((i) => `${i.service}.${i.slot}${i.failure ? ` (${i.failure})` : ''}`).join(', ');
      io.err(
        line(
          name,
          'WARREN_INSTANCE_ERRORED',
          `${names} errored; the supervisor (pid ${child.pid}) is still running: see \`warren status\`, stop it with \`warren stop\``,
        ),
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
    io.err(`${name}: ${outcome.message}\n`);
    return 1;
  }
  const last = lastLine(outPath);
  io.err(
    line(
      name,
      'WARREN_SPAWN',
      `the background supervisor exited with code ${code}${last === undefined ? '' : `; its last line: ${last}`} (its output: ${outPath})`,
    ),
  );
  return 1;
}

/** The last line of a file, at most 300 characters, or undefined. */
function lastLine(path: string): string | undefined {
  try {
    const last = readFileSync(path, 'utf8').trimEnd().split('\n').at(-1);
    return last === undefined || last === '' ? undefined : last.slice(0, 300);
  } catch {
    return undefined;
  }
}

export function summarize(status: SupervisorStatus): string {
  const all = status.services.flatMap((s) => s.instances);
  const online = all.filter((i) => i.state === 'online').length;
  const parts = status.services.map((s) => {
    const up = s.instances.filter((i) => i.state === 'online').length;
    const standbys = s.standby?.processes.length ?? 0;
    return `${s.name} ${up}/${s.instances.length}${standbys > 0 ? ` +${standbys} standby` : ''}`;
  });
  return `${online} of ${all.length} instances online (${parts.join(', ')}); socket directory ${status.socketDir}`;
}

/** `CODE: message` on one line, for the supervisor's log. */
function describe(error: unknown): string {
  const text = errorLines('warren up', error)
    .slice('warren up: '.length)
    .trimEnd()
    .replace(/\nwarren up: /g, '; ');
  // A config error is shown by its issues, not its message: keep a reload's refusal in front.
  const refused = isWarrenError(error) ? /^reload refused[^:]*: /.exec(error.message) : null;
  return refused !== null && !text.includes(refused[0]) ? text.replace(/^(\w+): /, `$1: ${refused[0]}`) : text;
}
