#!/usr/bin/env node
/**
 * The `warren` command: the protocol tools (`decode`), `call`, `up` (the supervisor) and the
 * commands that drive a running supervisor (`status`, `stop`, `start`, `scale`, `restart`,
 * `reload`, `logs`, `token rotate`), with the names PM2 users type (`start`, `ls`, `list`, `monit`).
 *
 * Only commander is loaded up front: each command imports its module when it runs, so that
 * `warren --version` and `warren status` do not pay for zod, pino, the router or msgpackr.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Argument, type Command, Command as CommanderCommand, CommanderError, Option } from 'commander';
import { positiveMs, wholeNumber } from './options.js';
import type { SupervisorCommandIo } from './supervisor-commands.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new CommanderCommand('warren')
  .description('Processes that talk over Unix domain sockets')
  .version(pkg.version, '-v, --version')
  // Once for every command, before or after the command's name (`warren --socket-dir D status`
  // and `warren status --socket-dir D` both work).
  .option(
    '--socket-dir <dir>',
    "socket directory (default: WARREN_SOCKET_DIR, else the project's, else $XDG_RUNTIME_DIR/warren; for up it overrides the config)",
  )
  // Each command's help lists it too.
  .configureHelp({ showGlobalOptions: true })
  .configureOutput({ outputError: errorWriter('warren') });

/**
 * Commander's own errors (a bad option value, a missing argument) in the one format of every
 * Warren error: `warren <command>: WARREN_INVALID_ARGUMENT: message`, one line.
 */
function errorWriter(name: string): (text: string, write: (text: string) => void) => void {
  return (text, write) => {
    const message = text
      .replace(/^error: /, '')
      .replace(/\s*\n\s*/g, ' ')
      .trim();
    write(`${name}: WARREN_INVALID_ARGUMENT: ${message}\n`);
  };
}

/** A subcommand whose usage errors are reported as `warren <name>: …` with exit code 2. */
function command(parent: Command, name: string, fullName = `warren ${name}`): Command {
  return parent
    .command(name)
    .exitOverride()
    .configureOutput({ outputError: errorWriter(fullName) });
}

/** The program-level `--socket-dir`, wherever it was given. */
function socketDirOption(): { socketDir?: string } {
  const { socketDir } = program.opts<{ socketDir?: string }>();
  return socketDir === undefined ? {} : { socketDir };
}

const out = (text: string) => void process.stdout.write(text);
const err = (text: string) => void process.stderr.write(text);

command(program, 'decode')
  .description('decode Warren frames from hex (argument or stdin) and print them as JSON lines')
  .argument('[hex]', 'frame bytes as hex; read from stdin when omitted')
  .option('--lenient', "skip bytes that are not frames and print them as junk, as on a child's stdout")
  .action(async (hex: string | undefined, options: { lenient?: boolean }) => {
    const { decodeFramesCommand } = await import('./decode.js');
    const input = hex ?? readFileSync(0, 'utf8');
    process.exitCode = decodeFramesCommand(input, options.lenient ?? false, (line) => out(`${line}\n`));
  });

command(program, 'call')
  .description('call a service by name and print its response; exit code 1 on a 4xx/5xx status, 2 on a usage or transport error')
  .argument('<service>', 'service name, e.g. users')
  .argument('<method>', 'GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS (any case)')
  .argument('<path>', 'path with an optional query string, e.g. /users/42?fields=name')
  .option('--data <json>', 'request body as JSON; @file reads it from a file, - from stdin')
  .option('-H, --header <name:value>', 'request header (repeatable)', (value: string, list: string[] = []) => [...list, value])
  .option('--timeout <ms>', 'give up after this many ms, retries included (default 30000)', positiveMs('--timeout'))
  .option('--json', 'print {"status","headers","body"} as one JSON line')
  .action(
    async (
      service: string,
      method: string,
      path: string,
      options: { data?: string; header?: string[]; timeout?: number; json?: boolean },
    ) => {
      const { callCommand } = await import('./call.js');
      const { header, ...rest } = options;
      process.exitCode = await callCommand(
        service,
        method,
        path,
        { ...rest, ...(header ? { headers: header } : {}), ...socketDirOption() },
        { out, err },
      );
    },
  );

// ---- commands that drive a running supervisor (supervisor-commands.ts) -------------------

/**
 * The io of a supervisor command. With `interruptible`, the first Ctrl-C (SIGINT) or a closed
 * stdout (EPIPE, e.g. `| head`) aborts `signal` and the command ends cleanly with exit code 0;
 * a second Ctrl-C kills as usual.
 */
function supervisorIo(interruptible = false): SupervisorCommandIo {
  const io: SupervisorCommandIo = { out, err, isTTY: process.stdout.isTTY === true };
  if (interruptible) {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      controller.abort();
    });
    io.signal = controller.signal;
  }
  return io;
}

interface UpCliOptions {
  detach?: boolean;
  detached?: boolean;
  json?: boolean;
  timeout?: number;
}

/** `warren up` (or `start` with no service) on the config given, or the current directory's. */
async function runUp(name: string, config: string | undefined, options: UpCliOptions): Promise<void> {
  // Through the environment, so a --detach child and the instances inherit it.
  const { socketDir } = socketDirOption();
  if (socketDir !== undefined) process.env.WARREN_SOCKET_DIR = resolve(socketDir);
  const { upCommand } = await import('./up.js');
  process.exitCode = await upCommand(
    config,
    {
      detach: options.detach === true,
      detached: options.detached === true,
      json: options.json === true,
      ...(socketDir === undefined ? {} : { socketDirFrom: '--socket-dir' as const }),
    },
    { out, err, version: pkg.version, command: `warren ${name}` },
  );
}

const detachOption = (cmd: Command) =>
  cmd
    .option('-d, --detach', 'run the supervisor in the background; return once every instance is online or errored')
    .addOption(new Option('--detached', 'internal: this process is the background supervisor started by --detach').hideHelp());

detachOption(
  command(program, 'up')
    .description(
      'start every service of a configuration, each instance its own process, and keep them running (Ctrl-C stops, SIGHUP reloads)',
    )
    .argument('[config]', 'config file or the directory that holds it (default: warren.config.{json,mjs,js,ts} in the current directory)'),
)
  .option('--json', 'with --detach: print the status once started as one JSON line')
  .action((config: string | undefined, options: UpCliOptions) => runUp('up', config, options));

// PM2's `start` is both: `warren start` alone starts the system like `up` in the current
// directory; `warren start <service>` starts one stopped service of the running supervisor.
detachOption(
  command(program, 'start')
    .description(
      'with a service: start its stopped (or errored) instances in the running supervisor and wait until each is online or errored; without: the same as up in the current directory (for PM2 users)',
    )
    .argument('[service]', 'service name (default: start the system, as up)'),
)
  .option(
    '--timeout <ms>',
    'with a service: give up waiting after this many ms (default: as long as it takes)',
    wholeNumber('--timeout', 1),
  )
  .option('--json', 'print the outcome as one JSON line')
  .action(async (service: string | undefined, options: UpCliOptions) => {
    if (service === undefined) return runUp('start', undefined, options);
    const { startCommand } = await import('./service-commands.js');
    const { timeout, json } = options;
    process.exitCode = await startCommand(
      service,
      { ...(timeout === undefined ? {} : { timeout }), ...(json === undefined ? {} : { json }), ...socketDirOption() },
      supervisorIo(),
    );
  });

command(program, 'hub')
  .description('run the WebSocket hub: the realtime section of the config (or the defaults) with the WS_* variables over it')
  .argument('[config]', "config file or directory (default: the current directory's, else none)")
  .action(async (config: string | undefined) => {
    const { hubCommand } = await import('./hub.js');
    process.exitCode = await hubCommand(config, socketDirOption(), { out, err });
  });

command(program, 'emit')
  .description('broadcast one event to a channel through the running hub (its hub.sock), or through NATS with --nats')
  .argument('<channel>', 'channel name, e.g. room:lobby, user.42, presence-shop')
  .argument('<event>', 'event name')
  .argument('[json]', 'the data, as JSON (default null)')
  .option('--timeout <ms>', 'give up after this many ms (default 5000)', positiveMs('--timeout'))
  .option('--nats', 'publish on NATS (NATS_URL, WS_NATS_PREFIX) to every hub of broadcast "nats", not through the local hub.sock')
  .action(async (channel: string, event: string, json: string | undefined, options: { timeout?: number; nats?: boolean }) => {
    const { emitCommand } = await import('./hub.js');
    process.exitCode = await emitCommand(channel, event, json, { ...options, ...socketDirOption() }, { out, err });
  });

command(program, 'gateway')
  .description(
    "serve every service's routes over HTTP, against the running system (what warren up runs when the config has a gateway section)",
  )
  .argument('[config]', 'config file or the directory that holds it, for its gateway section (default: as for up)')
  .action(async (config: string | undefined) => {
    const { gatewayCommand } = await import('./gateway.js');
    process.exitCode = await gatewayCommand(config, socketDirOption(), { err });
  });

command(program, 'init')
  .description('write a starter project (warren.config.json and a service) that runs under warren up; overwrites nothing')
  .argument('[dir]', 'directory to write into, created if missing (default: the current directory)')
  .action(async (dir: string | undefined) => {
    // Loaded only for this command: the others do not pay for it.
    const { initCommand } = await import('./init.js');
    process.exitCode = initCommand(dir, { out, err });
  });

interface StatusCliOptions {
  json?: boolean;
  watch?: boolean;
  interval?: number;
  check?: boolean;
  cluster?: boolean;
  wait?: number;
  natsUrl?: string;
}

/** `status` (aliases `ls`, `list`) and `monit` (status --watch). */
function defineStatus(name: string, description: string, watch: boolean, aliases: string[] = []): Command {
  const cmd = command(program, name)
    .aliases(aliases)
    .description(description)
    .option('--json', 'print the status as JSON (indented on a terminal, one line otherwise; one document per refresh when watching)');
  if (!watch) {
    cmd
      .option('-w, --watch', 'refresh until Ctrl-C: redrawn in place on a terminal, else tables one after another')
      .option('--check', 'health check: print one line, exit 0 only when every instance is online, else 1')
      .option('--cluster', 'every service and instance on every host that shares NATS (NATS_URL), from the NATS service API')
      .option('--wait <ms>', 'with --cluster: gather answers for this long (default 500)', wholeNumber('--wait', 1))
      .option('--nats-url <url>', 'with --cluster: the NATS server (default NATS_URL, else nats://127.0.0.1:4222)');
  }
  return cmd
    .option('--interval <ms>', 'refresh interval when watching (default 1000)', wholeNumber('--interval', 10))
    .action(async (options: StatusCliOptions) => {
      if (options.cluster) {
        const { clusterStatusCommand } = await import('./cluster-status.js');
        process.exitCode = await clusterStatusCommand(options, supervisorIo(), `warren ${name}`);
        return;
      }
      const { statusCommand } = await import('./supervisor-commands.js');
      const watching = watch || options.watch === true;
      // Errors name the command as typed: `warren ls: …` for `warren ls`.
      const typed = program.args.find((arg) => arg === name || aliases.includes(arg)) ?? name;
      process.exitCode = await statusCommand(
        { ...options, ...(watching ? { watch: true } : {}), ...socketDirOption() },
        supervisorIo(watching),
        `warren ${typed}`,
      );
    });
}

defineStatus(
  'status',
  'show every instance of every service of the running supervisor; exit code 1 when one is errored, 2 when no supervisor runs',
  false,
  ['ls', 'list'],
);
defineStatus('monit', 'the same as status --watch (for PM2 users): refresh every second until Ctrl-C', true);

command(program, 'stop')
  .description(
    'stop the running supervisor (its instances drain first) and wait until it is gone; with a service, stop only its instances (nothing running: exit code 0)',
  )
  .argument('[service]', 'service name: stop only its instances, the supervisor goes on (`warren start <service>` starts them again)')
  .option('--timeout <ms>', 'exit code 1 if it is still there after this many ms (default 30000)', wholeNumber('--timeout', 1))
  .option('--json', 'print {"stopped","pid","socketDir","ms"} (with a service {"service","stopped"}) as one JSON line')
  .action(async (service: string | undefined, options: { timeout?: number; json?: boolean }) => {
    const { stopCommand } = await import('./supervisor-commands.js');
    const target = service === undefined ? {} : { service };
    process.exitCode = await stopCommand({ ...options, ...target, ...socketDirOption() }, supervisorIo());
  });

command(program, 'scale')
  .description(
    "run this many instances of a service until the next reload (the config file is not changed; a reload applies the file's count)",
  )
  .argument('<service>', 'service name')
  .addArgument(new Argument('<instances>', 'number of instances, 1 to 256').argParser(wholeNumber('instances', 1)))
  .option('--timeout <ms>', 'give up waiting after this many ms (default: as long as it takes)', wholeNumber('--timeout', 1))
  .option('--json', 'print {"service","from","to","stopped"} as one JSON line')
  .action(async (service: string, instances: number, options: { timeout?: number; json?: boolean }) => {
    const { scaleCommand } = await import('./service-commands.js');
    process.exitCode = await scaleCommand(service, instances, { ...options, ...socketDirOption() }, supervisorIo());
  });

command(program, 'restart')
  .description('stop and start every instance of a service again (errored ones too); not zero-downtime, see reload')
  .argument('<service>', 'service name')
  .option('--timeout <ms>', 'give up waiting after this many ms (default: as long as it takes)', wholeNumber('--timeout', 1))
  .option('--json', 'print {"service","restarted","instances"} as one JSON line')
  .action(async (service: string, options: { timeout?: number; json?: boolean }) => {
    const { restartCommand } = await import('./supervisor-commands.js');
    process.exitCode = await restartCommand(service, { ...options, ...socketDirOption() }, supervisorIo());
  });

command(program, 'reload')
  .description(
    'read the config file again and apply it (services added and removed, instances scaled, changed settings by a rolling replace; unchanged: every instance replaced), for one service or all',
  )
  .argument('[service]', 'service name (default: every service)')
  .option('--timeout <ms>', 'give up waiting after this many ms (default: as long as it takes)', wholeNumber('--timeout', 1))
  .option('--json', 'print the supervisor\'s answer ({"replaced": [...]}) as one JSON line')
  .action(async (service: string | undefined, options: { timeout?: number; json?: boolean }) => {
    const { reloadCommand } = await import('./supervisor-commands.js');
    process.exitCode = await reloadCommand(service, { ...options, ...socketDirOption() }, supervisorIo());
  });

command(program, 'logs')
  .description("print the supervisor's recent log lines of one service or all, and with -f new ones until Ctrl-C")
  .argument('[service]', 'service name, or supervisor for its own lines (default: every service)')
  .option('-f, --follow', 'keep printing new lines until Ctrl-C (exit code 1 if the supervisor goes)')
  .option('-n, --lines <n>', 'recent lines first (default 100)', wholeNumber('--lines', 0))
  .option('--json', 'one JSON object per line: {"time","level","service","instance","stream","msg",...}')
  .action(async (service: string | undefined, options: { follow?: boolean; lines?: number; json?: boolean }) => {
    const { logsCommand } = await import('./supervisor-commands.js');
    process.exitCode = await logsCommand(service, { ...options, ...socketDirOption() }, supervisorIo(options.follow === true));
  });

const token = command(program, 'token').description("manage the socket directory's token");
command(token, 'rotate', 'warren token rotate')
  .description('write a new token; the previous one is accepted for --grace ms (through the supervisor when one runs)')
  .option('--grace <ms>', 'how long the previous token is still accepted (default 60000)', wholeNumber('--grace', 0))
  .option('--json', 'print {"tokenFile","supervisorPid","previousExpiresAt"} as one JSON line')
  .action(async (options: { grace?: number; json?: boolean }) => {
    const { tokenRotateCommand } = await import('./token-command.js');
    process.exitCode = await tokenRotateCommand({ ...options, ...socketDirOption() }, supervisorIo());
  });

program.exitOverride();
program.parseAsync().catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander has printed the message already (or the help, or the version).
    process.exitCode = error.exitCode === 0 ? 0 : 2;
    return;
  }
  // A failure no command turned into its own line: still one line, with a code.
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  err(`warren: ${typeof code === 'string' ? code : 'ERROR'}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exitCode = 1;
});
